"""What the engine needs of every runner, written once.

A runner holds a model's weights on its device and computes a step for a list of handles.
Most tasks finish every request within the step they join (`running` stays empty); text
generation keeps requests running across steps and overrides `running` and `reset`.
"""

from abc import ABC, abstractmethod

import torch

from inference.pipeline.engine import Handle
from inference.registry import ModelSpec, model_device, model_dtype


def weight_bytes(*modules: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for m in modules for p in m.parameters())


class Runner(ABC):
    running: list[Handle] = []  # every request is finished within its step

    def __init__(self, spec: ModelSpec):
        self.device = model_device(spec)
        self.dtype = model_dtype(spec)
        self.weight_bytes = 0

    def load(self, auto_class, spec: ModelSpec):
        """The model through the library's own from_pretrained, offline, on this device."""
        model = auto_class.from_pretrained(spec.path, local_files_only=True, dtype=self.dtype)
        model = model.to(self.device).eval()
        self.weight_bytes = weight_bytes(model)
        return model

    def reset(self) -> None:  # noqa: B027 - a no-op default, overridden by text generation
        """Forget what a failed step left behind (nothing, for one-step tasks)."""

    @abstractmethod
    def step(self, batch: list[Handle]) -> None:
        """Compute one step for these newly admitted requests (and those already running)."""
