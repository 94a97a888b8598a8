"""Embeddings runner: mean-pooled, L2-normalised sentence vectors (all-MiniLM style)."""

import time

import torch
from transformers import AutoModel

from inference.pipeline.engine import Handle, ModelOutput
from inference.registry import ModelSpec, model_tokenizer
from inference.tasks.base import Runner


class EmbeddingsRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.tokenizer = model_tokenizer(spec)
        self.model = self.load(AutoModel, spec)
        self.pad_token_id = self.tokenizer.pad_token_id or 0

    def step(self, batch: list[Handle]) -> None:
        """All inputs of all requests in one forward pass, then split back per request."""
        started = time.monotonic()
        sequences = [seq for handle in batch for seq in handle.prepared.inputs]
        vectors = self._embed(sequences).tolist()
        execute_ms = (time.monotonic() - started) * 1000
        offset = 0
        for handle in batch:
            count = len(handle.prepared.inputs)
            handle.finish(
                ModelOutput(
                    vectors=tuple(tuple(v) for v in vectors[offset : offset + count]),
                    prompt_tokens=sum(seq.numel() for seq in handle.prepared.inputs),
                    queue_ms=handle.queue_ms,
                    execute_ms=execute_ms,
                )
            )
            offset += count

    def _embed(self, sequences: list[torch.Tensor]) -> torch.Tensor:
        width = max(seq.numel() for seq in sequences)
        input_ids = torch.full(
            (len(sequences), width), self.pad_token_id, dtype=torch.long, device=self.device
        )
        attention_mask = torch.zeros_like(input_ids)
        for row, seq in enumerate(sequences):
            input_ids[row, : seq.numel()] = seq
            attention_mask[row, : seq.numel()] = 1
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return torch.nn.functional.normalize(pooled.float(), p=2, dim=-1).cpu()
