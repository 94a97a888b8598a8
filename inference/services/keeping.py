"""Stages 4 and 5 around the model: answer from the cache, check the output, keep what the
tenant's policy allows.

What must stay true: a cache hit never reaches a model pool; an output that a `block` rule
matches is never delivered; nothing sensitive (in the input or the output), nothing a caller
sent with `store: false`, and nothing of a zero-retention tenant or outside the tenant's
regions is cached or archived. compliance decides what may be kept; this module only tells
it what the request was.
"""

import hashlib
import unicodedata
from dataclasses import asdict, dataclass, replace

from django.utils import timezone

from compliance.services.archive import archive_store
from compliance.services.cache import cache_eligible, cache_key, cache_lookup, cache_store
from compliance.services.content_policy import PolicyVerdict, content_policy_check
from compliance.services.policy import archive_eligible
from inference.pipeline.postprocess import (
    Delivery,
    delivery_content,
    delivery_pack,
    delivery_unpack,
)
from inference.registry import model_version
from portal.db import in_thread

NOT_OUTPUT = ("stream",)  # payload fields that do not change what the model answers


@dataclass(frozen=True)
class CachePlan:
    outcome: str  # hit | miss | bypass
    key: str = ""
    delivery: Delivery | None = None  # the cached answer, on a hit


def _canonical(value):
    """The input as the cache key sees it: text in NFC, files as their SHA-256."""
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def _payload_fields(payload) -> dict:
    return {name: value for name, value in asdict(payload).items() if name not in NOT_OUTPUT}


async def cache_plan(request, payload, *, subject: str) -> CachePlan:
    """Is this request's answer cached? `bypass` when it may not be cached at all; only a
    request that may be cached leaves the event loop to look."""
    eligible = cache_eligible(
        policy=request.policy,
        model=request.model.name,
        deterministic=request.deterministic,
        store=request.caller.store,
        sensitive=request.sensitive,
    )
    if not eligible:
        return CachePlan("bypass")
    return await in_thread(_cache_looked_up)(request, payload, subject=subject)


def _cache_looked_up(request, payload, *, subject: str) -> CachePlan:
    caller = request.caller
    key = cache_key(
        tenant_id=caller.tenant.id,
        model=request.model.name,
        model_version=model_version(request.model),
        request={
            "payload": _canonical(_payload_fields(payload)),
            "max_tokens": getattr(request, "max_tokens", None),
        },
    )
    found = cache_lookup(
        tenant_id=caller.tenant.id, key_digest=key, subject=subject, now=timezone.now()
    )
    if found is None:
        return CachePlan("miss", key)
    return CachePlan("hit", key, delivery_unpack(found))


def delivery_keep(
    request, payload, delivery: Delivery, *, subject: str, plan: CachePlan
) -> Delivery:
    """Check the output, then cache and archive what the policy allows; the delivery comes
    back marked with how the cache was used and whether it was archived."""
    caller, policy = request.caller, request.policy
    # NOTE: a hit's output was checked when it was stored, and any change to the tenant's
    # content policy empties the tenant's cache, so a hit skips the check.
    verdict = (
        PolicyVerdict()
        if plan.outcome == "hit"
        else content_policy_check(policy=policy, texts=[delivery.text])
    )
    sensitive = request.sensitive or verdict.sensitive
    now = timezone.now()
    if plan.outcome == "miss" and not sensitive:
        cache_store(
            tenant_id=caller.tenant.id,
            key_digest=plan.key,
            model=request.model.name,
            subject=subject,
            payload=delivery_pack(delivery),
            ttl_seconds=policy.cache_ttl_seconds,
            now=now,
        )
    archived = archive_eligible(policy=policy, store=caller.store, sensitive=sensitive)
    if archived:
        archive_store(
            tenant_id=caller.tenant.id,
            subject=subject,
            request_id=caller.request_id,
            endpoint=caller.endpoint,
            model=request.model.name,
            task=request.model.task,
            exchange={"input": _payload_fields(payload), "output": delivery_content(delivery)},
            now=now,
        )
    return replace(delivery, cache=plan.outcome, archived=archived)
