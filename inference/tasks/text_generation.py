"""Text generation runner: continuous batching, one decode step at a time.

Between two steps, requests join (their prompts are prefilled together and their KV caches
merged into the running batch) and finished ones leave (their rows are cut out of the cache
at once, and their response completes). Each request keeps its own max_tokens, temperature,
seed and cancellation, and streams its tokens as they are produced. Rows are left-padded with
an attention mask and explicit position ids, so a request's greedy output is the same alone
or in a batch.

Invariant: the cache holds every token of every row except the row's pending token (chosen,
streamed, not yet fed back). Memory: rows that leave are copied out of the cache tensors;
with `scrub`, every buffer a request touched (cache, logits, ids, masks) is overwritten with
zeros before it is dropped.
"""

import time
from dataclasses import dataclass, field

import torch
from transformers import AutoModelForCausalLM

from inference.pipeline.engine import Handle, ModelOutput
from inference.pipeline.preprocess.text import PreparedText
from inference.registry import ModelSpec, model_tokenizer
from inference.tasks.base import Runner


@dataclass
class _Row:
    """One running request."""

    handle: Handle
    generator: torch.Generator | None
    started: float = field(default_factory=time.monotonic)
    generated: list[int] = field(default_factory=list)

    @property
    def prepared(self) -> PreparedText:
        return self.handle.prepared


class TextGenerationRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.scrub = spec.scrub
        self.tokenizer = model_tokenizer(spec)
        self.model = self.load(AutoModelForCausalLM, spec)
        self.eos_token_id = self.tokenizer.eos_token_id
        self.pad_token_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.eos_token_id
        )
        self.reset()

    @property
    def running(self) -> list[Handle]:
        return [row.handle for row in self._rows]

    def reset(self) -> None:
        """Forget the running batch (after a failure), releasing its buffers."""
        if getattr(self, "_cache", None) is not None:
            self._release(*self._cache_tensors(), self._mask, self._pending)
        self._rows: list[_Row] = []
        self._cache = None
        self._mask: torch.Tensor | None = None  # (rows, width): 1 where a token is cached
        self._pending: torch.Tensor | None = None  # (rows,): the token each row feeds next

    def step(self, joining: list[Handle]) -> None:
        if self._rows:
            self._decode()
        if joining:
            self._prefill(joining)

    def _decode(self) -> None:
        """Feed every row its pending token; choose the next one."""
        mask = torch.cat([self._mask, self._mask.new_ones((len(self._rows), 1))], dim=-1)
        self._release(self._mask)
        self._mask = mask
        out = self.model(
            input_ids=self._pending.unsqueeze(-1),
            attention_mask=mask,
            position_ids=mask.sum(-1, keepdim=True) - 1,
            cache=self._cache,
            use_cache=True,
        )
        self._advance(self._rows, out.logits[:, -1, :])
        self._release(out.logits)

    def _prefill(self, joining: list[Handle]) -> None:
        """Run the joining prompts together, then merge their rows into the batch."""
        input_ids, mask = self._left_pad([h.prepared.input_ids for h in joining])
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
            logits_to_keep=1,
        )
        rows = [_Row(handle=h, generator=self._generator(h.prepared)) for h in joining]
        running, self._rows = self._rows, rows
        previous = (self._cache, self._mask, self._pending)
        self._cache, self._mask = out.cache, mask
        self._pending = torch.zeros(len(rows), dtype=torch.long, device=self.device)
        self._advance(rows, out.logits[:, -1, :])
        self._release(out.logits, input_ids)
        if running:
            self._merge(running, *previous)

    def _advance(self, rows: list[_Row], logits: torch.Tensor) -> None:
        """Choose each row's next token, stream it, and cut out the rows that are done."""
        chosen = self._choose(logits, rows)
        token_ids = chosen.tolist()
        keep = []
        for index, (row, token_id) in enumerate(zip(rows, token_ids, strict=True)):
            reason = self._finish_reason(row, token_id)
            if reason is None:
                keep.append(index)
            else:
                row.handle.finish(self._output(row, reason))
        self._pending = chosen
        if len(keep) < len(rows):
            self._keep_rows(keep)

    def _finish_reason(self, row: _Row, token_id: int) -> str | None:
        if row.handle.cancelled.is_set():
            return "cancelled"
        if token_id == self.eos_token_id:
            return "stop"
        row.generated.append(token_id)
        if row.prepared.stream_tokens:
            row.handle.emit_token(token_id)
        if len(row.generated) >= row.prepared.max_new_tokens:
            return "length"
        return None

    def _output(self, row: _Row, reason: str) -> ModelOutput:
        return ModelOutput(
            token_ids=tuple(row.generated),
            finish_reason=reason,
            prompt_tokens=int(row.prepared.input_ids.numel()),
            queue_ms=row.handle.queue_ms,
            execute_ms=(time.monotonic() - row.started) * 1000,
        )

    def _keep_rows(self, keep: list[int]) -> None:
        """Cut finished rows out of every buffer, and drop columns no remaining row uses."""
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._release(*self._cache_tensors(), self._mask, self._pending)
            self._cache = self._mask = self._pending = None
            return
        index = torch.tensor(keep, device=self.device)
        mask = self._mask.index_select(0, index)
        first = int((mask.sum(0) > 0).nonzero()[0])
        for layer in self._cache.layers:
            keys, values = layer.keys, layer.values
            layer.keys = keys.index_select(0, index)[:, :, first:].contiguous()
            layer.values = values.index_select(0, index)[:, :, first:].contiguous()
            self._release(keys, values)
        pending = self._pending.index_select(0, index)
        self._release(self._mask, self._pending)
        self._mask, self._pending = mask[:, first:].contiguous(), pending

    def _merge(self, running: list[_Row], cache, mask, pending) -> None:
        """Put the running rows back before the joined ones, padding both to one width."""
        if not self._rows:  # every joining request finished in its first token
            self._rows, self._cache, self._mask, self._pending = running, cache, mask, pending
            return
        width = max(mask.shape[1], self._mask.shape[1])
        for old, new in zip(cache.layers, self._cache.layers, strict=True):
            keys, values = new.keys, new.values
            new.keys = torch.cat([_pad_left(old.keys, width), _pad_left(keys, width)])
            new.values = torch.cat([_pad_left(old.values, width), _pad_left(values, width)])
            self._release(old.keys, old.values, keys, values)
        merged_mask = torch.cat([_pad_left(mask, width), _pad_left(self._mask, width)])
        merged_pending = torch.cat([pending, self._pending])
        self._release(mask, self._mask, pending, self._pending)
        self._rows = running + self._rows
        self._mask, self._pending = merged_mask, merged_pending

    def _cache_tensors(self) -> list[torch.Tensor]:
        if self._cache is None:
            return []
        return [t for layer in self._cache.layers for t in (layer.keys, layer.values)]

    def _release(self, *tensors: torch.Tensor | None) -> None:
        """Hand buffers back; with scrub, overwrite them with zeros first."""
        if self.scrub:
            for tensor in tensors:
                if tensor is not None:
                    tensor.zero_()

    def _left_pad(self, sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(seq.numel() for seq in sequences)
        input_ids = torch.full(
            (len(sequences), width), self.pad_token_id, dtype=torch.long, device=self.device
        )
        mask = torch.zeros((len(sequences), width), dtype=torch.long, device=self.device)
        for row, seq in enumerate(sequences):
            input_ids[row, width - seq.numel() :] = seq
            mask[row, width - seq.numel() :] = 1
        return input_ids, mask

    def _generator(self, request: PreparedText) -> torch.Generator | None:
        if request.temperature == 0:
            return None
        generator = torch.Generator(device=self.device)
        if request.seed is None:
            generator.seed()
        else:
            generator.manual_seed(request.seed)
        return generator

    def _choose(self, logits: torch.Tensor, rows: list[_Row]) -> torch.Tensor:
        """Greedy for temperature 0, else seeded nucleus sampling, row by row."""
        chosen = logits.argmax(dim=-1)
        for index, row in enumerate(rows):
            if row.generator is None:
                continue
            probs = torch.softmax(logits[index].float() / row.prepared.temperature, dim=-1)
            if row.prepared.top_p < 1.0:
                probs = _nucleus(probs, row.prepared.top_p)
            chosen[index] = torch.multinomial(probs, 1, generator=row.generator)[0]
        return chosen


def _pad_left(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zeros on the left of the sequence dimension (the last for masks, -2 for KV)."""
    dim = -1 if tensor.dim() == 2 else -2
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches top_p."""
    sorted_probs, order = probs.sort(descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
    sorted_probs[outside] = 0
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)
