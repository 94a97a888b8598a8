import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from compliance.models import AuditCheckpoint, AuditEntry
from compliance.services.audit import (
    GENESIS_HASH,
    audit_append,
    audit_chain_verify,
    audit_entry_hash,
    audit_expire,
    audit_head,
    audit_list,
)
from compliance.services.signing import signature_valid

START = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def audit_settings(settings, tmp_path):
    settings.SIGNING_KEY_FILE = tmp_path / "k.pem"
    settings.AUDIT_CHECKPOINT_EVERY = 10


def _append_many(count: int) -> list[AuditEntry]:
    """Entries one minute apart, each with its own actor, tenant and details."""
    first = audit_head()[0] + 1
    return [
        audit_append(
            action="request_log.export",
            actor_id=seq,
            tenant_id=seq % 3 + 1,
            target=f"subject:{seq}",
            details={"amount": 100, "seq": seq},
            now=START + timedelta(minutes=seq),
        )
        for seq in range(first, first + count)
    ]


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _broken_at(seq: int, problem: str) -> None:
    result = audit_chain_verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, seq, problem)


# Appending


@pytest.mark.django_db
def test_first_entry_links_to_genesis():
    assert audit_append(action="login").prev_hash == GENESIS_HASH


@pytest.mark.django_db
def test_each_entry_links_to_the_one_before():
    entries = _append_many(3)
    assert [e.prev_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    assert [e.seq for e in entries] == [1, 2, 3]


@pytest.mark.django_db
def test_entry_hash_is_sha256_of_the_documented_canonical_json():
    entry = audit_append(
        action="erasure_request.create",
        actor_id=7,
        tenant_id=2,
        target="subject:ab",
        details={"b": "é", "a": [1, 2]},
        now=START,
    )
    canonical = (
        '[1,"2026-03-01T09:00:00.123456+00:00",7,2,"erasure_request.create","subject:ab",'
        '{"a":[1,2],"b":"\\u00e9"},"' + GENESIS_HASH + '"]'
    )
    assert entry.entry_hash == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.django_db
def test_entry_hash_matches_the_row_read_back():
    entry = audit_append(action="login", details={"ids": (1, 2), 3: "three"}, now=START)
    row = AuditEntry.objects.values().get(seq=entry.seq)
    del row["id"], row["entry_hash"]
    assert audit_entry_hash(**row) == entry.entry_hash


@pytest.mark.django_db
def test_time_is_stored_in_utc():
    paris = START.astimezone(datetime.fromisoformat("2026-03-01T00:00:00+01:00").tzinfo)
    entry = audit_append(action="login", now=paris)
    assert AuditEntry.objects.get(seq=entry.seq).created_at == START
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError):
        audit_append(action="login", details={"score": float("nan")})
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_every_tenth_entry_gets_a_signed_checkpoint():
    entries = _append_many(25)
    checkpoints = list(AuditCheckpoint.objects.values_list("seq", "entry_hash", "signature"))
    assert [(seq, entry_hash) for seq, entry_hash, _ in checkpoints] == [
        (10, entries[9].entry_hash),
        (20, entries[19].entry_hash),
    ]
    assert all(signature_valid(f"{s}:{h}".encode(), sig) for s, h, sig in checkpoints)


@pytest.mark.django_db
def test_entry_rolls_back_with_the_callers_transaction():
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        audit_append(action="erasure_request.create")
        raise Abort
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_head_of_an_empty_trail_is_genesis():
    assert audit_head() == (0, GENESIS_HASH)


@pytest.mark.django_db
def test_head_is_the_newest_entry():
    newest = _append_many(3)[-1]
    assert audit_head() == (3, newest.entry_hash)


