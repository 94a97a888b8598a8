import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken

from compliance.models import (
    ArchiveEntry,
    AuditEntry,
    CacheEntry,
    CacheSubject,
    ErasureRequest,
    RequestLog,
    RetentionRule,
)
from compliance.services.audit import audit_append
from compliance.services.retention import (
    retention_days,
    retention_enforce,
    retention_rule_set,
)
from inference.models import Job
from portal.errors import ApiError
from portal.models import Tenant, User

DAYS = {
    "request_logs": 10,
    "archive": 20,
    "cache": 30,
    "jobs": 40,
    "receipts": 50,
    "audit_trail": 60,
}
SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _deployment(settings, tmp_path):
    settings.RETENTION_DEFAULT_DAYS = DAYS
    settings.SIGNING_KEY_FILE = tmp_path / "signing_key.pem"
    settings.AUDIT_CHECKPOINT_EVERY = 2


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def other_tenant(db) -> Tenant:
    return Tenant.objects.create(slug="beta", name="Beta Bank")


def request_log(tenant, at):
    return RequestLog.objects.create(
        request_id="r", created_at=at, tenant=tenant, endpoint="/v1/x", status_code=200
    )


def archive_entry(tenant, at):
    return ArchiveEntry.objects.create(
        tenant=tenant,
        subject="s",
        request_id="r",
        endpoint="/v1/x",
        model="m",
        task="t",
        region="local",
        sealed=b"x",
        size_bytes=1,
        created_at=at,
    )


def cache_entry(tenant, at, expires_at=None):
    return CacheEntry.objects.create(
        tenant=tenant,
        key_digest=secrets.token_hex(32),
        model="m",
        subject="s",
        sealed=b"x",
        created_at=at,
        expires_at=expires_at or at + timedelta(days=365),
    )


def job(tenant, at):
    owner, _ = User.objects.get_or_create(username="owner", defaults={"tenant": tenant})
    row = Job.objects.create(tenant=tenant, owner=owner, subject="s", task="t", model="m")
    Job.objects.filter(pk=row.pk).update(created_at=at)  # auto_now_add ignores a given value
    return row


def receipt(tenant, at, status=ErasureRequest.Status.COMPLETED, completed=True):
    return ErasureRequest.objects.create(
        tenant=tenant,
        subject="s",
        channel=ErasureRequest.Channel.SELF,
        status=status,
        received_at=at - timedelta(days=1) if completed else at,
        deadline_at=at + timedelta(days=29),
        completed_at=at if completed else None,
    )


MAKERS = {
    "request_logs": request_log,
    "archive": archive_entry,
    "cache": cache_entry,
    "jobs": job,
    "receipts": receipt,
}


def cutoff(now, data_class):
    return now - timedelta(days=DAYS[data_class])


def remaining(row) -> list:
    return list(type(row).objects.values_list("pk", flat=True))


def test_days_are_the_defaults_without_rules(tenant):
    assert retention_days(tenant_id=tenant.id) == DAYS


def test_days_take_the_tenants_rule(tenant):
    RetentionRule.objects.create(tenant=tenant, data_class="archive", days=3)
    assert retention_days(tenant_id=tenant.id) == {**DAYS, "archive": 3}


def test_rule_set_audits_old_and_new_days(tenant):
    retention_rule_set(actor_id=7, tenant=tenant, data_class="jobs", days=5)
    retention_rule_set(actor_id=7, tenant=tenant, data_class="jobs", days=9)
    entries = AuditEntry.objects.filter(action="retention.set").order_by("seq")
    assert [(e.actor_id, e.tenant_id, e.details) for e in entries] == [
        (7, tenant.id, {"data_class": "jobs", "old_days": 40, "new_days": 5}),
        (7, tenant.id, {"data_class": "jobs", "old_days": 5, "new_days": 9}),
    ]


