"""Erasure (GDPR Article 17): received -> verified -> executing -> completed, or failed.

What must stay true:
- Execution goes through the personal-data store registry, in its order: the subject's data
  key is destroyed first (from then on every sealed byte, backups included, is unreadable),
  the subject mapping is deleted last (until then a crashed run can still find what is left).
- Each step is one transaction that also records the step as done, so a run that dies at any
  point is resumed by running it again, skipping finished steps, to the same result.
- The receipt names what was removed from each store, the fingerprint of the destroyed key and
  the audit chain's head, states what backups may still hold and until when, and is signed
  with the deployment's Ed25519 key. It holds the pseudonym, never the subject's identity.
- Every lifecycle step appends an audit entry. Requests not completed within
  settings.ERASURE_DEADLINE_DAYS of receipt are overdue.
"""

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils import timezone

from compliance.models import ErasureRequest
from compliance.services.audit import audit_append, audit_head
from compliance.services.keys import data_key_destroy
from compliance.services.signing import public_key_fingerprint, signature_create, signature_valid
from compliance.stores import store_list
from portal.errors import ApiError

KEYS_STORE = "keys"
RECEIPT_TYPE = "custos.erasure-receipt/1"


def _audit(erasure: ErasureRequest, action: str, *, actor_id: int | None = None, **details):
    audit_append(
        action=f"erasure.{action}",
        actor_id=actor_id,
        tenant_id=erasure.tenant_id,
        target=f"erasure:{erasure.id}",
        details={"subject": erasure.subject, **details},
    )


@transaction.atomic
def erasure_request_create(
    *,
    tenant_id: int,
    subject: str,
    channel: str,
    requested_by_id: int | None,
    verified: bool,
    now: datetime,
) -> ErasureRequest:
    """File a request. `verified`: the requester's identity was checked as it asked (a
    re-entered password, an API token, an officer's own account)."""
    erasure = ErasureRequest.objects.create(
        tenant_id=tenant_id,
        subject=subject,
        channel=channel,
        requested_by_id=requested_by_id,
        received_at=now,
        deadline_at=now + timedelta(days=settings.ERASURE_DEADLINE_DAYS),
    )
    _audit(erasure, "received", actor_id=requested_by_id, channel=channel)
    if verified:
        erasure.status, erasure.verified_at = ErasureRequest.Status.VERIFIED, now
        erasure.save(update_fields=["status", "verified_at"])
        _audit(erasure, "verified", actor_id=requested_by_id)
    return erasure


def erasure_execute(*, erasure_id, now: datetime | None = None) -> ErasureRequest:
    """Run (or resume) a verified request to completion; idempotent."""
    erasure = ErasureRequest.objects.get(id=erasure_id)
    if erasure.status == ErasureRequest.Status.COMPLETED:
        return erasure
    if erasure.status == ErasureRequest.Status.RECEIVED:
        raise ApiError("invalid_request", "This erasure request has not been verified yet.")
    with transaction.atomic():
        erasure.status, erasure.failure_reason = ErasureRequest.Status.EXECUTING, ""
        erasure.save(update_fields=["status", "failure_reason"])
        _audit(erasure, "executing", resumed=bool(erasure.steps_done))
    try:
        for store in store_list():
            if store.name not in erasure.steps_done:
                _step(erasure, store)
        _flush_deleted_pages()
        return _complete(erasure, now=now or timezone.now())
    except Exception as exc:
        _fail(erasure, reason=type(exc).__name__)
        raise


@transaction.atomic
def _step(erasure: ErasureRequest, store) -> None:
    """One store, and the record that it is done, in one transaction."""
    if store.name == KEYS_STORE:
        erasure.key_fingerprint = data_key_destroy(subject=erasure.subject)
        removed = int(bool(erasure.key_fingerprint))
    else:
        removed = store.erase(erasure.subject)
    erasure.removed = {**erasure.removed, store.name: removed}
    erasure.steps_done = [*erasure.steps_done, store.name]
    erasure.save(update_fields=["removed", "steps_done", "key_fingerprint"])
    _audit(erasure, "step", store=store.name, removed=removed)


