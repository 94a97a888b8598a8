"""Image preprocessing: validated pictures become normalized float tensors on the model's device.

Resizing and normalization follow the model's own image processor settings (size, mean, std,
rescale factor), read from its preprocessor_config.json. The result must equal what the model's
transformers image processor (PIL backend) makes of the same picture: Pillow resizes, as there,
and the arithmetic after it runs on the device that will run the model.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from inference.pipeline.validate.image import ValidatedImage

# ViTImageProcessor's defaults, for settings a preprocessor_config.json leaves out.
VIT_DEFAULTS = {
    "do_resize": True,
    "size": {"height": 224, "width": 224},
    "resample": 2,  # PIL bilinear
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}
UNSUPPORTED = ("do_center_crop", "do_pad")  # other processors' steps; refused, not skipped


@dataclass(frozen=True)
class PreparedImage:
    """Stage 2's value for image classification."""

    pixel_values: torch.Tensor  # (3, H, W) float, normalized, on the model's device
    top_k: int = 5


@lru_cache(maxsize=32)
def image_processor_config(path: Path | str) -> dict:
    """The model folder's preprocessor_config.json, read from disk only, once (read-only)."""
    return json.loads((Path(path) / "preprocessor_config.json").read_text(encoding="utf-8"))


def _settings(processor: dict) -> dict:
    refused = [key for key in UNSUPPORTED if processor.get(key)]
    if refused:
        raise ValueError(f"Image processor steps not supported: {', '.join(refused)}.")
    return {**VIT_DEFAULTS, **processor}


def _target_size(width: int, height: int, size: int | dict) -> tuple[int, int]:
    """(width, height) after resizing, computed as transformers does."""
    if isinstance(size, int):  # older configs: a square side
        return size, size
    if "height" in size and "width" in size:
        return size["width"], size["height"]
    if "shortest_edge" in size:
        edge = size["shortest_edge"]
        longer = int(edge * max(width, height) / min(width, height))
        return (edge, longer) if width <= height else (longer, edge)
    raise ValueError(f"Image processor size not supported: {sorted(size)}.")


def preprocess_image(
    image: ValidatedImage, *, processor: dict, device: torch.device, top_k: int = 5
) -> PreparedImage:
    settings = _settings(processor)
    picture = image.image
    if settings["do_resize"]:
        size = _target_size(picture.width, picture.height, settings["size"])
        picture = picture.resize(size, resample=settings["resample"])
    pixels = torch.from_numpy(np.array(picture)).to(device)  # (H, W, 3) uint8
    values = pixels.permute(2, 0, 1).to(torch.float32)
    if settings["do_rescale"]:
        values = values * settings["rescale_factor"]
    if settings["do_normalize"]:
        mean = torch.tensor(settings["image_mean"], dtype=torch.float32, device=device)
        std = torch.tensor(settings["image_std"], dtype=torch.float32, device=device)
        values = (values - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)
    return PreparedImage(pixel_values=values.contiguous(), top_k=top_k)
