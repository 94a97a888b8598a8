"""Crypto-shredding keys: sealing, what refuses to open, first use, rotation and retirement."""

import base64
import os
import stat
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from compliance.models import AuditEntry, DataKey
from compliance.services.keys import (
    KeyDestroyed,
    SealBroken,
    content_open,
    content_seal,
    data_key_count,
    data_key_destroy,
    data_key_export,
    master_key_id,
    master_key_rotate,
    master_keys_retire,
)

pytestmark = pytest.mark.django_db

ALICE = "a" * 32
BOB = "b" * 32
CONTEXT = "archive:req-1"


@pytest.fixture(autouse=True)
def keyring(settings, tmp_path):
    """A fresh keyring file of each test's own."""
    settings.VAR_DIR = tmp_path
    settings.MASTER_KEYS = ""
    return tmp_path / "master_keys"


def _seal(tenant, plaintext=b"scan of patient 7", subject=ALICE, context=CONTEXT):
    return content_seal(subject=subject, tenant_id=tenant.id, plaintext=plaintext, context=context)


def _keyring_ids(path) -> list[str]:
    return [master_key_id(base64.b64decode(line)) for line in path.read_text().split()]


def _b64_key() -> tuple[str, bytes]:
    key = os.urandom(32)
    return base64.b64encode(key).decode(), key


def test_text_round_trips(tenant):
    text = "Diagnose: Lungenentzündung, Patient 7".encode()
    assert content_open(subject=ALICE, sealed=_seal(tenant, text), context=CONTEXT) == text


def test_bytes_round_trip(tenant):
    data = bytes(range(256)) * 100
    assert content_open(subject=ALICE, sealed=_seal(tenant, data), context=CONTEXT) == data


def test_sealed_is_nonce_then_ciphertext_and_tag(tenant):
    sealed = _seal(tenant, b"x" * 100)
    assert len(sealed) == 12 + 100 + 16 and b"x" * 8 not in sealed


def test_first_seal_creates_one_key_wrapped_by_the_newest_master_key(tenant, keyring):
    _seal(tenant)
    _seal(tenant)
    key = DataKey.objects.get()
    assert key.subject == ALICE and key.tenant_id == tenant.id
    assert key.master_key_id == _keyring_ids(keyring)[0]


def test_the_keyring_file_is_generated_readable_by_its_owner_only(tenant, keyring):
    _seal(tenant)
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert len(_keyring_ids(keyring)) == 1


@pytest.mark.parametrize("position", [0, 11, 12, 20, -16, -1], ids=lambda p: f"byte {p}")
def test_a_flipped_byte_in_nonce_body_or_tag_breaks_the_seal(tenant, position):
    sealed = bytearray(_seal(tenant, b"account 4711 balance 1000"))
    sealed[position] ^= 0x01
    with pytest.raises(SealBroken):
        content_open(subject=ALICE, sealed=bytes(sealed), context=CONTEXT)


def test_a_truncated_seal_is_broken(tenant):
    with pytest.raises(SealBroken):
        content_open(subject=ALICE, sealed=_seal(tenant)[:27], context=CONTEXT)


def test_another_context_cannot_open(tenant):
    sealed = _seal(tenant)
    with pytest.raises(SealBroken):
        content_open(subject=ALICE, sealed=sealed, context="archive:req-2")


def test_another_subject_cannot_open(tenant):
    sealed = _seal(tenant)
    _seal(tenant, subject=BOB)
    with pytest.raises(SealBroken):
        content_open(subject=BOB, sealed=sealed, context=CONTEXT)


def test_a_destroyed_key_opens_nothing_even_in_the_process_that_used_it(tenant):
    sealed = _seal(tenant)
    content_open(subject=ALICE, sealed=sealed, context=CONTEXT)
    data_key_destroy(subject=ALICE)
    with pytest.raises(KeyDestroyed):
        content_open(subject=ALICE, sealed=sealed, context=CONTEXT)


def test_destroy_returns_the_fingerprint_of_the_key_it_deleted(tenant):
    _seal(tenant)
    fingerprint = data_key_destroy(subject=ALICE)
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    assert data_key_count(ALICE) == 0


def test_destroying_a_key_that_does_not_exist_returns_nothing(tenant):
    assert data_key_destroy(subject=ALICE) == ""


def test_a_tampered_wrapped_key_does_not_unwrap(tenant):
    sealed = _seal(tenant)
    key = DataKey.objects.get()
    wrapped = bytearray(key.wrapped)
    wrapped[-1] ^= 0x01
    DataKey.objects.filter(id=key.id).update(wrapped=bytes(wrapped))
    with pytest.raises(SealBroken):
        content_open(subject=ALICE, sealed=sealed, context=CONTEXT)


def test_a_key_moved_to_another_subject_does_not_unwrap(tenant):
    sealed = _seal(tenant)
    DataKey.objects.filter(subject=ALICE).update(subject=BOB)
    with pytest.raises(SealBroken):
        content_open(subject=BOB, sealed=sealed, context=CONTEXT)


