"""Stage 1, validate: nothing reaches a model that this stage has not accepted.

This module holds the stage's shared types and the checks of text; image.py and audio.py
check media files before any of their pixels or samples are decoded.

Checks, in order, cheapest first: the model exists and serves the task; the tenant may be
served in the pool's region and asked for no storage it forbids; the text is present,
well-formed and within the character limit; the tenant's content policy (blocklists, patterns,
PII); the token budget against the model's context. The tokenizer runs here, once, because
the token budget is a validation rule; preprocessing reuses the ids. Errors describe the
problem, never the text.
"""

from dataclasses import dataclass

from django.conf import settings

from compliance.models import TenantPolicy
from compliance.services.content_policy import content_policy_check
from compliance.services.policy import (
    residency_check,
    retention_conflict_check,
    tenant_policy_get,
)
from inference.registry import (
    ModelSpec,
    model_context_length,
    model_get,
    model_kv_cache_bytes_per_token,
    model_tokenizer,
)
from portal.errors import ApiError
from portal.models import Tenant

MAX_STOP_SEQUENCES = 4
MAX_EMBEDDING_INPUTS = 256


@dataclass(frozen=True)
class Caller:
    """Who is asking, on whose behalf, through which door."""

    request_id: str
    user_id: int
    tenant: Tenant
    subject_reference: str
    endpoint: str
    request_bytes: int = 0
    subject: str = ""  # the pseudonym, when already known (a job resumed by a worker)
    store: bool | None = None  # the caller's `store`; None: not said


@dataclass(frozen=True, kw_only=True)
class Checked:
    """What stage 1 found out about the tenant and the content, carried to stages 4-5: the
    tenant's policy, and whether the input held anything sensitive (never cached or
    archived)."""

    policy: TenantPolicy
    sensitive: bool = False

    @property
    def deterministic(self) -> bool:
        """Does the same request always give the same output (so it may be cached)?"""
        return True


@dataclass(frozen=True)
class GenerationPayload:
    """A text generation request after the API layer has checked its JSON shape."""

    model: str
    prompt: str | None = None
    messages: tuple[dict, ...] = ()
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False


@dataclass(frozen=True)
class EmbeddingsPayload:
    model: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class ValidatedRequest(Checked):
    caller: Caller
    model: ModelSpec
    token_ids: tuple[tuple[int, ...], ...]  # one sequence for generation, one per input else
    max_tokens: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    kv_cache_bytes: int = 0

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0 or self.seed is not None

    @property
    def prompt_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)


def check_tenant(caller: Caller, spec: ModelSpec) -> TenantPolicy:
    """Residency and retention: may this tenant be served by this model's pool at all?"""
    policy = tenant_policy_get(tenant_id=caller.tenant.id)
    residency_check(policy=policy, region=spec.region)
    retention_conflict_check(policy=policy, store=caller.store)
    return policy


def _texts_of_messages(messages: tuple[dict, ...]) -> list[str]:
    return [message["content"] for message in messages]


def check_texts(texts: list[str], *, param: str) -> None:
    if not texts or not any(text.strip() for text in texts):
        raise ApiError("invalid_request", "The prompt is empty.", param=param)
    if sum(len(text) for text in texts) > settings.INFERENCE_MAX_PROMPT_CHARS:
        raise ApiError(
            "context_length_exceeded",
            f"The input is longer than {settings.INFERENCE_MAX_PROMPT_CHARS} characters.",
            param=param,
        )
    for text in texts:
        if "\x00" in text:
            raise ApiError("invalid_text", "The text contains a NUL character.", param=param)


def _prompt_ids(spec: ModelSpec, payload: GenerationPayload) -> tuple[int, ...]:
    tokenizer = model_tokenizer(spec)
    if payload.prompt is not None:
        return tuple(tokenizer(payload.prompt, add_special_tokens=False)["input_ids"])
    if not tokenizer.chat_template:
        raise ApiError(
            "invalid_request",
            f"Model '{spec.name}' has no chat template; use /v1/completions.",
            param="model",
        )
    text = tokenizer.apply_chat_template(
        list(payload.messages), tokenize=False, add_generation_prompt=True
    )
    return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])


