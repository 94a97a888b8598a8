"""Erasure: its states, every store emptied through the registry, crash and resume, and the
signed receipt."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance import stores
from compliance.models import AuditEntry, ErasureRequest, RequestLog
from compliance.services.archive import archive_store
from compliance.services.audit import audit_chain_verify
from compliance.services.cache import cache_key, cache_store
from compliance.services.erasure import (
    erasure_execute,
    erasure_list,
    erasure_request_create,
    receipt_document,
    receipt_verify,
)
from compliance.services.keys import KeyDestroyed, content_open
from compliance.services.request_log import ERASED_SUBJECT, RequestLogEntry, request_log_write
from compliance.services.subjects import subject_pseudonym_get
from compliance.stores import PersonalDataStore, store_list
from portal.errors import ApiError

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def subject(tenant):
    """A subject with a log row, an archived exchange and a cache entry."""
    pseudonym = subject_pseudonym_get(tenant_id=tenant.id, reference="user:42")
    request_log_write(
        RequestLogEntry(
            request_id="r1",
            created_at=NOW,
            endpoint="/v1/completions",
            status_code=200,
            tenant_id=tenant.id,
            subject=pseudonym,
        )
    )
    archive_store(
        tenant_id=tenant.id,
        subject=pseudonym,
        request_id="r1",
        endpoint="/v1/completions",
        model="tiny-chat",
        task="text-generation",
        exchange={"input": {"prompt": "my diagnosis"}, "output": {"text": "ok"}},
        now=NOW,
    )
    key = cache_key(tenant_id=tenant.id, model="tiny-chat", model_version="v", request={"p": 1})
    cache_store(
        tenant_id=tenant.id,
        key_digest=key,
        model="tiny-chat",
        subject=pseudonym,
        payload=b"{}",
        ttl_seconds=60,
        now=NOW,
    )
    return pseudonym


def _request(tenant, subject, *, verified=True):
    return erasure_request_create(
        tenant_id=tenant.id,
        subject=subject,
        channel=ErasureRequest.Channel.SELF,
        requested_by_id=7,
        verified=verified,
        now=NOW,
    )


def test_a_verified_request_empties_every_store(tenant, subject):
    erasure = erasure_execute(erasure_id=_request(tenant, subject).id)
    assert erasure.status == ErasureRequest.Status.COMPLETED
    assert {store.name: store.count(subject) for store in store_list()} == {
        store.name: 0 for store in store_list()
    }
    assert erasure.removed["keys"] == 1 and erasure.removed["archive"] == 1
    assert erasure.removed["cache"] == 1 and erasure.removed["request_logs"] == 1


def test_log_rows_keep_their_metadata_without_the_subject(tenant, subject):
    erasure_execute(erasure_id=_request(tenant, subject).id)
    row = RequestLog.objects.get(request_id="r1")
    assert row.subject == ERASED_SUBJECT and row.endpoint == "/v1/completions"


def test_a_copy_of_sealed_content_is_unreadable_after_erasure(tenant, subject):
    from compliance.models import ArchiveEntry

    backup = bytes(ArchiveEntry.objects.get().sealed)
    erasure_execute(erasure_id=_request(tenant, subject).id)
    with pytest.raises(KeyDestroyed):
        content_open(subject=subject, sealed=backup, context="archive:r1")


def test_the_lifecycle_is_on_the_audit_trail(tenant, subject):
    erasure_execute(erasure_id=_request(tenant, subject).id)
    actions = list(
        AuditEntry.objects.filter(action__startswith="erasure.").values_list("action", flat=True)
    )
    assert actions[:3] == ["erasure.received", "erasure.verified", "erasure.executing"]
    assert actions[-1] == "erasure.completed"
    assert actions.count("erasure.step") == len(store_list())
    assert audit_chain_verify().ok


def test_an_unverified_request_does_not_run(tenant, subject):
    erasure = _request(tenant, subject, verified=False)
    with pytest.raises(ApiError):
        erasure_execute(erasure_id=erasure.id)
    assert subject_pseudonym_get(tenant_id=tenant.id, reference="user:42") == subject


def test_running_a_completed_request_again_changes_nothing(tenant, subject):
    first = erasure_execute(erasure_id=_request(tenant, subject).id)
    again = erasure_execute(erasure_id=first.id)
    assert again.receipt == first.receipt and again.receipt_signature == first.receipt_signature


class Crash(BaseException):
    """A process killed mid-run: nothing catches it, nothing records it."""


def test_a_run_killed_between_steps_completes_when_run_again(tenant, subject, monkeypatch):
    crashes = iter([True])

    def crash_once(pseudonym: str) -> int:
        if next(crashes, False):
            raise Crash
        return 0

    monkeypatch.setitem(
        stores._stores,
        "crashing",
        PersonalDataStore(
            name="crashing",
            models=(),
            count=lambda s: 0,
            export=lambda s: [],
            erase=crash_once,
            order=35,
        ),
    )
    erasure = _request(tenant, subject)
    with pytest.raises(Crash):
        erasure_execute(erasure_id=erasure.id)
    cut = ErasureRequest.objects.get(id=erasure.id)
    assert cut.status == ErasureRequest.Status.EXECUTING
    assert cut.steps_done == ["keys", "cache", "archive"]
    done = erasure_execute(erasure_id=erasure.id)
    assert done.status == ErasureRequest.Status.COMPLETED
    assert done.removed == {
        "keys": 1,
        "cache": 1,
        "archive": 1,
        "crashing": 0,
        "jobs": 0,
        "request_logs": 1,
        "subject_mapping": 1,
    }
    assert all(store.count(subject) == 0 for store in store_list())


def test_a_failing_store_fails_the_request_with_its_reason(tenant, subject, monkeypatch):
    def broken(pseudonym: str) -> int:
        raise OSError

    monkeypatch.setitem(
        stores._stores,
        "broken",
        PersonalDataStore(
            name="broken", models=(), count=lambda s: 0, export=lambda s: [], erase=broken
        ),
    )
    erasure = _request(tenant, subject)
    with pytest.raises(OSError):
        erasure_execute(erasure_id=erasure.id)
    failed = ErasureRequest.objects.get(id=erasure.id)
    assert failed.status == ErasureRequest.Status.FAILED and "OSError" in failed.failure_reason
    assert AuditEntry.objects.filter(action="erasure.failed").exists()


def test_the_receipt_is_signed_and_a_changed_byte_fails(tenant, subject):
    document = receipt_document(erasure_execute(erasure_id=_request(tenant, subject).id))
    assert receipt_verify(document)
    text = json.dumps(document)
    changed = json.loads(text.replace('"removed": 1', '"removed": 2', 1))
    assert not receipt_verify(changed)
    forged = {**document, "signature": "00" * 64}
    assert not receipt_verify(forged)


def test_the_receipt_says_what_was_removed_and_holds_no_identity(tenant, subject):
    receipt = erasure_execute(erasure_id=_request(tenant, subject).id).receipt
    assert receipt["subject"] == subject
    assert {item["name"]: item["removed"] for item in receipt["stores"]}["archive"] == 1
    assert len(receipt["destroyed_key_fingerprint"]) == 64
    assert receipt["audit_chain_head"]["seq"] > 0
    assert "until" in receipt["backups"]
    assert "user:42" not in json.dumps(receipt)


def test_a_request_open_past_its_deadline_is_overdue(tenant, subject):
    erasure = _request(tenant, subject, verified=False)
    later = NOW + timedelta(days=31)
    assert erasure_list(tenant_ids=[tenant.id], now=later).get(id=erasure.id).overdue
    assert not erasure_list(tenant_ids=[tenant.id], now=NOW).get(id=erasure.id).overdue
