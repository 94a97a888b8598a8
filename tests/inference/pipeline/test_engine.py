import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from queue import Queue

import pytest
import torch

from inference.pipeline.engine import Handle, ModelOutput, Pool, admit, collect_batch, pool_get
from inference.pipeline.preprocess.text import PreparedText
from inference.registry import ModelSpec
from portal.errors import ApiError


class LinearRunner:
    """y = 2x + 1, so answers are exact; records the batches it was given."""

    device = torch.device("cpu")
    dtype = torch.float32
    weight_bytes = 8
    running: list = []

    def __init__(self, release: threading.Event | None = None):
        self.model = torch.nn.Linear(1, 1)
        torch.nn.init.constant_(self.model.weight, 2.0)
        torch.nn.init.constant_(self.model.bias, 1.0)
        self.batches: list[int] = []
        self.release = release

    def reset(self) -> None:
        pass

    def step(self, batch: list[Handle]) -> None:
        if self.release is not None:
            self.release.wait(5)
        self.batches.append(len(batch))
        inputs = torch.stack([handle.prepared for handle in batch])
        for handle, value in zip(batch, self.model(inputs), strict=True):
            handle.finish(ModelOutput(vectors=((float(value),),)))


class FailingRunner(LinearRunner):
    def step(self, batch):
        if any(float(handle.prepared) < 0 for handle in batch):
            raise RuntimeError("negative input")
        super().step(batch)


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


@dataclass(frozen=True)
class Ticket:
    """A stand-in prepared input: just what admission control looks at."""

    kv_cache_bytes: int = 0
    tenant_id: int | None = None


def line(*tickets: Ticket) -> deque:
    return deque(Handle(prepared=ticket) for ticket in tickets)


def test_admission_keeps_the_kv_budget_and_never_lets_anyone_overtake():
    waiting = line(Ticket(40), Ticket(70), Ticket(5))
    joining = admit(waiting, free_slots=8, free_kv_bytes=100, tenant_id=None, dedicated=False)
    assert [h.prepared.kv_cache_bytes for h in joining] == [40]  # 5 would fit, but waits
    joining = admit(waiting, free_slots=8, free_kv_bytes=75, tenant_id=None, dedicated=False)
    assert [h.prepared.kv_cache_bytes for h in joining] == [70, 5]


def test_admission_fills_only_free_slots():
    waiting = line(*[Ticket()] * 5)
    assert len(admit(waiting, free_slots=3, free_kv_bytes=1, tenant_id=None, dedicated=False)) == 3


def test_a_dedicated_pool_never_mixes_tenants_in_a_batch():
    waiting = line(Ticket(tenant_id=1), Ticket(tenant_id=1), Ticket(tenant_id=2))
    first = admit(waiting, free_slots=8, free_kv_bytes=1e9, tenant_id=None, dedicated=True)
    assert [h.prepared.tenant_id for h in first] == [1, 1]
    assert admit(waiting, free_slots=8, free_kv_bytes=1e9, tenant_id=1, dedicated=True) == []
    assert len(admit(waiting, free_slots=8, free_kv_bytes=1e9, tenant_id=None, dedicated=True)) == 1


def test_a_shared_pool_batches_tenants_together():
    waiting = line(Ticket(tenant_id=1), Ticket(tenant_id=2))
    assert len(admit(waiting, free_slots=8, free_kv_bytes=1e9, tenant_id=1, dedicated=False)) == 2


class TenantRecordingRunner(LinearRunner):
    def step(self, batch):
        self.batches.append(sorted({h.prepared.tenant_id for h in batch}))
        for handle in batch:
            handle.finish(ModelOutput())


def test_dedicated_pool_runs_each_tenant_in_its_own_batches():
    runner = TenantRecordingRunner()
    pool = Pool(spec(max_batch_size=8, max_wait_ms=100, tenants=("a", "b")), runner)
    handles = [pool.submit(Ticket(tenant_id=t)) for t in (1, 2, 1, 2)]
    for handle in handles:
        handle.wait(5)
    assert all(len(tenants) == 1 for tenants in runner.batches)


def rss_bytes() -> int:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_does_not_grow_over_a_thousand_requests():
    pool = pool_get("tiny-chat")
    ids = pool.runner.tokenizer("The patient agreed to share the scan.")["input_ids"]

    def serve(count: int) -> None:
        for _ in range(0, count, 25):
            group = [generate(pool, ids, max_new_tokens=3 + i % 5) for i in range(25)]
            for handle in group:
                handle.wait(30)

    serve(100)
    after_100 = rss_bytes()
    serve(900)
    assert rss_bytes() <= after_100 * 1.05
    deadline = time.monotonic() + 5  # the worker cuts finished rows out just after finishing
    while pool.runner.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.runner.running == [] and pool.runner._cache is None
