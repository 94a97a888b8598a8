"""The deployment's Ed25519 key: it signs audit checkpoints and erasure receipts.

The key is created on first use in settings.SIGNING_KEY_FILE (mode 0600) and never changes
afterwards: a new key would make every earlier signature unverifiable by this deployment.
The file appears complete or not at all, and when two processes create it at once both end
up using the one that landed first. Each process reads it once.
"""

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

_keys: dict[Path, Ed25519PrivateKey] = {}
_lock = threading.Lock()


def signature_create(data: bytes) -> str:
    return _private_key().sign(data).hex()


def signature_valid(data: bytes, signature_hex: str, *, public_key_pem: str | None = None) -> bool:
    """False for a wrong signature and for anything that is not a key or a signature."""
    try:
        if public_key_pem is None:
            key = _private_key().public_key()
        else:
            key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            return False
        key.verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError, AttributeError):
        return False
    return True


def public_key_pem() -> str:
    return (
        _private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_key_fingerprint() -> str:
    """What an auditor compares out of band to trust a receipt's public key."""
    raw = (
        _private_key()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return hashlib.sha256(raw).hexdigest()


def _private_key() -> Ed25519PrivateKey:
    path = Path(settings.SIGNING_KEY_FILE)
    with _lock:
        if path not in _keys:
            _keys[path] = _key_load_or_create(path)
        return _keys[path]


def _key_load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        _key_create(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def _key_create(path: Path) -> None:
    """Write a fresh key beside `path` and link it into place, unless another process won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # NOTE: mkstemp creates the file with mode 0600, and os.link fails when `path` exists,
    # so the key is never readable by others, never half-written, and never replaced.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
