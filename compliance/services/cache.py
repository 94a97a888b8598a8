"""Stage 4's selective output cache: exact-match, encrypted, and accountable per subject.

What must stay true:
- The lookup key is an HMAC, under a secret of the tenant's own (derived from
  settings.CACHE_KEY), of everything that determines the output: the model, its version, the
  parameters and the canonical input. The key reveals nothing about the input, and one
  tenant's request can never find another tenant's entry: both the secret and the tenant
  column differ.
- An entry is sealed under the data key of the subject whose request produced it, so erasing
  that subject leaves it unreadable even in a backup; it also remembers every subject that
  produced or hit it, and a purge by subject removes every entry the subject touched.
- Whether a result may be cached at all is decided here (`cache_eligible`), from the
  tenant's policy and what the pipeline knows about the request.
"""

import hashlib
import hmac
import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from compliance.models import CacheEntry, CacheSubject, TenantPolicy
from compliance.services.audit import audit_append
from compliance.services.keys import SealBroken, content_open, content_seal
from compliance.services.policy import storage_allowed


def cache_eligible(
    *, policy: TenantPolicy, model: str, deterministic: bool, store: bool | None, sensitive: bool
) -> bool:
    """A result is cached only if the same request always gives it, the tenant caches this
    model, the caller did not say `store: false`, and nothing sensitive was found."""
    return (
        deterministic
        and store is not False
        and not sensitive
        and storage_allowed(policy)
        and ("*" in policy.cache_models or model in policy.cache_models)
    )


def _tenant_secret(tenant_id: int) -> bytes:
    return hmac.new(settings.CACHE_KEY.encode(), f"tenant:{tenant_id}".encode(), "sha256").digest()


def cache_key(*, tenant_id: int, model: str, model_version: str, request: dict) -> str:
    """The lookup key of a request: `request` holds its parameters and canonical input
    (JSON-able; the pipeline replaces file bytes with their SHA-256)."""
    message = json.dumps(
        [model, model_version, request], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    return hmac.new(_tenant_secret(tenant_id), message, hashlib.sha256).hexdigest()


def _context(tenant_id: int, key_digest: str) -> str:
    return f"cache:{tenant_id}:{key_digest}"


def cache_lookup(*, tenant_id: int, key_digest: str, subject: str, now: datetime) -> bytes | None:
    """The cached result, or None; a hit is remembered against the subject who made it."""
    entry = (
        CacheEntry.objects.filter(tenant_id=tenant_id, key_digest=key_digest, expires_at__gt=now)
        .only("id", "subject", "sealed")
        .first()
    )
    if entry is None:
        return None
    try:
        payload = content_open(
            subject=entry.subject,
            sealed=bytes(entry.sealed),
            context=_context(tenant_id, key_digest),
        )
    except SealBroken:  # its producer was erased meanwhile, or the row was tampered with
        entry.delete()
        return None
    with transaction.atomic():
        CacheEntry.objects.filter(id=entry.id).update(hit_count=F("hit_count") + 1)
        if entry.subject != subject:
            CacheSubject.objects.get_or_create(entry_id=entry.id, subject=subject)
    return payload


def cache_store(
    *,
    tenant_id: int,
    key_digest: str,
    model: str,
    subject: str,
    payload: bytes,
    ttl_seconds: int,
    now: datetime,
) -> CacheEntry | None:
    """Keep a result; None if a concurrent identical request stored it first."""
    sealed = content_seal(
        subject=subject,
        tenant_id=tenant_id,
        plaintext=payload,
        context=_context(tenant_id, key_digest),
    )
    try:
        with transaction.atomic():
            CacheEntry.objects.filter(
                tenant_id=tenant_id, key_digest=key_digest, expires_at__lte=now
            ).delete()
            entry = CacheEntry.objects.create(
                tenant_id=tenant_id,
                key_digest=key_digest,
                model=model,
                subject=subject,
                sealed=sealed,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
            CacheSubject.objects.create(entry=entry, subject=subject)
    except IntegrityError:
        return None
    return entry


def _touched_by(subject: str):
    return CacheEntry.objects.filter(Q(subject=subject) | Q(subjects__subject=subject)).distinct()


def cache_purge(
    *,
    actor_id: int | None,
    tenant_id: int | None = None,
    subject: str = "",
    model: str = "",
) -> int:
    """Remove entries by any combination of tenant, subject and model (none: everything);
    returns how many entries went, and leaves an audit entry."""
    entries = _touched_by(subject) if subject else CacheEntry.objects.all()
    if tenant_id is not None:
        entries = entries.filter(tenant_id=tenant_id)
    if model:
        entries = entries.filter(model=model)
    with transaction.atomic():
        ids = list(entries.values_list("id", flat=True))
        CacheEntry.objects.filter(id__in=ids).delete()
        audit_append(
            action="cache.purge",
            actor_id=actor_id,
            tenant_id=tenant_id,
            target=f"subject:{subject}" if subject else "",
            details={"model": model, "by_subject": bool(subject), "entries": len(ids)},
        )
    return len(ids)


def cache_count(subject: str) -> int:
    return _touched_by(subject).count()


def cache_export(subject: str) -> list[dict]:
    """Metadata of the entries the subject touched: the outputs themselves are in the
    subject's archive or job records, if anywhere."""
    return [
        {
            "model": entry.model,
            "produced_by_subject": entry.subject == subject,
            "created_at": entry.created_at.isoformat(),
            "expires_at": entry.expires_at.isoformat(),
        }
        for entry in _touched_by(subject).order_by("created_at")
    ]


def cache_erase(subject: str) -> int:
    ids = list(_touched_by(subject).values_list("id", flat=True))
    CacheEntry.objects.filter(id__in=ids).delete()
    return len(ids)
