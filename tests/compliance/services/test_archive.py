"""The archive: sealed storage, lossless bytes, who may read it and why, and subject requests."""

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from compliance.models import ArchiveEntry, AuditEntry
from compliance.services.archive import (
    archive_count,
    archive_erase,
    archive_export,
    archive_read,
    archive_store,
)
from compliance.services.keys import SealBroken, data_key_destroy
from portal.errors import ApiError
from portal.models import Tenant
from portal.roles import Role

pytestmark = pytest.mark.django_db

SUBJECT = "5" * 32
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\x00"
EXCHANGE = {
    "input": {"prompt": "Röntgenbild von Patient 7 beschreiben", "image": PNG},
    "output": {"text": "No fracture.", "frames": [b"\x00\x01", {"pcm": b"\xff\xfe"}]},
}


@pytest.fixture(autouse=True)
def keyring(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MASTER_KEYS = ""


@pytest.fixture
def officer(make_user):
    return make_user("officer", Role.COMPLIANCE_OFFICER)


def _store(tenant, exchange=EXCHANGE, subject=SUBJECT, request_id="req1", model="tiny-vit"):
    return archive_store(
        tenant_id=tenant.id,
        subject=subject,
        request_id=request_id,
        endpoint="/api/v1/images/classify",
        model=model,
        task="image-classification",
        exchange=exchange,
        now=NOW,
    )


def test_store_keeps_the_metadata_and_seals_the_exchange(tenant, settings):
    entry = _store(tenant)
    entry.refresh_from_db()
    assert (entry.tenant_id, entry.subject, entry.request_id) == (tenant.id, SUBJECT, "req1")
    assert (entry.model, entry.created_at, entry.region) == (
        "tiny-vit",
        NOW,
        settings.PORTAL_REGION,
    )
    assert entry.size_bytes == len(entry.sealed) - 12 - 16  # the plaintext, without nonce and tag
    assert b"Patient" not in bytes(entry.sealed) and PNG not in bytes(entry.sealed)


def test_read_returns_the_exchange_with_bytes_as_bytes(tenant, officer):
    entry = _store(tenant)
    assert archive_read(actor=officer, entry_id=entry.id, reason="quality review") == EXCHANGE


def test_values_that_look_like_the_encodings_tags_come_back_unchanged(tenant, officer):
    exchange = {
        "input": {"$bytes": "aGVsbG8="},
        "output": {"$dict": {"$bytes": b"raw"}, "list": [{"$dict": 1}], "empty": {}},
    }
    entry = _store(tenant, exchange=exchange)
    assert archive_read(actor=officer, entry_id=entry.id, reason="check") == exchange


def test_sealed_under_its_request_so_a_blob_moved_to_another_row_does_not_open(tenant, officer):
    first, second = _store(tenant, request_id="req1"), _store(tenant, request_id="req2")
    ArchiveEntry.objects.filter(id=second.id).update(sealed=first.sealed)
    with pytest.raises(SealBroken):
        archive_read(actor=officer, entry_id=second.id, reason="check")


@pytest.mark.parametrize(
    ("role", "own_tenant", "may_read"),
    [
        (Role.COMPLIANCE_OFFICER, True, True),
        (Role.ADMIN, False, True),
        (Role.COMPLIANCE_OFFICER, False, False),
        (Role.AUDITOR, True, False),
        (Role.END_USER, True, False),
        (Role.API_USER, True, False),
    ],
)
def test_who_may_read_an_entry(tenant, make_user, role, own_tenant, may_read):
    other = Tenant.objects.create(slug="other", name="Other Bank")
    reader = make_user("reader", role, tenant if own_tenant else other)
    entry = _store(tenant)
    if may_read:
        assert archive_read(actor=reader, entry_id=entry.id, reason="review") == EXCHANGE
    else:
        with pytest.raises(ApiError) as error:
            archive_read(actor=reader, entry_id=entry.id, reason="review")
        assert error.value.code == "not_found"
        assert not AuditEntry.objects.filter(action="archive.read").exists()


def test_an_entry_that_does_not_exist_is_not_found(officer):
    with pytest.raises(ApiError) as error:
        archive_read(actor=officer, entry_id=999_999, reason="review")
    assert error.value.code == "not_found"


def test_a_read_leaves_an_audit_entry_with_the_reason(tenant, officer):
    entry = _store(tenant)
    archive_read(actor=officer, entry_id=entry.id, reason="  complaint #12 from the patient  ")
    audit = AuditEntry.objects.get(action="archive.read")
    assert (audit.actor_id, audit.tenant_id) == (officer.id, tenant.id)
    assert audit.target == f"archive:{entry.id}"
    assert audit.details == {"reason": "complaint #12 from the patient"}


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_read_needs_a_reason_of_1_to_500_characters(tenant, officer, reason):
    entry = _store(tenant)
    with pytest.raises(ApiError) as error:
        archive_read(actor=officer, entry_id=entry.id, reason=reason)
    assert (error.value.code, error.value.param) == ("invalid_request", "reason")
    assert not AuditEntry.objects.filter(action="archive.read").exists()


def test_an_entry_of_an_erased_subject_is_not_found(tenant, officer):
    entry = _store(tenant)
    data_key_destroy(subject=SUBJECT)
    with pytest.raises(ApiError) as error:
        archive_read(actor=officer, entry_id=entry.id, reason="review")
    assert error.value.code == "not_found"


def test_export_gives_every_exchange_as_json_with_bytes_in_base64(tenant):
    _store(tenant, request_id="req1")
    _store(tenant, request_id="req2")
    _store(tenant, subject="6" * 32)
    exported = json.loads(json.dumps(archive_export(SUBJECT)))
    assert [row["request_id"] for row in exported] == ["req1", "req2"]
    assert exported[0]["model"] == "tiny-vit" and exported[0]["created_at"] == NOW.isoformat()
    assert base64.b64decode(exported[0]["exchange"]["input"]["image"]) == PNG
    assert exported[0]["exchange"]["output"]["text"] == "No fracture."


def test_erase_deletes_the_subjects_entries_only(tenant):
    _store(tenant, request_id="req1")
    _store(tenant, request_id="req2")
    _store(tenant, subject="6" * 32)
    assert (archive_count(SUBJECT), archive_erase(SUBJECT)) == (2, 2)
    assert (archive_count(SUBJECT), archive_count("6" * 32)) == (0, 1)


@pytest.mark.django_db(transaction=True)
def test_no_plaintext_reaches_the_database_file(tenant):
    canary = f"CANARY-{uuid.uuid4().hex}"
    canary_bytes = uuid.uuid4().bytes * 4
    model = f"model-{uuid.uuid4().hex}"  # stored in the clear: shows the right file was read
    exchange = {"input": {"prompt": canary, "audio": canary_bytes}, "output": {"text": canary}}
    _store(tenant, exchange=exchange, model=model)
    path = connection.settings_dict["NAME"]
    connection.close()
    on_disk = b"".join(
        Path(f"{path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{path}{suffix}").exists()
    )
    assert model.encode() in on_disk
    assert canary.encode() not in on_disk
    assert canary_bytes not in on_disk and base64.b64encode(canary_bytes) not in on_disk
