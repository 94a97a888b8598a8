import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

from inference.pipeline.preprocess.image import image_processor_config, preprocess_image
from inference.pipeline.validate.image import ValidatedImage

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
CONFIG = {
    "do_resize": True,
    "size": {"height": 24, "width": 32},
    "resample": 2,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}


def validated(width: int = 61, height: int = 45) -> ValidatedImage:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    return ValidatedImage(
        image=image, format="PNG", width=width, height=height, size_bytes=0, animated=False
    )


def transformers_pixels(image: ValidatedImage, config: dict) -> torch.Tensor:
    """What transformers' own ViT processor makes of the picture (its PIL backend, which
    ViTImageProcessor also picks when torchvision is absent)."""
    processor = ViTImageProcessorPil(**config)
    return processor(images=image.image, return_tensors="pt")["pixel_values"][0]


@pytest.mark.parametrize("device", DEVICES)
def test_the_tensor_has_the_configured_shape_dtype_and_device(device):
    prepared = preprocess_image(validated(), processor=CONFIG, device=torch.device(device))
    values = prepared.pixel_values
    assert (values.shape, values.dtype) == ((3, 24, 32), torch.float32)
    assert values.device.type == device
    assert values.is_contiguous()


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        {**CONFIG, "resample": 3, "size": {"height": 64, "width": 80}},
        {**CONFIG, "size": {"shortest_edge": 20}},
        {**CONFIG, "size": 30, "resample": 1},
        {**CONFIG, "do_resize": False, "do_normalize": False},
        {**CONFIG, "do_rescale": False},
    ],
    ids=["bilinear", "bicubic-up", "shortest-edge", "square-int", "no-resize", "no-rescale"],
)
def test_the_tensor_equals_transformers_vit_processor(config):
    image = validated()
    prepared = preprocess_image(image, processor=config, device=torch.device("cpu"))
    expected = transformers_pixels(image, config)
    assert prepared.pixel_values.shape == expected.shape
    torch.testing.assert_close(prepared.pixel_values, expected, rtol=0, atol=1e-5)


def test_missing_settings_take_vit_defaults():
    image = validated()
    prepared = preprocess_image(image, processor={}, device=torch.device("cpu"))
    assert prepared.pixel_values.shape == (3, 224, 224)
    torch.testing.assert_close(
        prepared.pixel_values, transformers_pixels(image, {}), atol=1e-5, rtol=0
    )


def test_shortest_edge_keeps_the_aspect_ratio():
    config = {**CONFIG, "size": {"shortest_edge": 20}}
    tall = preprocess_image(validated(30, 60), processor=config, device=torch.device("cpu"))
    assert tall.pixel_values.shape == (3, 40, 20)


def test_a_center_crop_setting_is_refused_rather_than_skipped():
    config = {**CONFIG, "do_center_crop": True, "crop_size": {"height": 8, "width": 8}}
    with pytest.raises(ValueError, match="do_center_crop"):
        preprocess_image(validated(), processor=config, device=torch.device("cpu"))


def test_top_k_is_carried_along():
    prepared = preprocess_image(validated(), processor=CONFIG, device=torch.device("cpu"), top_k=3)
    assert prepared.top_k == 3


def test_image_processor_config_reads_the_model_folder(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(CONFIG))
    assert image_processor_config(tmp_path) == CONFIG