def test_count_and_export_show_the_key_but_not_its_bytes(tenant, keyring):
    _seal(tenant)
    exported = data_key_export(ALICE)
    assert data_key_count(ALICE) == 1
    assert [set(row) for row in exported] == [{"created_at", "master_key_id"}]
    assert exported[0]["master_key_id"] == _keyring_ids(keyring)[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_use_creates_one_key(tenant):
    barrier = threading.Barrier(8)
    sealed, errors = [], []

    def first_use(index: int) -> None:
        try:
            barrier.wait()
            sealed.append(_seal(tenant, f"message {index}".encode()))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and DataKey.objects.count() == 1
    opened = {content_open(subject=ALICE, sealed=s, context=CONTEXT) for s in sealed}
    assert opened == {f"message {i}".encode() for i in range(8)}


def test_rotation_rewraps_every_data_key_under_a_new_master_key(tenant, keyring):
    sealed = {subject: _seal(tenant, subject=subject) for subject in ("1" * 32, "2" * 32, "3" * 32)}
    old_id = _keyring_ids(keyring)[0]
    report = master_key_rotate(batch_size=2)
    assert _keyring_ids(keyring) == [report.master_key_id, old_id]
    assert (report.rewrapped, report.keyring) == (3, "file")
    assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {report.master_key_id}
    for subject, blob in sealed.items():
        assert content_open(subject=subject, sealed=blob, context=CONTEXT) == b"scan of patient 7"


def test_new_data_keys_are_wrapped_by_the_rotated_key(tenant):
    report = master_key_rotate()
    _seal(tenant)
    assert DataKey.objects.get().master_key_id == report.master_key_id


def test_rotation_leaves_an_audit_entry(tenant):
    _seal(tenant)
    report = master_key_rotate(actor_id=42)
    entry = AuditEntry.objects.get(action="keys.rotate")
    assert (entry.actor_id, entry.target) == (42, f"master_key:{report.master_key_id}")
    assert entry.details == {"keyring": "file", "rewrapped": 1}


def test_retire_drops_the_master_keys_that_wrap_nothing(tenant, keyring):
    sealed = _seal(tenant)
    old_id = _keyring_ids(keyring)[0]
    report = master_key_rotate()
    assert master_keys_retire(actor_id=42) == [old_id]
    assert _keyring_ids(keyring) == [report.master_key_id]
    assert content_open(subject=ALICE, sealed=sealed, context=CONTEXT) == b"scan of patient 7"


def test_retire_leaves_an_audit_entry(tenant, keyring):
    _seal(tenant)
    old_id = _keyring_ids(keyring)[0]
    master_key_rotate()
    master_keys_retire(actor_id=42)
    entry = AuditEntry.objects.get(action="keys.retire")
    assert (entry.actor_id, entry.details) == (42, {"retired": [old_id]})


def test_a_keyring_of_only_the_retired_key_opens_nothing(tenant, keyring):
    sealed = _seal(tenant)
    retired_keyring = keyring.read_text()  # as a backup taken before the rotation holds it
    master_key_rotate()
    master_keys_retire()
    keyring.write_text(retired_keyring)
    with pytest.raises(SealBroken):
        content_open(subject=ALICE, sealed=sealed, context=CONTEXT)


def test_retire_keeps_a_master_key_that_still_wraps_a_data_key(tenant, keyring):
    _seal(tenant)
    old = keyring.read_text()
    keyring.write_text(base64.b64encode(os.urandom(32)).decode() + "\n" + old)  # no re-wrap
    assert master_keys_retire() == []
    assert len(_keyring_ids(keyring)) == 2


def test_retire_refuses_a_keyring_from_the_environment(settings):
    settings.MASTER_KEYS = _b64_key()[0]
    with pytest.raises(ImproperlyConfigured):
        master_keys_retire()


def test_environment_rotation_rewraps_under_the_key_the_operator_put_first(
    tenant, settings, keyring
):
    (old, _), (new, new_key) = _b64_key(), _b64_key()
    settings.MASTER_KEYS = old
    sealed = _seal(tenant)
    settings.MASTER_KEYS = f"{new},{old}"
    report = master_key_rotate()
    assert (report.master_key_id, report.rewrapped) == (master_key_id(new_key), 1)
    settings.MASTER_KEYS = new  # the operator drops the old key
    assert content_open(subject=ALICE, sealed=sealed, context=CONTEXT) == b"scan of patient 7"
    assert not keyring.exists()


def test_an_unknown_master_key_breaks_the_seal(tenant, settings):
    settings.MASTER_KEYS = _b64_key()[0]
    sealed = _seal(tenant)
    settings.MASTER_KEYS = _b64_key()[0]
    with pytest.raises(SealBroken):
        content_open(subject=ALICE, sealed=sealed, context=CONTEXT)


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_environment_key_is_refused(tenant, settings, value):
    settings.MASTER_KEYS = value
    with pytest.raises(ImproperlyConfigured):
        _seal(tenant)
