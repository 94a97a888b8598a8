"""Crypto-shredding: content is sealed under its subject's data key, and destroying that key
makes every copy of the content unreadable, backups included.

What must stay true:
- A data key (32 random bytes, one per subject) is stored only wrapped, with AES-256-GCM
  under the newest master key and the subject's pseudonym as associated data, beside the id
  of the master key that wrapped it. Older master keys still unwrap until they are retired
  (like Django's SECRET_KEY_FALLBACKS); rotation re-wraps in chunks, each chunk atomic.
- A sealed blob is nonce(12) || ciphertext || tag, with the caller's `context` as associated
  data, so a blob copied to another row, or another subject, does not open.
- Anything that does not decrypt raises SealBroken; nothing ever returns garbage.
- Unwrapped data keys are never kept between calls: once one process destroys a key, no
  process can open content sealed under it.
- A master key is retired only when no data key is wrapped by it any more.

Master keys come from settings.MASTER_KEYS (base64, newest first, comma-separated), or, when
that is empty, from a keyring file in VAR_DIR (mode 0600, one base64 key a line, newest first)
that is generated on first use and rewritten only atomically.
"""

import base64
import fcntl
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

from compliance.models import DataKey
from compliance.services.audit import audit_append

NONCE_BYTES = 12
TAG_BYTES = 16
_KEYRING_LOCK_ID = 0x6B657972696E67  # "keyring": orders data key creation against retirement
_DATA_KEY_ROW_SQL = (
    f"SELECT master_key_id, wrapped FROM {DataKey._meta.db_table} WHERE subject = %s"
)


class SealBroken(Exception):
    """The content does not decrypt: tampered with, the wrong key, or an unknown master key."""


class KeyDestroyed(SealBroken):
    """The subject's data key no longer exists: the subject was erased."""


@dataclass(frozen=True)
class RotationReport:
    master_key_id: str  # the master key that now wraps every data key
    rewrapped: int  # data keys moved to it
    keyring: str  # "file" or "environment"


@dataclass(frozen=True)
class _Keyring:
    ciphers: dict[str, AESGCM]  # master key id -> cipher, newest first
    source: str

    @property
    def newest_id(self) -> str:
        return next(iter(self.ciphers))


def master_key_id(key: bytes) -> str:
    """What a data key stores to name the master key that wrapped it."""
    return hashlib.sha256(key).hexdigest()[:16]


def content_seal(*, subject: str, tenant_id: int, plaintext: bytes, context: str) -> bytearray:
    """Encrypt content under the subject's data key, creating the key on first use."""
    row = _data_key_row(subject)
    key = _unwrap(subject, *row) if row else _data_key_create(subject, tenant_id)
    nonce = os.urandom(NONCE_BYTES)
    # NOTE: a bytearray, encrypted straight into: joining nonce and ciphertext into bytes
    # would copy the payload once more (15% of the time of sealing 1 MiB, bench/crypto.py).
    sealed = bytearray(NONCE_BYTES + len(plaintext) + TAG_BYTES)
    sealed[:NONCE_BYTES] = nonce
    AESGCM(key).encrypt_into(nonce, plaintext, context.encode(), memoryview(sealed)[NONCE_BYTES:])
    return sealed


