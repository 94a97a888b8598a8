import hashlib
import multiprocessing
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from compliance.services.signing import (
    public_key_fingerprint,
    public_key_pem,
    signature_create,
    signature_valid,
)


@pytest.fixture(autouse=True)
def key_file(settings, tmp_path):
    settings.SIGNING_KEY_FILE = tmp_path / "k.pem"
    return settings.SIGNING_KEY_FILE


def test_key_is_created_on_first_use_readable_only_by_the_owner(key_file):
    signature_create(b"x")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_signature_verifies_with_the_deployment_key():
    assert signature_valid(b"receipt", signature_create(b"receipt"))


def test_signature_verifies_with_the_published_public_key():
    signature = signature_create(b"receipt")
    assert signature_valid(b"receipt", signature, public_key_pem=public_key_pem())


def test_changed_byte_is_rejected():
    signature = signature_create(b"receipt 100")
    assert not signature_valid(b"receipt 101", signature)


def test_changed_signature_byte_is_rejected():
    signature = signature_create(b"receipt")
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert not signature_valid(b"receipt", forged)


@pytest.mark.parametrize("garbage", ["", "zz", "00", "ab" * 64 + "0", "é"])
def test_garbage_signature_is_rejected_without_raising(garbage):
    assert not signature_valid(b"receipt", garbage)


@pytest.mark.parametrize("garbage", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_garbage_public_key_is_rejected_without_raising(garbage):
    assert not signature_valid(b"receipt", signature_create(b"receipt"), public_key_pem=garbage)


def _public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_another_key_does_not_verify():
    other = _public_pem(Ed25519PrivateKey.generate())
    assert not signature_valid(b"receipt", signature_create(b"receipt"), public_key_pem=other)


def test_an_existing_key_file_is_used_not_replaced(key_file):
    existing = Ed25519PrivateKey.generate()
    key_file.write_bytes(
        existing.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signature = signature_create(b"x")
    assert signature_valid(b"x", signature, public_key_pem=_public_pem(existing))


def test_fingerprint_is_sha256_of_the_raw_public_key():
    key = serialization.load_pem_public_key(public_key_pem().encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public_key_fingerprint() == hashlib.sha256(raw).hexdigest()


def _fingerprint_in_child(_) -> str:
    return public_key_fingerprint()


def test_processes_racing_to_create_the_key_all_end_up_with_one(key_file):
    with multiprocessing.get_context("fork").Pool(6) as pool:
        fingerprints = pool.map(_fingerprint_in_child, range(12))
    assert set(fingerprints) == {public_key_fingerprint()}
    assert [p.name for p in key_file.parent.iterdir()] == ["k.pem"]