def test_rule_set_keeps_one_rule_per_class(tenant):
    retention_rule_set(actor_id=None, tenant=tenant, data_class="jobs", days=5)
    rule = retention_rule_set(actor_id=None, tenant=tenant, data_class="jobs", days=9)
    assert list(RetentionRule.objects.values_list("pk", "days")) == [(rule.pk, 9)]


def test_rule_set_refuses_an_unknown_class(tenant):
    with pytest.raises(ApiError) as raised:
        retention_rule_set(actor_id=None, tenant=tenant, data_class="emails", days=5)
    assert (raised.value.code, raised.value.param) == ("invalid_request", "data_class")
    assert not RetentionRule.objects.exists()


@pytest.mark.parametrize("days", [0, 36_501, -1, True])
def test_rule_set_refuses_days_out_of_range(tenant, days):
    with pytest.raises(ApiError) as raised:
        retention_rule_set(actor_id=None, tenant=tenant, data_class="jobs", days=days)
    assert (raised.value.code, raised.value.param) == ("invalid_request", "days")
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("data_class", MAKERS)
def test_rows_older_than_their_days_are_deleted(tenant, now, data_class):
    old = MAKERS[data_class](tenant, cutoff(now, data_class) - SECOND)
    report = retention_enforce(now=now)
    assert remaining(old) == []
    assert report.deleted[("acme", data_class)] == 1


@pytest.mark.parametrize("data_class", MAKERS)
def test_rows_a_second_younger_than_the_cutoff_are_kept(tenant, now, data_class):
    young = MAKERS[data_class](tenant, cutoff(now, data_class) + SECOND)
    at_cutoff = MAKERS[data_class](tenant, cutoff(now, data_class))
    retention_enforce(now=now)
    assert sorted(remaining(young), key=str) == sorted([young.pk, at_cutoff.pk], key=str)


def test_cache_entries_past_their_ttl_are_deleted_whatever_the_days(tenant, now):
    expired = cache_entry(tenant, now - timedelta(hours=1), expires_at=now - SECOND)
    CacheSubject.objects.create(entry=expired, subject="s")
    kept = cache_entry(tenant, now - timedelta(hours=1), expires_at=now + SECOND)
    retention_enforce(now=now)
    assert remaining(kept) == [kept.pk]
    assert not CacheSubject.objects.exists()


def test_failed_receipts_without_completion_count_from_receipt(tenant, now):
    due = cutoff(now, "receipts")
    old = receipt(tenant, due - SECOND, status=ErasureRequest.Status.FAILED, completed=False)
    young = receipt(tenant, due + SECOND, status=ErasureRequest.Status.FAILED, completed=False)
    retention_enforce(now=now)
    assert remaining(old) == [young.pk]


@pytest.mark.parametrize("status", ["received", "verified", "executing"])
def test_unfinished_erasure_requests_are_kept(tenant, now, status):
    pending = receipt(tenant, now - timedelta(days=3650), status=status, completed=False)
    retention_enforce(now=now)
    assert remaining(pending) == [pending.pk]


def test_rows_of_no_tenant_follow_the_defaults(tenant, now):
    old = request_log(None, cutoff(now, "request_logs") - SECOND)
    young = request_log(None, cutoff(now, "request_logs") + SECOND)
    report = retention_enforce(now=now)
    assert remaining(old) == [young.pk]
    assert report.deleted[("(none)", "request_logs")] == 1


def test_a_tenants_rule_overrides_the_default(tenant, now):
    RetentionRule.objects.create(tenant=tenant, data_class="request_logs", days=2)
    young_by_default = request_log(tenant, now - timedelta(days=3))
    retention_enforce(now=now)
    assert remaining(young_by_default) == []


def test_a_tenants_rule_does_not_reach_other_tenants(tenant, other_tenant, now):
    RetentionRule.objects.create(tenant=tenant, data_class="request_logs", days=2)
    others = request_log(other_tenant, now - timedelta(days=3))
    retention_enforce(now=now)
    assert remaining(others) == [others.pk]


