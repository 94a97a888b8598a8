"""The per-tenant, opt-in archive of exchanges (input and output), for quality monitoring and
audit.

What must stay true:
- An exchange is stored only sealed under its subject's data key, bound to its request
  (context "archive:<request_id>"): erasing the subject leaves every copy unreadable.
- Values that are bytes (images, audio) come back as bytes: the encoding is lossless.
- Only a compliance officer of the entry's tenant reads an entry, with a stated reason, and
  every read leaves an audit entry. To anyone else the entry does not exist.
- Whether an exchange may be archived at all is decided by the caller (the pipeline).
"""

import base64
import json
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import transaction

from compliance.models import ArchiveEntry
from compliance.permissions import can_govern
from compliance.services.audit import audit_append
from compliance.services.keys import KeyDestroyed, content_open, content_seal
from portal.errors import ApiError

REASON_MAX_CHARS = 500
# NOTE: bytes travel as {"$bytes": base64}; a dict of the exchange that looks like one of
# these tags is itself wrapped as {"$dict": ...}, so no value can be mistaken for another.
_BYTES, _DICT = "$bytes", "$dict"


def archive_store(
    *,
    tenant_id: int,
    subject: str,
    request_id: str,
    endpoint: str,
    model: str,
    task: str,
    exchange: dict,
    now: datetime,
) -> ArchiveEntry:
    plaintext = json.dumps(_encode(exchange), separators=(",", ":"), ensure_ascii=False).encode()
    sealed = content_seal(
        subject=subject, tenant_id=tenant_id, plaintext=plaintext, context=_context(request_id)
    )
    return ArchiveEntry.objects.create(
        tenant_id=tenant_id,
        subject=subject,
        request_id=request_id,
        endpoint=endpoint,
        model=model,
        task=task,
        region=settings.PORTAL_REGION,
        sealed=sealed,
        size_bytes=len(plaintext),
        created_at=now,
    )


def archive_read(*, actor, entry_id: int, reason: str) -> dict:
    """The decrypted exchange, for a compliance officer of its tenant who says why."""
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= REASON_MAX_CHARS:
        raise ApiError(
            "invalid_request",
            f"Say why you read this exchange (1 to {REASON_MAX_CHARS} characters).",
            param="reason",
        )
    entry = ArchiveEntry.objects.select_related("tenant").filter(id=entry_id).first()
    if entry is None or not can_govern(actor, entry.tenant):
        raise ApiError("not_found", "No such archive entry.")
    with transaction.atomic():
        try:
            exchange = _exchange_open(entry, binary=base64.b64decode)
        except KeyDestroyed:  # the subject was erased: the entry is gone in all but its row
            raise ApiError("not_found", "No such archive entry.") from None
        audit_append(
            action="archive.read",
            actor_id=actor.id,
            tenant_id=entry.tenant_id,
            target=f"archive:{entry.id}",
            details={"reason": reason},
        )
    return exchange


def archive_count(subject: str) -> int:
    return ArchiveEntry.objects.filter(subject=subject).count()


def archive_export(subject: str) -> list[dict]:
    """The subject's exchanges with their metadata, as JSON: bytes as base64 strings."""
    return [
        {
            "request_id": entry.request_id,
            "created_at": entry.created_at.isoformat(),
            "endpoint": entry.endpoint,
            "model": entry.model,
            "task": entry.task,
            "region": entry.region,
            "exchange": _exchange_open(entry, binary=str),
        }
        for entry in ArchiveEntry.objects.filter(subject=subject).order_by("created_at", "id")
    ]


def archive_erase(subject: str) -> int:
    count, _ = ArchiveEntry.objects.filter(subject=subject).delete()
    return count


def _context(request_id: str) -> str:
    return f"archive:{request_id}"


def _exchange_open(entry: ArchiveEntry, *, binary: Callable[[str], object]) -> dict:
    plaintext = content_open(
        subject=entry.subject, sealed=entry.sealed, context=_context(entry.request_id)
    )
    return _decode(json.loads(plaintext), binary=binary)


def _encode(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        encoded = {key: _encode(item) for key, item in value.items()}
        return {_DICT: encoded} if len(value) == 1 and set(value) & {_BYTES, _DICT} else encoded
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    return value


def _decode(value, *, binary: Callable[[str], object]):
    """Undo `_encode`; `binary` turns the base64 text of a bytes value into what it becomes."""
    if isinstance(value, list):
        return [_decode(item, binary=binary) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and _BYTES in value:
        return binary(value[_BYTES])
    if len(value) == 1 and _DICT in value:
        value = value[_DICT]
    return {key: _decode(item, binary=binary) for key, item in value.items()}
