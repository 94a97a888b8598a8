import threading
from queue import Queue

import pytest
import torch

from inference.pipeline.engine import Handle, ModelOutput, Pool, collect_batch, pool_get
from inference.pipeline.preprocess.text import PreparedText
from inference.registry import ModelSpec
from portal.errors import ApiError


class LinearRunner:
    """y = 2x + 1, so answers are exact; records the batches it was given."""

    device = torch.device("cpu")
    dtype = torch.float32
    weight_bytes = 8

    def __init__(self, release: threading.Event | None = None):
        self.model = torch.nn.Linear(1, 1)
        torch.nn.init.constant_(self.model.weight, 2.0)
        torch.nn.init.constant_(self.model.bias, 1.0)
        self.batches: list[int] = []
        self.release = release

    def execute_batch(self, batch: list[Handle]) -> None:
        if self.release is not None:
            self.release.wait(5)
        self.batches.append(len(batch))
        inputs = torch.stack([handle.prepared for handle in batch])
        for handle, value in zip(batch, self.model(inputs), strict=True):
            handle.finish(ModelOutput(vectors=((float(value),),)))


class FailingRunner(LinearRunner):
    def execute_batch(self, batch):
        if any(float(handle.prepared) < 0 for handle in batch):
            raise RuntimeError("negative input")
        super().execute_batch(batch)


def spec(**fields) -> ModelSpec:
    return ModelSpec(name="linear", task="embeddings", path=None, pool="linear", **fields)


def test_collect_batch_takes_what_is_queued_up_to_the_limit():
    queue = Queue()
    for value in range(5):
        queue.put(Handle(prepared=value))
    batch = collect_batch(queue, max_size=3, max_wait_s=0.01)
    assert [handle.prepared for handle in batch] == [0, 1, 2]
    assert queue.qsize() == 2


def test_collect_batch_waits_no_longer_than_max_wait():
    queue = Queue()
    queue.put(Handle(prepared=1))
    assert len(collect_batch(queue, max_size=8, max_wait_s=0.01)) == 1


def test_request_cancelled_while_queued_never_reaches_the_model():
    release = threading.Event()
    runner = LinearRunner(release)
    pool = Pool(spec(max_batch_size=1, max_wait_ms=0), runner)
    first = pool.submit(torch.tensor([1.0]))
    queued = pool.submit(torch.tensor([2.0]))
    queued.cancel()
    release.set()
    assert first.wait(5).vectors[0][0] == 3.0
    assert queued.wait(5).finish_reason == "cancelled"
    assert runner.batches == [1]


def test_concurrent_requests_run_as_one_batch_and_answers_keep_their_order():
    release = threading.Event()
    runner = LinearRunner(release)
    pool = Pool(spec(max_batch_size=8, max_wait_ms=200), runner)
    handles = [pool.submit(torch.tensor([float(x)])) for x in (4, 5, 6)]
    release.set()
    assert [h.wait(5).vectors[0][0] for h in handles] == [9.0, 11.0, 13.0]
    assert runner.batches == [3]


def test_a_failing_batch_fails_only_its_requests():
    pool = Pool(spec(max_batch_size=1, max_wait_ms=0), FailingRunner())
    bad = pool.submit(torch.tensor([-1.0]))
    good = pool.submit(torch.tensor([1.0]))
    with pytest.raises(ApiError) as raised:
        bad.wait(5)
    assert raised.value.code == "internal_error"
    assert good.wait(5).vectors[0][0] == 3.0
    assert pool.info()["state"] == "ready"


def test_pool_reports_device_dtype_and_weights():
    info = Pool(spec(), LinearRunner()).info()
    assert (info["device"], info["dtype"], info["weight_bytes"]) == ("cpu", "float32", 8)


def generate(pool, prompt_ids, max_new_tokens=12, **params) -> Handle:
    prepared = PreparedText(
        input_ids=torch.tensor(prompt_ids, device=pool.device),
        max_new_tokens=max_new_tokens,
        **params,
    )
    return pool.submit(prepared)


def test_greedy_output_is_the_same_alone_or_in_a_batch():
    pool = pool_get("tiny-chat")
    tokenizer = pool.runner.tokenizer
    prompts = [
        tokenizer("Hello")["input_ids"],
        tokenizer("The patient agreed to share the scan with the clinic.")["input_ids"],
        tokenizer("Please delete my data")["input_ids"],
    ]
    alone = [generate(pool, ids).wait(30).token_ids for ids in prompts]
    together = [h.wait(30).token_ids for h in [generate(pool, ids) for ids in prompts]]
    assert together == alone


def test_each_request_keeps_its_own_max_tokens_in_a_batch():
    pool = pool_get("tiny-chat")
    ids = pool.runner.tokenizer("Hello")["input_ids"]
    short, long = generate(pool, ids, max_new_tokens=2), generate(pool, ids, max_new_tokens=9)
    assert len(short.wait(30).token_ids) == 2
    assert len(long.wait(30).token_ids) == 9


def test_seeded_sampling_repeats_and_differs_by_seed():
    pool = pool_get("tiny-chat")
    ids = pool.runner.tokenizer("Hello")["input_ids"]
    runs = [generate(pool, ids, temperature=1.0, seed=s).wait(30).token_ids for s in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_cancelled_request_stops_early():
    pool = pool_get("tiny-chat")
    ids = pool.runner.tokenizer("Hello")["input_ids"]
    handle = generate(pool, ids, max_new_tokens=400)
    handle.cancel()
    output = handle.wait(30)
    assert output.finish_reason == "cancelled"
    assert len(output.token_ids) < 400
