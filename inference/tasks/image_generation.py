"""Image generation runner: a diffusers pipeline denoises every image of a batch together.

Prompts arrive as token ids (stage 2 tokenized them); the runner pads each to the text encoder's
window, as diffusers pads a text prompt, so a request's image does not depend on who shares its
batch. Each request has its own CPU generator, used for each of its n images in turn: the same
seed gives the same images, alone or batched, on any device. Progress is reported after every
denoising step to every request being denoised.

Requests of one pipeline call must share size, step count and guidance scale (one latent
tensor, one timestep schedule). The engine hands over whatever arrived together, so a step
splits its batch into groups that agree and runs them one after another; nothing is left
waiting, because a runner without steps finishes everything it is given.
"""

import time
from itertools import groupby

import numpy as np
import torch
from diffusers import StableDiffusionPipeline

from inference.pipeline.engine import Handle, ModelOutput
from inference.registry import ModelSpec
from inference.tasks.base import Runner, weight_bytes


def _shape(handle: Handle) -> tuple:
    prepared = handle.prepared
    return (prepared.height, prepared.width, prepared.steps, prepared.guidance_scale)


class ImageGenerationRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.pipeline = StableDiffusionPipeline.from_pretrained(
            spec.path, local_files_only=True, dtype=self.dtype
        ).to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.weight_bytes = weight_bytes(
            *(c for c in self.pipeline.components.values() if isinstance(c, torch.nn.Module))
        )
        tokenizer = self.pipeline.tokenizer
        self.max_length = tokenizer.model_max_length
        self.pad_token_id = tokenizer.pad_token_id
        # the unconditional prompt of classifier-free guidance: a constant, not user data
        self._empty_ids = torch.tensor(tokenizer("")["input_ids"])

    def step(self, batch: list[Handle]) -> None:
        for _, group in groupby(sorted(batch, key=_shape), key=_shape):
            self._generate(list(group))

    def _generate(self, group: list[Handle]) -> None:
        """One pipeline call for every image of every request in the group."""
        started = time.monotonic()
        first = group[0].prepared
        counts = [h.prepared.n for h in group]
        prompts = self._encode([h.prepared.prompt_ids for h in group])
        negative = None
        if first.guidance_scale > 1:
            negative = self._encode([self._empty_ids]).expand(sum(counts), -1, -1)
        images = self.pipeline(
            prompt_embeds=prompts.repeat_interleave(torch.tensor(counts, device=prompts.device), 0),
            negative_prompt_embeds=negative,
            height=first.height,
            width=first.width,
            num_inference_steps=first.steps,
            guidance_scale=first.guidance_scale,
            generator=[g for h in group for g in [_generator(h.prepared.seed)] * h.prepared.n],
            output_type="np",
            callback_on_step_end=_progress(group),
        ).images
        pixels = (images * 255).round().astype(np.uint8)
        execute_ms = (time.monotonic() - started) * 1000
        offset = 0
        for handle, count in zip(group, counts, strict=True):
            handle.finish(self._output(handle, pixels[offset : offset + count], execute_ms))
            offset += count

    def _encode(self, prompts: list[torch.Tensor]) -> torch.Tensor:
        """Text encoder states of prompts padded (or cut) to its window, as diffusers does."""
        padded = torch.full(
            (len(prompts), self.max_length), self.pad_token_id, dtype=torch.long, device=self.device
        )
        for row, ids in enumerate(prompts):
            ids = ids.flatten()[: self.max_length]  # stage 1 refuses longer prompts
            padded[row, : ids.numel()] = ids
        return self.pipeline.text_encoder(padded)[0]

    def _output(self, handle: Handle, pixels: np.ndarray, execute_ms: float) -> ModelOutput:
        cancelled = handle.cancelled.is_set()
        return ModelOutput(
            images=() if cancelled else tuple(pixels),
            finish_reason="cancelled" if cancelled else "stop",
            queue_ms=handle.queue_ms,
            execute_ms=execute_ms,
        )


def _generator(seed: int | None) -> torch.Generator:
    generator = torch.Generator(device="cpu")
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _progress(group: list[Handle]):
    """A step-end callback: tell every request of the group; stop if all were cancelled."""

    def on_step_end(pipeline, step: int, timestep, tensors: dict) -> dict:
        for handle in group:
            handle.emit_progress(step + 1, pipeline.num_timesteps)
        if all(h.cancelled.is_set() for h in group):
            pipeline._interrupt = True  # diffusers' way to skip the remaining steps
        return tensors

    return on_step_end
