"""Image classification runner: one forward for the whole batch, softmax, each request's top k.

Every request is finished within its step, so nothing of it outlives the step.
"""

import time

import torch
from transformers import AutoModelForImageClassification

from inference.pipeline.engine import Handle, ModelOutput
from inference.registry import ModelSpec
from inference.tasks.base import Runner


class ImageClassificationRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.model = self.load(AutoModelForImageClassification, spec)
        self.labels = self.model.config.id2label

    def step(self, batch: list[Handle]) -> None:
        started = time.monotonic()
        pixels = torch.stack([h.prepared.pixel_values for h in batch])
        logits = self.model(pixel_values=pixels.to(self.device, self.dtype)).logits
        k = min(max(h.prepared.top_k for h in batch), logits.shape[-1])
        scores, indices = torch.softmax(logits.float(), dim=-1).topk(k, dim=-1)
        execute_ms = (time.monotonic() - started) * 1000
        for handle, row_scores, row_indices in zip(
            batch, scores.tolist(), indices.tolist(), strict=True
        ):
            top_k = handle.prepared.top_k
            handle.finish(
                ModelOutput(
                    labels=tuple(
                        (self.labels[i], s)
                        for i, s in zip(row_indices[:top_k], row_scores[:top_k], strict=True)
                    ),
                    queue_ms=handle.queue_ms,
                    execute_ms=execute_ms,
                )
            )