def _flush_deleted_pages() -> None:
    """SQLite: secure_delete already zeroed the freed pages; checkpoint the WAL so no copy of
    an erased row stays in it either (impossible inside a transaction: the caller's)."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _fail(erasure: ErasureRequest, *, reason: str) -> None:
    with transaction.atomic():
        erasure.status = ErasureRequest.Status.FAILED
        erasure.failure_reason = f"{reason} during erasure; running it again resumes it."
        erasure.save(update_fields=["status", "failure_reason"])
        _audit(erasure, "failed", reason=reason, steps_done=erasure.steps_done)


def _canonical(receipt: dict) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@transaction.atomic
def _complete(erasure: ErasureRequest, *, now: datetime) -> ErasureRequest:
    head_seq, head_hash = audit_head()
    backups_until = now + timedelta(days=settings.BACKUP_RETENTION_DAYS)
    descriptions = {store.name: store.description for store in store_list()}
    receipt = {
        "type": RECEIPT_TYPE,
        "erasure_request": str(erasure.id),
        "subject": erasure.subject,
        "channel": erasure.channel,
        "received_at": erasure.received_at.isoformat(),
        "verified_at": erasure.verified_at.isoformat() if erasure.verified_at else None,
        "completed_at": now.isoformat(),
        "stores": [
            {"name": name, "removed": count, "holds": descriptions.get(name, "")}
            for name, count in erasure.removed.items()
        ],
        "destroyed_key_fingerprint": erasure.key_fingerprint,
        "audit_chain_head": {"seq": head_seq, "hash": head_hash},
        "backups": (
            "Backups made before completion may hold this subject's content, sealed under "
            "the destroyed key and so unreadable, until "
            f"{backups_until.date().isoformat()}, when they expire. Request log rows remain "
            "as metadata without content, no longer linked to the subject."
        ),
        "signing_key_fingerprint": public_key_fingerprint(),
    }
    erasure.receipt, erasure.receipt_signature = receipt, signature_create(_canonical(receipt))
    erasure.status, erasure.completed_at = ErasureRequest.Status.COMPLETED, now
    erasure.save(update_fields=["receipt", "receipt_signature", "status", "completed_at"])
    _audit(erasure, "completed", removed=erasure.removed)
    return erasure


def receipt_document(erasure: ErasureRequest) -> dict:
    """The signed receipt as it is handed out: anyone can check it with verify_receipt or
    the deployment's public key at /api/v1/receipts/public-key."""
    return {"receipt": erasure.receipt, "signature": erasure.receipt_signature}


def receipt_verify(document: dict, *, public_key_pem: str | None = None) -> bool:
    """Is this the receipt exactly as the deployment signed it?"""
    receipt, signature = document.get("receipt"), document.get("signature")
    if not isinstance(receipt, dict) or not isinstance(signature, str):
        return False
    return signature_valid(_canonical(receipt), signature, public_key_pem=public_key_pem)


def erasures_pending() -> list:
    """Requests to run again when the server starts: verified ones not yet run, and ones a
    stopped server cut off while executing. Failed ones wait for someone to look."""
    pending = (ErasureRequest.Status.VERIFIED, ErasureRequest.Status.EXECUTING)
    return list(ErasureRequest.objects.filter(status__in=pending).values_list("id", flat=True))


def erasure_list(*, tenant_ids, now: datetime) -> QuerySet[ErasureRequest]:
    """Requests of these tenants, newest first, each annotated `overdue`: not completed
    within the deadline."""
    late = ~Q(status=ErasureRequest.Status.COMPLETED) & Q(deadline_at__lt=now)
    return ErasureRequest.objects.filter(tenant_id__in=tenant_ids).annotate(
        overdue=Case(
            When(late, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    )