@pytest.mark.django_db
def test_entry_survives_deleting_the_user_it_names(make_user):
    user = make_user("bob")
    user_id = user.id
    entry = audit_append(action="user.delete", actor_id=user_id, target=f"user:{user_id}")
    user.delete()
    assert AuditEntry.objects.get(seq=entry.seq).actor_id == user_id
    assert audit_chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_one_unbroken_chain():
    def writer(number: int) -> None:
        try:
            for i in range(10):
                audit_append(action="login", actor_id=number, details={"i": i})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(writer, n) for n in range(8)]:
            future.result()
    result = audit_chain_verify()
    assert (result.ok, result.entries_checked, result.checkpoints_checked) == (True, 80, 8)


# Verifying


@pytest.mark.django_db
def test_empty_trail_verifies():
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_intact_chain_verifies_across_chunks():
    _append_many(25)
    result = audit_chain_verify(chunk_size=7)
    assert (result.ok, result.entries_checked, result.checkpoints_checked) == (True, 25, 2)
    assert (result.first_broken_seq, result.problem) == (None, "")


@pytest.mark.django_db
def test_changed_action_byte_is_detected():
    _append_many(25)
    _sql("UPDATE compliance_auditentry SET action = 'request_log.exporu' WHERE seq = 17")
    _broken_at(17, "entry 17 was changed")


@pytest.mark.django_db
def test_changed_details_byte_is_detected():
    _append_many(25)
    _sql(
        "UPDATE compliance_auditentry SET details = %s WHERE seq = 17",
        [json.dumps({"amount": 101, "seq": 17})],
    )
    _broken_at(17, "entry 17 was changed")


@pytest.mark.django_db
def test_changed_created_at_is_detected():
    _append_many(25)
    moved = START + timedelta(minutes=17, microseconds=1)
    _sql(
        "UPDATE compliance_auditentry SET created_at = %s WHERE seq = 17",
        [connection.ops.adapt_datetimefield_value(moved)],
    )
    _broken_at(17, "entry 17 was changed")


@pytest.mark.django_db
def test_changed_actor_is_detected():
    _append_many(25)
    _sql("UPDATE compliance_auditentry SET actor_id = actor_id + 1 WHERE seq = 17")
    _broken_at(17, "entry 17 was changed")


@pytest.mark.django_db
def test_deleted_middle_entry_is_detected():
    _append_many(25)
    _sql("DELETE FROM compliance_auditentry WHERE seq = 5")
    _broken_at(5, "entry 5 is missing")


@pytest.mark.django_db
def test_deleted_and_renumbered_entry_is_detected():
    _append_many(25)
    _sql("DELETE FROM compliance_auditentry WHERE seq = 5")
    _sql("UPDATE compliance_auditentry SET seq = seq + 999 WHERE seq > 5")
    _sql("UPDATE compliance_auditentry SET seq = seq - 1000 WHERE seq > 1000")
    _broken_at(5, "entry 5 is missing")


@pytest.mark.django_db
def test_swapped_entries_are_detected():
    _append_many(25)
    _sql("UPDATE compliance_auditentry SET seq = 1000 WHERE seq = 4")
    _sql("UPDATE compliance_auditentry SET seq = 4 WHERE seq = 7")
    _sql("UPDATE compliance_auditentry SET seq = 7 WHERE seq = 1000")
    _broken_at(4, "entries 4 and 7 are out of order")


@pytest.mark.django_db
def test_inserted_entry_is_detected():
    _append_many(25)
    _sql("UPDATE compliance_auditentry SET seq = seq + 1000 WHERE seq >= 8")
    _sql("UPDATE compliance_auditentry SET seq = seq - 999 WHERE seq > 1000")
    forged = AuditEntry(
        seq=8,
        created_at=START,
        action="login",
        details={},
        prev_hash="f" * 64,
        entry_hash="e" * 64,
    )
    forged.save()
    _broken_at(8, "an entry was inserted before 8")


@pytest.mark.django_db
def test_tail_cut_below_a_checkpoint_is_detected():
    _append_many(25)
    _sql("DELETE FROM compliance_auditentry WHERE seq > 15")
    _broken_at(16, "the chain ends at 15 but checkpoint 20 was signed")


