import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, ViTForImageClassification

from inference.pipeline.engine import Handle
from inference.pipeline.preprocess.image import PreparedImage
from inference.registry import model_get
from inference.tasks.image_classification import ImageClassificationRunner


@pytest.fixture(scope="module")
def runner():
    return ImageClassificationRunner(model_get("tiny-vit"))


def pixels(colour: tuple[int, int, int]) -> torch.Tensor:
    processor = AutoImageProcessor.from_pretrained(
        model_get("tiny-vit").path, local_files_only=True
    )
    picture = Image.new("RGB", (50, 40), colour)
    return processor(images=picture, return_tensors="pt")["pixel_values"][0]


def classify(runner, *prepared) -> list:
    handles = [Handle(prepared=p) for p in prepared]
    with torch.inference_mode():
        runner.step(handles)
    return [h.wait(1).labels for h in handles]


def test_loads_a_vit_whose_image_processor_matches_its_input_size(runner):
    processor = AutoImageProcessor.from_pretrained(
        model_get("tiny-vit").path, local_files_only=True
    )
    assert isinstance(runner.model, ViTForImageClassification)
    assert processor.size == {"height": 32, "width": 32}
    assert runner.model.config.image_size == 32 and runner.weight_bytes > 0


def test_gives_k_labels_best_first_with_scores_summing_to_at_most_one(runner):
    labels = classify(runner, PreparedImage(pixel_values=pixels((200, 30, 30)), top_k=3))[0]
    scores = [score for _, score in labels]
    assert len(labels) == 3
    assert all(name in runner.model.config.id2label.values() for name, _ in labels)
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0


def test_each_request_of_a_batch_gets_its_own_top_k_and_its_own_scores(runner):
    red, blue = pixels((200, 30, 30)), pixels((30, 30, 200))
    alone = classify(runner, PreparedImage(pixel_values=blue, top_k=2))[0]
    batched = classify(
        runner, PreparedImage(pixel_values=red, top_k=20), PreparedImage(pixel_values=blue, top_k=2)
    )
    assert len(batched[0]) == 10  # every label there is, when more are asked for
    assert [name for name, _ in batched[1]] == [name for name, _ in alone]
    assert [s for _, s in batched[1]] == pytest.approx([s for _, s in alone], abs=1e-6)
