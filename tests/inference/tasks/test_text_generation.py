import torch

from inference.pipeline.engine import Handle
from inference.pipeline.preprocess.text import PreparedText
from inference.registry import model_get
from inference.tasks.text_generation import TextGenerationRunner, _nucleus


def run(runner, *prepared) -> list:
    handles = [Handle(prepared=p) for p in prepared]
    with torch.inference_mode():
        runner.execute_batch(handles)
    return [h.wait(1) for h in handles]


def test_loads_the_built_model_from_local_files():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    assert runner.model.config.n_layer == 4
    assert runner.weight_bytes > 0
    assert runner.device.type in ("cpu", "cuda")


def test_tokens_are_streamed_as_produced_and_match_the_output():
    runner = TextGenerationRunner(model_get("tiny-chat"))
    handle = Handle(prepared=PreparedText(input_ids=torch.tensor([5, 6, 7]), max_new_tokens=6))
    with torch.inference_mode():
        runner.execute_batch([handle])
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
