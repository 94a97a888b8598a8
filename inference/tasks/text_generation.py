"""Text generation runner: a decode loop over a left-padded batch with a shared KV cache.

The loop is written out (instead of calling `generate`) because each request in a batch keeps
its own max_tokens, temperature, seed and cancellation, and streams its tokens as they are
produced. Left padding with an attention mask and explicit position ids makes a request's
greedy output the same alone or in a batch.
"""

import time

import torch
from transformers import AutoModelForCausalLM

from inference.pipeline.engine import Handle, ModelOutput
from inference.pipeline.preprocess.text import PreparedText
from inference.registry import ModelSpec, model_device, model_dtype, model_tokenizer


class TextGenerationRunner:
    def __init__(self, spec: ModelSpec):
        self.device = model_device(spec)
        self.dtype = model_dtype(spec)
        self.tokenizer = model_tokenizer(spec)
        self.model = AutoModelForCausalLM.from_pretrained(
            spec.path, local_files_only=True, dtype=self.dtype
        ).to(self.device)
        self.model.eval()
        self.weight_bytes = sum(p.numel() * p.element_size() for p in self.model.parameters())
        self.eos_token_id = self.tokenizer.eos_token_id
        self.pad_token_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.eos_token_id
        )

    def execute_batch(self, batch: list[Handle]) -> None:
        started = time.monotonic()
        requests = [handle.prepared for handle in batch]
        input_ids, attention_mask = self._left_pad([r.input_ids for r in requests])
        generators = [self._generator(r) for r in requests]
        generated: list[list[int]] = [[] for _ in batch]
        finish: list[str | None] = [None] * len(batch)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        cache = None
        step_ids = input_ids
        for _ in range(max(r.max_new_tokens for r in requests)):
            out = self.model(
                input_ids=step_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            cache = out.cache
            next_ids = self._choose(out.logits[:, -1, :], requests, generators)
            for row, handle in enumerate(batch):
                if finish[row] is None:
                    finish[row] = self._advance(handle, generated[row], int(next_ids[row]))
            if all(reason is not None for reason in finish):
                break
            step_ids = next_ids.unsqueeze(-1)
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones((len(batch), 1))], dim=-1
            )
            position_ids = position_ids[:, -1:] + 1
        del cache, out
        execute_ms = (time.monotonic() - started) * 1000
        for row, handle in enumerate(batch):
            handle.finish(
                ModelOutput(
                    token_ids=tuple(generated[row]),
                    finish_reason=finish[row] or "length",
                    prompt_tokens=int(requests[row].input_ids.numel()),
                    queue_ms=(started - handle.submitted_at) * 1000,
                    execute_ms=execute_ms,
                )
            )

    def _advance(self, handle: Handle, generated: list[int], token_id: int) -> str | None:
        """Append one token to a request; the finish reason once it is done, else None."""
        if handle.cancelled.is_set():
            return "cancelled"
        if token_id == self.eos_token_id:
            return "stop"
        generated.append(token_id)
        handle.emit_token(token_id)
        if len(generated) >= handle.prepared.max_new_tokens:
            return "length"
        return None

    def _left_pad(self, sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(seq.numel() for seq in sequences)
        input_ids = torch.full(
            (len(sequences), width), self.pad_token_id, dtype=torch.long, device=self.device
        )
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long, device=self.device)
        for row, seq in enumerate(sequences):
            input_ids[row, width - seq.numel() :] = seq
            attention_mask[row, width - seq.numel() :] = 1
        return input_ids, attention_mask

    def _generator(self, request: PreparedText) -> torch.Generator | None:
        if request.temperature == 0:
            return None
        generator = torch.Generator(device=self.device)
        if request.seed is None:
            generator.seed()
        else:
            generator.manual_seed(request.seed)
        return generator

    def _choose(self, logits: torch.Tensor, requests, generators) -> torch.Tensor:
        """Greedy for temperature 0, else seeded nucleus sampling, row by row."""
        chosen = logits.argmax(dim=-1)
        for row, request in enumerate(requests):
            if generators[row] is None:
                continue
            probs = torch.softmax(logits[row].float() / request.temperature, dim=-1)
            if request.top_p < 1.0:
                probs = _nucleus(probs, request.top_p)
            chosen[row] = torch.multinomial(probs, 1, generator=generators[row])[0]
        return chosen


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches top_p."""
    sorted_probs, order = probs.sort(descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
    sorted_probs[outside] = 0
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)
