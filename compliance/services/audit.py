"""The append-only, hash-chained audit trail.

What must stay true:
- Entry n (n = 1, 2, 3, ... without gaps) holds the hash of entry n-1 in `prev_hash`, and
  entry 1 holds GENESIS_HASH. `prev_hash` is unique, so two writers can never both extend the
  same head: the chain cannot fork.
- `entry_hash` is SHA-256 over the canonical JSON array
  [seq, created_at, actor_id, tenant_id, action, target, details, prev_hash] (created_at as
  ISO 8601 in UTC with microseconds, keys sorted, no spaces, ASCII). An auditor can recompute
  it from an export without this code.
- Every settings.AUDIT_CHECKPOINT_EVERY-th entry has a checkpoint: the deployment's Ed25519
  signature over f"{seq}:{entry_hash}". Hashes alone catch a changed, removed, reordered or
  inserted entry; the signed checkpoints also catch a chain rewritten from some entry on and a
  tail cut off below the newest checkpoint. (Cutting the checkpoints too is caught only
  against a head recorded elsewhere, such as an exported audit_head.)
- Retention removes whole segments from the front, up to a checkpoint, and keeps every
  checkpoint: the first remaining entry then links to a signed hash, so the rest stays
  verifiable. The newest entry is never removed.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from compliance.models import AuditCheckpoint, AuditEntry
from compliance.services.signing import signature_create, signature_valid

GENESIS_HASH = "0" * 64
AUDIT_FIELDS = (  # an entry, in the order its hash reads them
    "seq",
    "created_at",
    "actor_id",
    "tenant_id",
    "action",
    "target",
    "details",
    "prev_hash",
    "entry_hash",
)
_ADVISORY_LOCK_ID = 0x637573746F73  # "custos": the one PostgreSQL lock all audit writers take
_RETRIES = 3


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries_checked: int
    checkpoints_checked: int
    first_broken_seq: int | None = None
    problem: str = ""


def audit_entry_hash(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    tenant_id: int | None,
    action: str,
    target: str,
    details: dict,
    prev_hash: str,
) -> str:
    return _hash(seq, created_at, actor_id, tenant_id, action, target, details, prev_hash)


def audit_head() -> tuple[int, str]:
    head = AuditEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first()
    return head or (0, GENESIS_HASH)


def audit_append(
    *,
    action: str,
    actor_id: int | None = None,
    tenant_id: int | None = None,
    target: str = "",
    details: dict | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Extend the chain inside the caller's transaction, so the entry lands with the write."""
    # NOTE: the round trip hashes exactly what the database gives back (tuples become lists,
    # keys become strings). Prefer strings and integers in details: PostgreSQL's jsonb may
    # give a float like 1e20 back as an integer, which would read as a changed entry.
    details = json.loads(json.dumps(details or {}, allow_nan=False))
    append = partial(
        _append,
        action=action,
        actor_id=actor_id,
        tenant_id=tenant_id,
        target=target,
        details=details,
        created_at=(now or timezone.now()).astimezone(UTC),
    )
    # Inside an outer transaction a retry could read the same snapshot, so only retry alone.
    if not connection.in_atomic_block:
        for _ in range(_RETRIES - 1):
            try:
                with transaction.atomic():
                    return append()
            except IntegrityError:
                continue  # another writer took this seq; read the new head
    with transaction.atomic():
        return append()


def _append(*, created_at: datetime, details: dict, **fields) -> AuditEntry:
    # NOTE: SQLite's IMMEDIATE transactions already hold the write lock here; PostgreSQL
    # needs the advisory lock, or two writers would read the same head.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_ID])
    head_seq, prev_hash = audit_head()
    seq = head_seq + 1
    entry_hash = audit_entry_hash(
        seq=seq, created_at=created_at, details=details, prev_hash=prev_hash, **fields
    )
    entry = AuditEntry.objects.create(
        seq=seq,
        created_at=created_at,
        details=details,
        prev_hash=prev_hash,
        entry_hash=entry_hash,
        **fields,
    )
    if seq % settings.AUDIT_CHECKPOINT_EVERY == 0:
        AuditCheckpoint.objects.create(
            seq=seq,
            entry_hash=entry_hash,
            signature=signature_create(_checkpoint_message(seq, entry_hash)),
            created_at=created_at,
        )
    return entry


def audit_chain_verify(*, chunk_size: int = 5000) -> AuditVerification:
    """Recompute every link and check every checkpoint; report the first break."""
    checkpoints = {
        seq: (entry_hash, signature)
        for seq, entry_hash, signature in AuditCheckpoint.objects.values_list(
            "seq", "entry_hash", "signature"
        )
    }
    checked = 0
    prev_seq, prev_hash = None, GENESIS_HASH
    for row in _entries_streamed(chunk_size=chunk_size):
        seq = row[0]
        if prev_seq is None or (seq != prev_seq + 1 and not _still_there(prev_seq)):
            # The first entry, or the prefix was expired while we read: anchor again.
            prev_seq, prev_hash, broken = _anchor(seq, checkpoints)
            if broken:
                return _broken(checked, checkpoints, prev_seq, broken)
        if seq != prev_seq + 1 or row[7] != prev_hash or _hash(*row) != row[8]:
            return _broken(checked, checkpoints, *_diagnose(row, prev_seq, prev_hash))
        if seq in checkpoints:
            entry_hash, signature = checkpoints[seq]
            if not signature_valid(_checkpoint_message(seq, entry_hash), signature):
                return _broken(checked, checkpoints, seq, f"checkpoint {seq} has a bad signature")
            if entry_hash != row[8]:
                return _broken(
                    checked, checkpoints, seq, f"entry {seq} differs from its signed checkpoint"
                )
        checked += 1
        prev_seq, prev_hash = seq, row[8]
    end = prev_seq or 0
    beyond = [seq for seq in checkpoints if seq > end]
    if beyond:
        problem = f"the chain ends at {end} but checkpoint {max(beyond)} was signed"
        return _broken(checked, checkpoints, end + 1, problem)
    return AuditVerification(ok=True, entries_checked=checked, checkpoints_checked=len(checkpoints))