def _check_capacity(spec: ModelSpec, kv_cache_bytes: int) -> None:
    """A request whose KV cache alone exceeds the pool's budget could never be admitted."""
    budget = spec.kv_cache_budget_mb * 2**20
    if budget and kv_cache_bytes > budget:
        raise ApiError(
            "capacity_exceeded",
            f"This request needs {kv_cache_bytes / 2**20:.1f} MiB of KV cache; the pool of "
            f"'{spec.name}' has {spec.kv_cache_budget_mb} MiB. Ask for fewer tokens.",
            param="max_tokens",
        )


def validate_generation(*, caller: Caller, payload: GenerationPayload) -> ValidatedRequest:
    spec = model_get(payload.model, task="text-generation", tenant_slug=caller.tenant.slug)
    policy = check_tenant(caller, spec)
    param = "prompt" if payload.prompt is not None else "messages"
    texts = [payload.prompt] if payload.prompt is not None else _texts_of_messages(payload.messages)
    check_texts(texts, param=param)
    if len(payload.stop) > MAX_STOP_SEQUENCES or not all(payload.stop):
        raise ApiError(
            "invalid_request",
            f"Give at most {MAX_STOP_SEQUENCES} non-empty stop sequences.",
            param="stop",
        )
    verdict = content_policy_check(policy=policy, texts=texts)
    prompt_ids = _prompt_ids(spec, payload)
    context = model_context_length(spec)
    if len(prompt_ids) >= context:
        raise ApiError(
            "context_length_exceeded",
            f"This model's context is {context} tokens; the prompt has {len(prompt_ids)}.",
            param=param,
        )
    max_tokens = payload.max_tokens or min(
        settings.INFERENCE_DEFAULT_MAX_TOKENS, context - len(prompt_ids)
    )
    if len(prompt_ids) + max_tokens > context:
        raise ApiError(
            "context_length_exceeded",
            f"This model's context is {context} tokens; the prompt has {len(prompt_ids)} and "
            f"{max_tokens} more were asked for.",
            param="max_tokens",
        )
    kv_cache_bytes = (len(prompt_ids) + max_tokens) * model_kv_cache_bytes_per_token(spec)
    _check_capacity(spec, kv_cache_bytes)
    return ValidatedRequest(
        caller=caller,
        model=spec,
        token_ids=(prompt_ids,),
        max_tokens=max_tokens,
        temperature=payload.temperature,
        top_p=payload.top_p,
        seed=payload.seed,
        stop=payload.stop,
        stream=payload.stream,
        kv_cache_bytes=kv_cache_bytes,
        policy=policy,
        sensitive=verdict.sensitive,
    )


def validate_embeddings(*, caller: Caller, payload: EmbeddingsPayload) -> ValidatedRequest:
    spec = model_get(payload.model, task="embeddings", tenant_slug=caller.tenant.slug)
    policy = check_tenant(caller, spec)
    if len(payload.inputs) > MAX_EMBEDDING_INPUTS:
        raise ApiError(
            "invalid_request", f"Give at most {MAX_EMBEDDING_INPUTS} inputs.", param="input"
        )
    if not payload.inputs or not all(text.strip() for text in payload.inputs):
        raise ApiError("invalid_request", "Every input must be a non-empty string.", param="input")
    check_texts(list(payload.inputs), param="input")
    verdict = content_policy_check(policy=policy, texts=payload.inputs)
    tokenizer = model_tokenizer(spec)
    context = model_context_length(spec)
    token_ids = tuple(tuple(ids) for ids in tokenizer(list(payload.inputs))["input_ids"])
    for index, ids in enumerate(token_ids):
        if len(ids) > context:
            raise ApiError(
                "context_length_exceeded",
                f"Input {index} has {len(ids)} tokens; this model takes at most {context}.",
                param="input",
            )
    return ValidatedRequest(
        caller=caller, model=spec, token_ids=token_ids, policy=policy, sensitive=verdict.sensitive
    )