def test_expired_audit_segments_are_deleted_and_young_entries_kept(tenant, now):
    due = cutoff(now, "audit_trail")
    for at in (due - 2 * SECOND, due - SECOND, due + SECOND, due + 2 * SECOND):
        audit_append(action="test", now=at)  # a checkpoint every second entry
    report = retention_enforce(now=now)
    assert report.deleted[("(all)", "audit_trail")] == 2
    assert list(AuditEntry.objects.filter(action="test").values_list("seq", flat=True)) == [3, 4]


def test_the_audit_trail_is_kept_for_the_longest_tenant_rule(tenant, now):
    RetentionRule.objects.create(tenant=tenant, data_class="audit_trail", days=365)
    for _ in range(2):
        audit_append(action="test", now=now - timedelta(days=100))
    retention_enforce(now=now)
    assert AuditEntry.objects.filter(action="test").count() == 2


def test_expired_api_tokens_are_deleted(make_user, now):
    user = make_user()
    tokens = {}
    for name, expiry in (("expired", now - SECOND), ("valid", now + SECOND), ("forever", None)):
        token, _ = AuthToken.objects.create(user=user)
        AuthToken.objects.filter(pk=token.pk).update(expiry=expiry)
        tokens[name] = token.pk
    report = retention_enforce(now=now)
    assert set(AuthToken.objects.values_list("pk", flat=True)) == {
        tokens["valid"],
        tokens["forever"],
    }
    assert report.deleted[("(all)", "api_tokens")] == 1


def _rows_of_every_class(tenant, now) -> None:
    for data_class, make in MAKERS.items():
        make(tenant, cutoff(now, data_class) - SECOND)
        make(tenant, cutoff(now, data_class) + SECOND)
    for _ in range(3):
        audit_append(action="test", now=cutoff(now, "audit_trail") - SECOND)


def _row_counts() -> list[int]:
    models = (RequestLog, ArchiveEntry, CacheEntry, Job, ErasureRequest, AuditEntry)
    return [model.objects.count() for model in models]


def test_a_dry_run_deletes_nothing(tenant, now):
    _rows_of_every_class(tenant, now)
    before = _row_counts()
    retention_enforce(now=now, dry_run=True)
    assert _row_counts() == before


def test_a_dry_run_reports_what_a_real_run_deletes(tenant, now):
    _rows_of_every_class(tenant, now)
    dry = retention_enforce(now=now, dry_run=True)
    real = retention_enforce(now=now)
    assert dry.deleted == real.deleted
    assert dry.total == real.total == 7  # one row of each class, and the audit trail's 2


def test_a_dry_run_counts_a_cache_entry_past_both_limits_once(tenant, now):
    cache_entry(tenant, cutoff(now, "cache") - SECOND, expires_at=now - SECOND)
    report = retention_enforce(now=now, dry_run=True)
    assert report.deleted[("acme", "cache")] == 1


def test_batches_are_bounded(tenant, now):
    for _ in range(10):
        request_log(tenant, cutoff(now, "request_logs") - SECOND)
    batches = []
    retention_enforce(
        now=now,
        batch_size=3,
        on_progress=lambda label, rows: batches.append((label, rows)),
    )
    assert batches == [("acme/request_logs", rows) for rows in (3, 3, 3, 1)]


def test_a_run_leaves_an_audit_entry_with_counts_per_class(tenant, now):
    request_log(tenant, cutoff(now, "request_logs") - SECOND)
    archive_entry(tenant, cutoff(now, "archive") - SECOND)
    retention_enforce(now=now)
    entry = AuditEntry.objects.get(action="retention.run")
    assert entry.details["deleted"]["request_logs"] == 1
    assert entry.details["deleted"]["archive"] == 1
    assert entry.details["deleted"]["jobs"] == 0


def test_a_dry_run_leaves_no_audit_entry(tenant, now):
    request_log(tenant, cutoff(now, "request_logs") - SECOND)
    retention_enforce(now=now, dry_run=True)
    assert not AuditEntry.objects.exists()