def content_open(*, subject: str, sealed: bytes, context: str) -> bytes:
    row = _data_key_row(subject)
    if row is None:
        raise KeyDestroyed(f"the data key of {subject} has been destroyed")
    key = _unwrap(subject, *row)
    view = memoryview(sealed)
    if len(view) < NONCE_BYTES + TAG_BYTES:
        raise SealBroken("sealed content is too short")
    try:
        return AESGCM(key).decrypt(view[:NONCE_BYTES], view[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise SealBroken("sealed content does not decrypt in this context") from None


@transaction.atomic
def data_key_destroy(*, subject: str) -> str:
    """Crypto-shred the subject; the fingerprint lets an erasure receipt name the key.
    A key that cannot be unwrapped raises SealBroken and stays: fix the keyring, erase again."""
    row = DataKey.objects.select_for_update().filter(subject=subject).first()
    if row is None:
        return ""
    fingerprint = hashlib.sha256(_unwrap(subject, row.master_key_id, row.wrapped)).hexdigest()
    row.delete()
    return fingerprint


def data_key_count(subject: str) -> int:
    return DataKey.objects.filter(subject=subject).count()


def data_key_export(subject: str) -> list[dict]:
    """That a key exists and which master key wraps it; never the key."""
    return [
        {"created_at": created_at.isoformat(), "master_key_id": key_id}
        for created_at, key_id in DataKey.objects.filter(subject=subject).values_list(
            "created_at", "master_key_id"
        )
    ]


def master_key_rotate(*, actor_id: int | None = None, batch_size: int = 500) -> RotationReport:
    """Make a new master key the newest (file keyring; with PORTAL_MASTER_KEYS the operator
    has put it first) and re-wrap every data key under it."""
    if not settings.MASTER_KEYS:
        with _keyring_file_locked() as path:
            _keyring_file_write(path, [AESGCM.generate_key(bit_length=256), *_keyring_read(path)])
    keyring, rewrapped = _data_keys_rewrap(batch_size=batch_size)
    audit_append(
        action="keys.rotate",
        actor_id=actor_id,
        target=f"master_key:{keyring.newest_id}",
        details={"keyring": keyring.source, "rewrapped": rewrapped},
    )
    return RotationReport(keyring.newest_id, rewrapped, keyring.source)


def master_keys_retire(*, actor_id: int | None = None) -> list[str]:
    """Drop from the keyring file the master keys that wrap no data key any more; returns
    their ids. Once dropped, nothing wrapped by them (in a backup, say) opens again."""
    if settings.MASTER_KEYS:
        raise ImproperlyConfigured(
            "PORTAL_MASTER_KEYS is set: retire a master key by removing it from there."
        )
    with _keyring_file_locked() as path, transaction.atomic():
        _keyring_guard(exclusive=True)
        keys = _keyring_read(path)
        in_use = set(DataKey.objects.values_list("master_key_id", flat=True).distinct())
        retired = [master_key_id(key) for key in keys[1:] if master_key_id(key) not in in_use]
        if retired:
            _keyring_file_write(path, [key for key in keys if master_key_id(key) not in retired])
        audit_append(action="keys.retire", actor_id=actor_id, details={"retired": retired})
    return retired


def _data_key_row(subject: str) -> tuple[str, bytes] | None:
    # NOTE: plain SQL on purpose: this runs on every seal and open, and the ORM took 200 µs
    # to build the query, more than encrypting 1 MiB (bench/crypto.py); this takes 20.
    with connection.cursor() as cursor:
        cursor.execute(_DATA_KEY_ROW_SQL, [subject])
        return cursor.fetchone()


def _data_key_create(subject: str, tenant_id: int) -> bytes:
    key = AESGCM.generate_key(bit_length=256)
    try:
        with transaction.atomic():
            # NOTE: the keyring is read under the lock master_keys_retire takes, inside the
            # transaction that inserts: a key is never wrapped by a master key being retired.
            _keyring_guard(exclusive=False)
            keyring = _keyring()
            DataKey.objects.create(
                subject=subject,
                tenant_id=tenant_id,
                master_key_id=keyring.newest_id,
                wrapped=_wrap(keyring, subject, key),
            )
    except IntegrityError:  # a concurrent first use created it first
        return _unwrap(subject, *_data_key_row(subject))
    return key


def _data_keys_rewrap(*, batch_size: int) -> tuple[_Keyring, int]:
    rewrapped, after_id = 0, 0
    while True:
        with transaction.atomic():
            # NOTE: the newest key is looked up again for every chunk, under the lock retirement
            # takes, so a concurrent rotation and retirement can never retire the target.
            _keyring_guard(exclusive=False)
            keyring = _keyring()
            rows = list(
                DataKey.objects.select_for_update()
                .filter(id__gt=after_id)
                .exclude(master_key_id=keyring.newest_id)
                .order_by("id")[:batch_size]
            )
            if not rows:
                return keyring, rewrapped
            for row in rows:
                key = _unwrap(row.subject, row.master_key_id, row.wrapped)
                row.master_key_id = keyring.newest_id
                row.wrapped = _wrap(keyring, row.subject, key)
            DataKey.objects.bulk_update(rows, ["master_key_id", "wrapped"])
        rewrapped += len(rows)
        after_id = rows[-1].id


def _wrap(keyring: _Keyring, subject: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + keyring.ciphers[keyring.newest_id].encrypt(nonce, key, _wrap_aad(subject))


def _unwrap(subject: str, key_id: str, wrapped: bytes) -> bytes:
    cipher = _keyring().ciphers.get(key_id)
    if cipher is None:
        raise SealBroken(f"master key {key_id} is not in the keyring")
    wrapped = bytes(wrapped)
    try:
        return cipher.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(subject))
    except InvalidTag:
        raise SealBroken(f"the data key of {subject} does not unwrap") from None


def _wrap_aad(subject: str) -> bytes:
    return f"custos:data-key:{subject}".encode()


# NOTE: master keys (not data keys) are kept in memory, and reloaded whenever the keyring
# changes: its file is replaced on every change, so a stat per call notices.
_keyring_cache: tuple[tuple, _Keyring] | None = None


def _keyring() -> _Keyring:
    global _keyring_cache
    signature = _keyring_signature()
    if _keyring_cache is None or _keyring_cache[0] != signature:
        if settings.MASTER_KEYS:
            keys, source = _keys_parse(settings.MASTER_KEYS), "environment"
        else:
            keys, source = _keyring_read(_keyring_path()), "file"
        ciphers = {master_key_id(key): AESGCM(key) for key in keys}
        _keyring_cache = (signature, _Keyring(ciphers, source))
    return _keyring_cache[1]


def _keyring_signature() -> tuple:
    if settings.MASTER_KEYS:
        return ("environment", settings.MASTER_KEYS)
    path = _keyring_path()
    stat = _keyring_file_stat(path)
    return ("file", str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _keys_parse(text: str) -> list[bytes]:
    parts = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    try:
        keys = [base64.b64decode(part, validate=True) for part in parts]
    except ValueError:
        raise ImproperlyConfigured("a master key is not valid base64") from None
    if not keys or any(len(key) != 32 for key in keys):
        raise ImproperlyConfigured("master keys must be base64 of 32 bytes (AES-256)")
    return keys


def _keyring_path() -> Path:
    return Path(settings.VAR_DIR) / "master_keys"


def _keyring_read(path: Path) -> list[bytes]:
    return _keys_parse(path.read_text())


def _keyring_file_stat(path: Path) -> os.stat_result:
    """The keyring file's status, the file generated on first use."""
    try:
        return path.stat()
    except FileNotFoundError:
        _keyring_file_create(path)
        return path.stat()


def _keyring_file_create(path: Path) -> None:
    """A first master key; when processes race, the first link wins and the others read it."""
    temporary = _keyring_temporary(path, [AESGCM.generate_key(bit_length=256)])
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    _directory_sync(path.parent)


def _keyring_file_write(path: Path, keys: list[bytes]) -> None:
    os.replace(_keyring_temporary(path, keys), path)
    _directory_sync(path.parent)


def _directory_sync(directory: Path) -> None:
    """Make a new name in `directory` survive a crash, not only the file's bytes."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keyring_temporary(path: Path, keys: list[bytes]) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write("".join(base64.b64encode(key).decode() + "\n" for key in keys))
        file.flush()
        os.fsync(file.fileno())
    return temporary


@contextmanager
def _keyring_file_locked() -> Iterator[Path]:
    """The keyring file, with every other rotation or retirement on this host kept out."""
    path = _keyring_path()
    _keyring_file_stat(path)
    fd = os.open(path.with_name(f"{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def _keyring_guard(*, exclusive: bool) -> None:
    """Hold, until the transaction ends, the lock that orders data key creation against
    retirement. SQLite needs none: its transactions here begin IMMEDIATE, one at a time."""
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s)", [_KEYRING_LOCK_ID])
