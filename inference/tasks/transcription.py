"""Transcription runner: Whisper's generate over the whole batch, greedy, one call per step.

Greedy decoding makes a row's tokens a prefix of what a longer limit would give, so the batch
is decoded to its largest max_new_tokens and each request cut to its own. The transcript is
the text tokens up to the end-of-text token; Whisper's prompt and other special tokens are
dropped here so that delivery only decodes.
"""

import time

import torch
from transformers import AutoModelForSpeechSeq2Seq

from inference.pipeline.engine import Handle, ModelOutput
from inference.registry import ModelSpec, model_tokenizer
from inference.tasks.base import Runner


class TranscriptionRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.model = self.load(AutoModelForSpeechSeq2Seq, spec)
        self.eos_token_id = self.model.generation_config.eos_token_id
        self.special_ids = frozenset(model_tokenizer(spec).all_special_ids)

    running: list[Handle] = []  # every request is finished within its step

    def reset(self) -> None:
        pass

    def step(self, batch: list[Handle]) -> None:
        started = time.monotonic()
        features = torch.stack([h.prepared.features for h in batch]).to(self.device, self.dtype)
        # NOTE: Whisper's generate counts max_length in new tokens after its prompt; with
        # max_new_tokens, transformers logs a warning on every call.
        sequences = self.model.generate(
            input_features=features, max_length=max(h.prepared.max_new_tokens for h in batch)
        )
        execute_ms = (time.monotonic() - started) * 1000
        for handle, row in zip(batch, sequences.tolist(), strict=True):
            handle.finish(self._output(handle, row, execute_ms))

    def _output(self, handle: Handle, row: list[int], execute_ms: float) -> ModelOutput:
        row = row[: handle.prepared.max_new_tokens]
        stopped = self.eos_token_id in row
        if stopped:
            row = row[: row.index(self.eos_token_id)]
        return ModelOutput(
            token_ids=tuple(t for t in row if t not in self.special_ids),
            finish_reason="stop" if stopped else "length",
            queue_ms=handle.queue_ms,
            execute_ms=execute_ms,
        )
