"""Retention: each class of data is deleted once it is older than its tenant keeps it.

What must stay true:
- Nothing younger than its cutoff (`now - days`) is deleted: a row goes only when its expiry
  field is strictly older. A cache entry also goes once its own TTL has passed.
- Deleting works in bounded batches: select at most `batch_size` primary keys (oldest first),
  then delete them in one short transaction, and repeat. No transaction spans a table, so
  requests keep writing while retention runs (SQLite has one writer at a time).
- Subject data is reached through the store registry (compliance never imports the apps that
  register it); receipts, the audit trail and expired API tokens are handled here.
- A dry run deletes nothing and counts exactly what a real run at the same `now` would delete.
- Every entry point (`manage.py enforce_retention`, a periodic task) calls `retention_enforce`.
  `rows_delete` is its chunked delete, each chunk atomic; erasure's bulk deletes belong on it
  too (DESIGN.md: retention and erasure share one path).
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q, QuerySet
from knox.models import get_token_model

from compliance.models import (
    AuditCheckpoint,
    AuditEntry,
    CacheEntry,
    DataClass,
    ErasureRequest,
    RetentionRule,
)
from compliance.services.audit import audit_append, audit_expire, audit_head
from compliance.stores import PersonalDataStore, store_list
from portal.errors import ApiError
from portal.models import Tenant

MAX_DAYS = 36_500  # a hundred years
NO_TENANT = "(none)"  # rows that belong to no tenant (requests refused before one was known)
ALL_TENANTS = "(all)"  # data kept for the whole deployment: the audit trail, API tokens
API_TOKENS = "api_tokens"  # not a DataClass: tokens expire by their own date, not by age


@dataclass(frozen=True)
class RetentionReport:
    deleted: dict[tuple[str, str], int]  # (tenant slug, class) -> rows; would be, in a dry run
    dry_run: bool
    seconds: float
    longest_batch_s: float  # the longest single delete transaction

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


@dataclass(frozen=True)
class _Sweep:
    """One tenant's rows of one class that are past their time, oldest first by `order_field`."""

    tenant: str
    data_class: str
    rows: QuerySet
    order_field: str


def retention_days(*, tenant_id: int) -> dict[str, int]:
    """How long the tenant keeps each class: its own rule, else the deployment default."""
    rules = dict(
        RetentionRule.objects.filter(tenant_id=tenant_id).values_list("data_class", "days")
    )
    return {
        data_class: rules.get(data_class, settings.RETENTION_DEFAULT_DAYS[data_class])
        for data_class in DataClass.values
    }


def retention_rule_set(
    *, actor_id: int | None, tenant: Tenant, data_class: str, days: int
) -> RetentionRule:
    """Create or change the tenant's rule for one class, with its audit entry."""
    if data_class not in DataClass.values:
        raise ApiError(
            "invalid_request",
            f"Unknown data class; use one of: {', '.join(DataClass.values)}.",
            param="data_class",
        )
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ApiError(
            "invalid_request", f"days must be a whole number from 1 to {MAX_DAYS}.", param="days"
        )
    with transaction.atomic():
        old_days = retention_days(tenant_id=tenant.id)[data_class]
        rule, _ = RetentionRule.objects.update_or_create(
            tenant=tenant, data_class=data_class, defaults={"days": days}
        )
        audit_append(
            action="retention.set",
            actor_id=actor_id,
            tenant_id=tenant.id,
            target=data_class,
            details={"data_class": data_class, "old_days": old_days, "new_days": days},
        )
    return rule


@transaction.atomic
def retention_rules_set(*, actor_id: int | None, tenant: Tenant, days: dict) -> dict[str, int]:
    """Set several classes at once: all of them or, if one is refused, none."""
    for data_class, class_days in days.items():
        retention_rule_set(actor_id=actor_id, tenant=tenant, data_class=data_class, days=class_days)
    return retention_days(tenant_id=tenant.id)


