from dataclasses import replace

import torch

from inference.pipeline.engine import Handle
from inference.pipeline.preprocess.text import PreparedText
from inference.registry import model_get
from inference.tasks.text_generation import TextGenerationRunner, _nucleus


def run_to_end(runner, handles: list[Handle]) -> None:
    with torch.inference_mode():
        runner.step(handles)
        while runner.running:
            runner.step([])


def run(runner, *prepared) -> list:
    handles = [Handle(prepared=p) for p in prepared]
    run_to_end(runner, handles)
    return [h.wait(1) for h in handles]


def test_loads_the_built_model_from_local_files():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    assert runner.model.config.n_layer == 4
    assert runner.weight_bytes > 0
    assert runner.device.type in ("cpu", "cuda")


def test_tokens_are_streamed_as_produced_and_match_the_output():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    handle = Handle(prepared=PreparedText(input_ids=torch.tensor([5, 6, 7]), max_new_tokens=6))
    run_to_end(runner, [handle])
    events = []
    while not handle._events.empty():
        events.append(handle._events.get())
    streamed = [event.token_id for event in events[:-1]]
    assert tuple(streamed) == events[-1].token_ids
    assert events[-1].prompt_tokens == 3


def test_end_of_sequence_finishes_a_request_with_stop():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    original = runner.eos_token_id
    first = run(runner, PreparedText(input_ids=torch.tensor([5, 6]), max_new_tokens=3))[0]
    runner.eos_token_id = first.token_ids[0]  # pretend the first token ends the sequence
    output = run(runner, PreparedText(input_ids=torch.tensor([5, 6]), max_new_tokens=3))[0]
    runner.eos_token_id = original
    assert output.finish_reason == "stop" and output.token_ids == ()


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = _nucleus(probs.clone(), 0.7)
    assert kept.tolist() == [0.5, 0.30000001192092896, 0.0, 0.0]


def greedy(ids, max_new_tokens) -> PreparedText:
    return PreparedText(input_ids=torch.tensor(ids), max_new_tokens=max_new_tokens)


def outputs(handles) -> list[tuple[int, ...]]:
    return [h.wait(1).token_ids for h in handles]


def test_a_request_joins_a_running_batch_at_the_next_step():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    first, second = greedy([5, 6, 7, 8], 10), greedy([9, 10], 6)
    alone = [run(runner, first)[0].token_ids, run(runner, second)[0].token_ids]
    a, b = Handle(prepared=first), Handle(prepared=second)
    with torch.inference_mode():
        runner.step([a])
        runner.step([])
        runner.step([b])  # b joins while a is mid-generation
        assert runner.running == [a, b]
    run_to_end(runner, [])
    assert outputs([a, b]) == alone


def test_a_finished_request_leaves_at_once_and_frees_its_rows():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    short, long = Handle(prepared=greedy([5, 6], 2)), Handle(prepared=greedy([7, 8, 9], 9))
    with torch.inference_mode():
        runner.step([short, long])
        runner.step([])
    assert short.wait(1).finish_reason == "length"  # complete while long still runs
    assert runner.running == [long]
    assert all(t.shape[0] == 1 for t in runner._cache_tensors())
    run_to_end(runner, [])
    assert len(long.wait(1).token_ids) == 9
    assert runner._cache is None and runner._mask is None


def released_by(runner, handles) -> list[torch.Tensor]:
    released = []
    original = runner._release

    def spy(*tensors):
        original(*tensors)
        released.extend(t for t in tensors if t is not None)

    runner._release = spy
    run_to_end(runner, handles)
    return released


def test_scrub_overwrites_every_released_buffer_with_zeros():
    runner = TextGenerationRunner(replace(model_get("tiny-chat"), scrub=True))
    handles = [Handle(prepared=greedy([5, 6, 7], n)) for n in (2, 5, 8)]
    released = released_by(runner, handles)
    kv = [t for t in released if t.dim() == 4]
    assert len(kv) >= 2 * runner.model.config.n_layer  # the KV cache was among them
    assert any(t.dim() == 3 and t.dtype.is_floating_point for t in released)  # logits too
    assert all(int(t.count_nonzero()) == 0 for t in released)


def test_without_scrub_buffers_are_released_as_they_are():
    runner = TextGenerationRunner(replace(model_get("tiny-chat"), scrub=False))
    released = released_by(runner, [Handle(prepared=greedy([5, 6, 7], 3))])
    assert any(int(t.count_nonzero()) > 0 for t in released if t.dim() == 4)