@pytest.mark.django_db
def test_forged_checkpoint_signature_is_detected():
    _append_many(25)
    signature = AuditCheckpoint.objects.get(seq=20).signature
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    _sql("UPDATE compliance_auditcheckpoint SET signature = %s WHERE seq = 20", [forged])
    _broken_at(20, "checkpoint 20 has a bad signature")


@pytest.mark.django_db
def test_chain_rewritten_from_an_entry_on_is_caught_by_the_next_checkpoint():
    _append_many(25)
    prev_hash = AuditEntry.objects.get(seq=12).entry_hash
    for row in AuditEntry.objects.filter(seq__gte=13).values():
        del row["id"], row["entry_hash"]
        row.update(prev_hash=prev_hash, action="rewritten" if row["seq"] == 13 else row["action"])
        prev_hash = audit_entry_hash(**row)
        _sql(
            "UPDATE compliance_auditentry SET action = %s, prev_hash = %s, entry_hash = %s "
            "WHERE seq = %s",
            [row["action"], row["prev_hash"], prev_hash, row["seq"]],
        )
    _broken_at(20, "entry 20 differs from its signed checkpoint")


# Expiring


def _expire_before_entry(seq: int, **options) -> int:
    return audit_expire(before=START + timedelta(minutes=seq), **options)


@pytest.mark.django_db
def test_expire_removes_whole_segments_older_than_the_cutoff():
    _append_many(35)
    assert _expire_before_entry(25) == 20
    assert AuditEntry.objects.order_by("seq").first().seq == 21


@pytest.mark.django_db
def test_expire_keeps_the_checkpoints():
    _append_many(35)
    _expire_before_entry(25)
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [10, 20, 30]


@pytest.mark.django_db
def test_chain_stays_verifiable_after_expire():
    _append_many(35)
    _expire_before_entry(25)
    result = audit_chain_verify()
    assert (result.ok, result.entries_checked) == (True, 16)  # 21-35 and the expire entry


@pytest.mark.django_db
def test_expire_records_each_batch_in_the_trail():
    _append_many(35)
    _expire_before_entry(35, batch_size=5)
    expired = audit_list(action="audit.expire")
    assert [e.details for e in reversed(expired)] == [
        {"through_seq": 10, "deleted": 10},
        {"through_seq": 20, "deleted": 10},
        {"through_seq": 30, "deleted": 10},
    ]


@pytest.mark.django_db
def test_expire_never_removes_the_newest_entry():
    _append_many(20)
    assert audit_expire(before=START + timedelta(days=365)) == 10
    assert AuditEntry.objects.filter(seq=20).exists()


@pytest.mark.django_db
def test_expire_without_old_segments_removes_nothing():
    _append_many(15)
    assert _expire_before_entry(5) == 0
    assert AuditEntry.objects.count() == 15


@pytest.mark.django_db
def test_entries_deleted_past_the_retained_checkpoint_are_detected():
    _append_many(35)
    _expire_before_entry(25)
    _sql("DELETE FROM compliance_auditentry WHERE seq <= 22")
    _broken_at(21, "entry 21 is missing")


@pytest.mark.django_db
def test_pruned_prefix_needs_a_valid_checkpoint_signature():
    _append_many(35)
    _expire_before_entry(25)
    _sql("UPDATE compliance_auditcheckpoint SET signature = %s WHERE seq = 20", ["00" * 64])
    _broken_at(20, "checkpoint 20 has a bad signature")


# Listing


@pytest.mark.django_db
def test_list_is_newest_first():
    _append_many(3)
    assert [e.seq for e in audit_list()] == [3, 2, 1]


@pytest.mark.django_db
def test_list_narrows_to_tenants_and_action():
    _append_many(6)
    audit_append(action="login", tenant_id=1)
    assert [e.seq for e in audit_list(tenant_ids=[1, 2])] == [7, 6, 4, 3, 1]
    assert [e.seq for e in audit_list(tenant_ids=[1], action="login")] == [7]