def retention_enforce(
    *,
    now: datetime,
    dry_run: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> RetentionReport:
    """Delete, for every tenant and class, what is older than the tenant keeps it.

    `on_progress(label, rows)` is called after each batch (once per sweep in a dry run) with
    a "tenant/class" label and the rows that batch deleted.
    """
    started = time.monotonic()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    deleted: Counter[tuple[str, str]] = Counter()
    longest_batch_s = 0.0
    for sweep in _sweeps(now):
        progress = on_progress and partial(on_progress, f"{sweep.tenant}/{sweep.data_class}")
        if dry_run:
            count, longest_s = sweep.rows.count(), 0.0
            if progress and count:
                progress(count)
        else:
            count, longest_s = rows_delete(
                rows=sweep.rows,
                order_field=sweep.order_field,
                batch_size=batch_size,
                on_batch=progress,
            )
        deleted[(sweep.tenant, sweep.data_class)] += count
        longest_batch_s = max(longest_batch_s, longest_s)
    audit_trail = _audit_trail_expire(now=now, dry_run=dry_run, batch_size=batch_size)
    deleted[(ALL_TENANTS, DataClass.AUDIT_TRAIL.value)] = audit_trail
    if on_progress and audit_trail:
        on_progress(f"{ALL_TENANTS}/{DataClass.AUDIT_TRAIL.value}", audit_trail)
    report = RetentionReport(
        deleted=dict(deleted),
        dry_run=dry_run,
        seconds=time.monotonic() - started,
        longest_batch_s=longest_batch_s,
    )
    # NOTE: a dry run leaves no audit entry: it changes nothing, and the trail records changes.
    # A real run always leaves one, even when nothing was due: it proves that retention ran.
    if not dry_run:
        _run_audit(report, now=now)
    return report


def rows_delete(
    *,
    rows: QuerySet,
    order_field: str,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[int, float]:
    """Delete `rows` oldest first, `batch_size` at a time, each batch its own transaction;
    return the rows deleted and the longest transaction in seconds."""
    deleted, longest_s = 0, 0.0
    pk_name = rows.model._meta.pk.name
    floor = None
    while True:
        # NOTE: each batch starts at the last one's order value: after a delete PostgreSQL
        # keeps dead index entries until vacuum, and restarting from the oldest would walk
        # over all of them again, batch after batch.
        pending = rows if floor is None else rows.filter(**{f"{order_field}__gte": floor})
        batch = list(pending.order_by(order_field).values_list(pk_name, order_field)[:batch_size])
        if not batch:
            return deleted, longest_s
        floor = batch[-1][1]
        started = time.monotonic()
        # NOTE: the delete names the keys alone: with the expiry condition repeated, SQLite
        # walks the (tenant, expiry) index range instead of looking the keys up, batch after
        # batch. Rows never grow younger, so the keys suffice. `.only(pk)`: rows with cascading
        # children (a cache entry's subjects) go through Django's collector, which would
        # otherwise load every column, ciphertext included, only to learn their keys.
        keys = rows.model._default_manager.filter(pk__in=[pk for pk, _ in batch]).only(pk_name)
        with transaction.atomic():
            _, per_model = keys.delete()
        longest_s = max(longest_s, time.monotonic() - started)
        count = per_model.get(rows.model._meta.label, 0)
        deleted += count
        if on_batch:
            on_batch(count)


def _sweeps(now: datetime) -> Iterator[_Sweep]:
    stores = [store for store in store_list() if store.data_class]  # the others: until erased
    for tenant in Tenant.objects.order_by("slug"):
        days = retention_days(tenant_id=tenant.id)
        of_tenant = Q(tenant_id=tenant.id)
        yield from _store_sweeps(tenant.slug, of_tenant, stores, days, now)
        receipts = _receipts_due(of_tenant, days, now)
        yield _Sweep(tenant.slug, DataClass.RECEIPTS.value, receipts, "received_at")
    tenantless = [store for store in stores if store.models[0]._meta.get_field("tenant").null]
    defaults = settings.RETENTION_DEFAULT_DAYS
    yield from _store_sweeps(NO_TENANT, Q(tenant__isnull=True), tenantless, defaults, now)
    tokens = get_token_model().objects.filter(expiry__lt=now)
    yield _Sweep(ALL_TENANTS, API_TOKENS, tokens, "expiry")


def _store_sweeps(
    tenant: str, of_tenant: Q, stores: list[PersonalDataStore], days: dict, now: datetime
) -> Iterator[_Sweep]:
    for store in stores:
        model, data_class = store.models[0], str(store.data_class)
        expired = Q(**{f"{store.expiry_field}__lt": now - timedelta(days=days[data_class])})
        rows = model._default_manager.filter(of_tenant, expired)
        yield _Sweep(tenant, data_class, rows, store.expiry_field)
        if model is CacheEntry:
            # NOTE: the cache's own TTL applies whatever the days: an entry past it is never
            # served again (cache_lookup), it only takes up room. What the days already took
            # is excluded, so that a dry run does not count it twice.
            ttl_passed = CacheEntry.objects.filter(of_tenant, expires_at__lte=now).exclude(expired)
            yield _Sweep(tenant, data_class, ttl_passed, "expires_at")


def _receipts_due(of_tenant: Q, days: dict[str, int], now: datetime) -> QuerySet:
    """Finished erasure requests whose receipt has been kept long enough, counted from when
    they finished (from when they were received, for those that failed before finishing)."""
    cutoff = now - timedelta(days=days[DataClass.RECEIPTS])
    finished = (ErasureRequest.Status.COMPLETED, ErasureRequest.Status.FAILED)
    return ErasureRequest.objects.filter(of_tenant, status__in=finished).filter(
        Q(completed_at__lt=cutoff) | Q(completed_at__isnull=True, received_at__lt=cutoff)
    )


def _audit_trail_expire(*, now: datetime, dry_run: bool, batch_size: int) -> int:
    # NOTE: the trail is one hash chain for the whole deployment, so it can only lose its
    # oldest entries, for everyone at once: it is kept as long as the longest of the default
    # and every tenant's rule.
    rules = RetentionRule.objects.filter(data_class=DataClass.AUDIT_TRAIL)
    days = max(
        [
            settings.RETENTION_DEFAULT_DAYS[DataClass.AUDIT_TRAIL],
            *rules.values_list("days", flat=True),
        ]
    )
    before = now - timedelta(days=days)
    if dry_run:
        return _audit_trail_due(before)
    return audit_expire(before=before, batch_size=batch_size)


def _audit_trail_due(before: datetime) -> int:
    """What audit_expire(before=...) removes: whole segments from the front, through the last
    checkpoint before the first entry it keeps (the first young one, or else the newest)."""
    head_seq, _ = audit_head()
    young = AuditEntry.objects.filter(created_at__gte=before).aggregate(seq=Min("seq"))["seq"]
    keep_from = min(head_seq, young or head_seq)
    through = AuditCheckpoint.objects.filter(seq__lt=keep_from).aggregate(seq=Max("seq"))["seq"]
    return AuditEntry.objects.filter(seq__lte=through or 0).count()


def _run_audit(report: RetentionReport, *, now: datetime) -> None:
    per_class: Counter[str] = Counter()
    for (_, data_class), count in report.deleted.items():
        per_class[data_class] += count
    audit_append(
        action="retention.run",
        details={
            "deleted": dict(per_class),
            "as_of": now.isoformat(),
            "seconds": round(report.seconds, 3),
            "longest_batch_s": round(report.longest_batch_s, 3),
        },
    )
