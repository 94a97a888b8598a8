"""Stage 1 for image and audio requests: the model, the file, the parameters.

The file checks themselves are in image.py and audio.py; this module ties them to a model of
the right task, the caller's tenant and the limits in the settings, and checks the prompt of
an image generation request like any other text (policy, token budget).
"""

import json
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from transformers import AutoTokenizer

from compliance.models import TenantPolicy
from compliance.services.content_policy import content_policy_check
from inference.pipeline.validate import Caller, Checked, check_tenant, check_texts
from inference.pipeline.validate.audio import ValidatedAudio, validate_audio
from inference.pipeline.validate.image import ValidatedImage, validate_image
from inference.registry import ModelSpec, model_available, model_get
from portal.errors import ApiError

MAX_TOP_K = 20
MAX_IMAGES = 4
MAX_STEPS = 50


@dataclass(frozen=True)
class FilePayload:
    """An uploaded file for a model, as the API layer received it."""

    model: str
    data: bytes
    declared_type: str | None = None
    top_k: int = 5


@dataclass(frozen=True)
class ImageGenerationPayload:
    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    steps: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class ValidatedImageRequest(Checked):
    caller: Caller
    model: ModelSpec
    image: ValidatedImage
    top_k: int


@dataclass(frozen=True)
class ValidatedAudioRequest(Checked):
    caller: Caller
    model: ModelSpec
    audio: ValidatedAudio


@dataclass(frozen=True)
class ValidatedImageGeneration(Checked):
    caller: Caller
    model: ModelSpec
    prompt_ids: tuple[int, ...]
    n: int
    height: int
    width: int
    steps: int
    seed: int | None

    @property
    def deterministic(self) -> bool:
        return self.seed is not None


def _model(caller: Caller, name: str, task: str) -> tuple[ModelSpec, TenantPolicy]:
    spec = model_available(model_get(name, task=task, tenant_slug=caller.tenant.slug))
    return spec, check_tenant(caller, spec)


def validate_image_classification(*, caller: Caller, payload: FilePayload) -> ValidatedImageRequest:
    spec, policy = _model(caller, payload.model, "image-classification")
    if not 1 <= payload.top_k <= MAX_TOP_K:
        raise ApiError("invalid_request", f"top_k must be 1 to {MAX_TOP_K}.", param="top_k")
    image = validate_image(
        payload.data,
        declared_type=payload.declared_type,
        max_bytes=settings.MAX_IMAGE_BYTES,
        max_pixels=settings.MAX_IMAGE_PIXELS,
    )
    return ValidatedImageRequest(
        caller=caller, model=spec, image=image, top_k=payload.top_k, policy=policy
    )


def _validate_audio(caller: Caller, payload: FilePayload, task: str) -> ValidatedAudioRequest:
    spec, policy = _model(caller, payload.model, task)
    audio = validate_audio(
        payload.data,
        declared_type=payload.declared_type,
        max_bytes=settings.MAX_AUDIO_BYTES,
        max_duration_s=settings.MAX_AUDIO_SECONDS,
    )
    return ValidatedAudioRequest(caller=caller, model=spec, audio=audio, policy=policy)


def validate_transcription(*, caller: Caller, payload: FilePayload) -> ValidatedAudioRequest:
    return _validate_audio(caller, payload, "transcription")


def validate_speech_detection(*, caller: Caller, payload: FilePayload) -> ValidatedAudioRequest:
    return _validate_audio(caller, payload, "speech-detection")


@lru_cache(maxsize=8)
def pipeline_tokenizer(spec: ModelSpec):
    """The text encoder's tokenizer of a diffusers pipeline (its `tokenizer` subfolder)."""
    return AutoTokenizer.from_pretrained(spec.path, subfolder="tokenizer", local_files_only=True)


@lru_cache(maxsize=8)
def native_size(spec: ModelSpec) -> int:
    """The image side the pipeline was built for: UNet sample size times the VAE's scale."""
    unet = json.loads((spec.path / "unet" / "config.json").read_text())
    vae = json.loads((spec.path / "vae" / "config.json").read_text())
    return unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)


def validate_image_generation(
    *, caller: Caller, payload: ImageGenerationPayload
) -> ValidatedImageGeneration:
    spec, policy = _model(caller, payload.model, "image-generation")
    check_texts([payload.prompt], param="prompt")
    if not 1 <= payload.n <= MAX_IMAGES:
        raise ApiError("invalid_request", f"n must be 1 to {MAX_IMAGES}.", param="n")
    side = native_size(spec)
    if payload.size not in (None, f"{side}x{side}"):
        raise ApiError(
            "invalid_request", f"This model makes {side}x{side} images only.", param="size"
        )
    steps = payload.steps or 4
    if not 1 <= steps <= MAX_STEPS:
        raise ApiError("invalid_request", f"steps must be 1 to {MAX_STEPS}.", param="steps")
    verdict = content_policy_check(policy=policy, texts=[payload.prompt])
    tokenizer = pipeline_tokenizer(spec)
    ids = tokenizer(payload.prompt, truncation=False)["input_ids"]
    if len(ids) > tokenizer.model_max_length:
        raise ApiError(
            "context_length_exceeded",
            f"The prompt has {len(ids)} tokens; this model reads at most "
            f"{tokenizer.model_max_length}.",
            param="prompt",
        )
    return ValidatedImageGeneration(
        caller=caller,
        model=spec,
        prompt_ids=tuple(ids),
        n=payload.n,
        height=side,
        width=side,
        steps=steps,
        seed=payload.seed,
        policy=policy,
        sensitive=verdict.sensitive,
    )
