"""Image preprocessing: validated pictures become normalized float tensors on the model's device.

Resizing and normalization follow the model's own image processor settings (size, mean, std,
rescale factor), read from its preprocessor_config.json.
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PreparedImage:
    """Stage 2's value for image classification."""

    pixel_values: torch.Tensor  # (3, H, W) float, normalized, on the model's device
    top_k: int = 5
