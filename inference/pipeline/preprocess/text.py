"""Text preprocessing: token ids (from validation) as tensors on the model's device.

Padding happens in the runner, because only the batch knows how wide it is.
"""

from dataclasses import dataclass

import torch

from inference.pipeline.validate import ValidatedRequest
from inference.registry import model_device


@dataclass(frozen=True)
class PreparedText:
    """Stage 2's value for text generation."""

    input_ids: torch.Tensor  # 1-D, long, on the model's device
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stream_tokens: bool = True  # hand each token back as it is made (else only the output)
    tenant_id: int | None = None  # a pool dedicated to tenants batches them apart
    kv_cache_bytes: int = 0  # what admission control reserves for this request


@dataclass(frozen=True)
class PreparedImageGeneration:
    """Stage 2's value for image generation: the prompt in the text encoder's tokens."""

    prompt_ids: torch.Tensor  # (1, L) long, on the model's device
    n: int = 1
    height: int = 32
    width: int = 32
    steps: int = 4
    guidance_scale: float = 1.0
    seed: int | None = None
    tenant_id: int | None = None


@dataclass(frozen=True)
class PreparedEmbeddings:
    """Stage 2's value for embeddings: one id tensor per input."""

    inputs: tuple[torch.Tensor, ...]


def _ids_tensor(ids: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.long, device=device)


def preprocess_generation(request: ValidatedRequest) -> PreparedText:
    return PreparedText(
        input_ids=_ids_tensor(request.token_ids[0], model_device(request.model)),
        max_new_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        stream_tokens=request.stream or bool(request.stop),  # stop sequences are found in text
        tenant_id=request.caller.tenant.id,
        kv_cache_bytes=request.kv_cache_bytes,
    )


def preprocess_embeddings(request: ValidatedRequest) -> PreparedEmbeddings:
    device = model_device(request.model)
    return PreparedEmbeddings(inputs=tuple(_ids_tensor(ids, device) for ids in request.token_ids))


def preprocess_image_generation(request) -> PreparedImageGeneration:
    """The prompt's ids (checked in stage 1) on the pipeline's device."""
    return PreparedImageGeneration(
        prompt_ids=_ids_tensor(request.prompt_ids, model_device(request.model)).unsqueeze(0),
        n=request.n,
        height=request.height,
        width=request.width,
        steps=request.steps,
        seed=request.seed,
        tenant_id=request.caller.tenant.id,
    )