def _entries_streamed(*, chunk_size: int) -> Iterator[tuple]:
    """Rows as plain tuples in seq order, one keyset-paged query per chunk."""
    after = 0
    while True:
        rows = list(
            AuditEntry.objects.filter(seq__gt=after)
            .order_by("seq")
            .values_list(*AUDIT_FIELDS)[:chunk_size]
        )
        yield from rows
        if len(rows) < chunk_size:
            return
        after = rows[-1][0]


def _still_there(seq: int) -> bool:
    return AuditEntry.objects.filter(seq=seq).exists()


def _anchor(first_seq: int, checkpoints: dict) -> tuple[int, str, str]:
    """Where the remaining chain starts: genesis, or the signed checkpoint before it."""
    for seq in sorted(s for s in checkpoints if s < first_seq):
        entry_hash, signature = checkpoints[seq]
        if not signature_valid(_checkpoint_message(seq, entry_hash), signature):
            return seq, entry_hash, f"checkpoint {seq} has a bad signature"
    if first_seq == 1:
        return 0, GENESIS_HASH, ""
    if first_seq - 1 in checkpoints:
        return first_seq - 1, checkpoints[first_seq - 1][0], ""
    missing = max((s for s in checkpoints if s < first_seq), default=0) + 1
    return missing, "", f"entry {missing} is missing"


def _diagnose(row: tuple, prev_seq: int, prev_hash: str) -> tuple[int, str]:
    """Name what most likely happened at the first row that does not follow `prev_seq`."""
    seq = row[0]
    if seq != prev_seq + 1:
        return prev_seq + 1, f"entry {prev_seq + 1} is missing"
    if row[7] == prev_hash:
        return seq, f"entry {seq} was changed"
    # The row that really follows prev_seq is the one linking to its hash (prev_hash is unique).
    successor = AuditEntry.objects.filter(prev_hash=prev_hash).values_list(*AUDIT_FIELDS).first()
    if successor is not None and _fits(successor, seq):
        moved_from = successor[0]
        if moved_from == seq + 1 and not _fits(row, moved_from):
            return seq, f"an entry was inserted before {seq}"
        return seq, f"entries {seq} and {moved_from} are out of order"
    if _fits(row, seq + 1):
        return seq, f"entry {seq} is missing"
    if _fits(row, seq):
        return seq, f"entry {seq} does not link to entry {prev_seq}"
    return seq, f"entry {seq} was changed"


def _fits(row: tuple, seq: int) -> bool:
    """Whether `row` hashes correctly as entry `seq`."""
    return _hash(seq, *row[1:8]) == row[8]


def _broken(checked: int, checkpoints: dict, seq: int, problem: str) -> AuditVerification:
    return AuditVerification(
        ok=False,
        entries_checked=checked,
        checkpoints_checked=len(checkpoints),
        first_broken_seq=seq,
        problem=problem,
    )


def audit_expire(*, before: datetime, batch_size: int = 5000) -> int:
    """Remove the oldest whole segments, each batch atomic and recorded; return rows removed."""
    first_seq = AuditEntry.objects.aggregate(first=Min("seq"))["first"]
    if first_seq is None:
        return 0
    head_seq, _ = audit_head()
    first_young = AuditEntry.objects.filter(created_at__gte=before).aggregate(m=Min("seq"))["m"]
    limit = min(head_seq, first_young or head_seq) - 1
    ends = AuditCheckpoint.objects.filter(seq__gte=first_seq, seq__lte=limit).order_by("seq")
    deleted = 0
    for through_seq in _expire_batches(
        first_seq=first_seq, ends=ends.values_list("seq", flat=True), batch_size=batch_size
    ):
        with transaction.atomic():
            count, _ = AuditEntry.objects.filter(seq__lte=through_seq).delete()
            # NOTE: pruning the trail is itself a compliance write, so it leaves an entry.
            audit_append(
                action="audit.expire", details={"through_seq": through_seq, "deleted": count}
            )
        deleted += count
    return deleted


def _expire_batches(*, first_seq: int, ends: Iterable[int], batch_size: int) -> Iterator[int]:
    """Batch ends on checkpoints, about batch_size rows each but never less than a segment."""
    start, end = first_seq, None
    for seq in ends:
        if end is not None and seq - start + 1 > batch_size:
            yield end
            start = end + 1
        end = seq
    if end is not None:
        yield end


def audit_list(
    *, tenant_ids: Iterable[int] | None = None, action: str | None = None, limit: int = 100
) -> QuerySet[AuditEntry]:
    """Newest first; the caller has already narrowed tenant_ids to what the viewer may see."""
    entries = AuditEntry.objects.order_by("-seq")
    if tenant_ids is not None:
        entries = entries.filter(tenant_id__in=list(tenant_ids))
    if action:
        entries = entries.filter(action=action)
    return entries[:limit]


def _checkpoint_message(seq: int, entry_hash: str) -> bytes:
    return f"{seq}:{entry_hash}".encode()


def _hash(seq, created_at, actor_id, tenant_id, action, target, details, prev_hash, *_) -> str:
    """The canonical hash; `*_` lets a streamed row, entry_hash last, be passed whole."""
    canonical = json.dumps(
        [
            seq,
            created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            actor_id,
            tenant_id,
            action,
            target,
            details,
            prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
