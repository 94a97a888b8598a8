import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from inference.pipeline.engine import Handle, ProgressEvent
from inference.pipeline.preprocess.text import PreparedImageGeneration
from inference.registry import model_get
from inference.tasks.image_generation import ImageGenerationRunner


@pytest.fixture(scope="module")
def runner():
    return ImageGenerationRunner(model_get("tiny-sd"))


def prompt(runner, text: str, **options) -> PreparedImageGeneration:
    """As stage 2 makes it: the tokenizer's ids, unpadded, in a (1, L) tensor."""
    ids = torch.tensor([runner.pipeline.tokenizer(text)["input_ids"]])
    return PreparedImageGeneration(prompt_ids=ids, **options)


def generate(runner, *prepared) -> list[list]:
    """Each handle's events: its progress, then its output."""
    handles = [Handle(prepared=p) for p in prepared]
    with torch.inference_mode():
        runner.step(handles)
    events = []
    for handle in handles:
        events.append([])
        while not handle._events.empty():
            events[-1].append(handle._events.get())
    return events


def images(runner, *prepared) -> list[tuple]:
    return [events[-1].images for events in generate(runner, *prepared)]


def test_loads_a_diffusers_pipeline_whose_tokenizer_fits_its_text_encoder():
    path = model_get("tiny-sd").path
    pipeline = StableDiffusionPipeline.from_pretrained(path, local_files_only=True)
    text = pipeline.text_encoder.config
    assert pipeline.tokenizer.model_max_length == text.max_position_embeddings == 77
    assert len(pipeline.tokenizer) == text.vocab_size
    assert pipeline.unet.config.sample_size * pipeline.vae_scale_factor == 32


def test_makes_n_images_of_32x32_and_reports_each_step_to_each_request(runner):
    first, second = generate(
        runner, prompt(runner, "A lighthouse", n=2, seed=1), prompt(runner, "A cat", seed=2)
    )
    for events in (first, second):
        assert [(e.step, e.total) for e in events[:-1]] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert all(isinstance(e, ProgressEvent) for e in events[:-1])
    assert len(first[-1].images) == 2 and len(second[-1].images) == 1
    assert all(i.shape == (32, 32, 3) and i.dtype == np.uint8 for i in first[-1].images)


def test_the_same_seed_gives_the_same_image_and_another_seed_another(runner):
    one, again, other = (
        images(runner, prompt(runner, "A lighthouse", seed=s))[0] for s in (7, 7, 8)
    )
    assert (one[0] == again[0]).all()
    assert (one[0] != other[0]).any()


def test_a_requests_images_do_not_depend_on_its_batch(runner):
    alone = images(runner, prompt(runner, "A lighthouse", n=2, seed=3))[0]
    batched = images(
        runner,
        prompt(runner, "a red cat on a mat", n=1, seed=4),
        prompt(runner, "A lighthouse", n=2, seed=3),
    )[1]
    assert all((a == b).all() for a, b in zip(alone, batched, strict=True))


def test_unpadded_ids_give_what_diffusers_makes_from_the_prompt_text(runner):
    ours = images(runner, prompt(runner, "A lighthouse", seed=5, guidance_scale=3.0))[0][0]
    theirs = runner.pipeline(
        "A lighthouse",
        height=32,
        width=32,
        num_inference_steps=4,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(5),
        output_type="np",
    ).images[0]
    assert (ours == (theirs * 255).round().astype(np.uint8)).all()


def test_requests_with_other_step_counts_run_in_their_own_group(runner):
    two, four = generate(
        runner, prompt(runner, "A lighthouse", steps=2, seed=1), prompt(runner, "A cat", seed=1)
    )
    assert [e.total for e in two[:-1]] == [2, 2] and [e.total for e in four[:-1]] == [4] * 4
    assert (
        two[-1].images[0] == images(runner, prompt(runner, "A lighthouse", steps=2, seed=1))[0][0]
    ).all()


def test_a_batch_whose_requests_were_all_cancelled_stops_after_the_current_step(runner):
    handles = [Handle(prepared=prompt(runner, "A lighthouse", seed=s)) for s in (1, 2)]
    for handle in handles:
        handle.cancel()
    with torch.inference_mode():
        runner.step(handles)
    for handle in handles:
        events = [handle._events.get() for _ in range(handle._events.qsize())]
        assert [e.step for e in events[:-1]] == [1]
        assert events[-1].finish_reason == "cancelled" and events[-1].images == ()
