"""`rotate_master_key`: what it prints, --retire, and the environment keyring."""

import base64
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from compliance.services.keys import (
    SealBroken,
    content_open,
    content_seal,
    master_key_id,
)

pytestmark = pytest.mark.django_db

SUBJECT = "7" * 32


@pytest.fixture(autouse=True)
def keyring(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MASTER_KEYS = ""
    return tmp_path / "master_keys"


def _keys(path) -> list[str]:
    return path.read_text().split()


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_master_key", *args, stdout=out)
    return out.getvalue()


def test_prints_the_new_key_id_and_the_count_but_no_key(tenant, keyring):
    content_seal(subject=SUBJECT, tenant_id=tenant.id, plaintext=b"x", context="c")
    output = _rotate()
    newest = _keys(keyring)[0]
    assert f"Master key {master_key_id(base64.b64decode(newest))} (file keyring)" in output
    assert "re-wrapped 1 data keys" in output
    assert not any(key in output for key in _keys(keyring))


def test_retire_drops_the_old_key_so_a_keyring_of_it_alone_opens_nothing(tenant, keyring):
    sealed = content_seal(subject=SUBJECT, tenant_id=tenant.id, plaintext=b"x", context="c")
    old = keyring.read_text()
    output = _rotate("--retire")
    assert f"Retired 1 master keys: {master_key_id(base64.b64decode(old))}." in output
    assert len(_keys(keyring)) == 1 and old.strip() not in keyring.read_text()
    keyring.write_text(old)
    with pytest.raises(SealBroken):
        content_open(subject=SUBJECT, sealed=sealed, context="c")


def test_without_retire_the_old_key_stays_to_unwrap(keyring):
    _rotate()
    output = _rotate()
    assert len(_keys(keyring)) == 3 and "Retired" not in output


def test_with_an_environment_keyring_rewraps_under_its_first_key(tenant, settings):
    old, new = os.urandom(32), os.urandom(32)
    settings.MASTER_KEYS = base64.b64encode(old).decode()
    content_seal(subject=SUBJECT, tenant_id=tenant.id, plaintext=b"x", context="c")
    settings.MASTER_KEYS = f"{base64.b64encode(new).decode()},{settings.MASTER_KEYS}"
    output = _rotate()
    assert f"Master key {master_key_id(new)} (environment keyring)" in output
    assert "re-wrapped 1 data keys" in output


def test_retire_with_an_environment_keyring_is_refused(settings):
    settings.MASTER_KEYS = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(CommandError, match="PORTAL_MASTER_KEYS"):
        _rotate("--retire")
