"""`verify_receipt`: a signed receipt passes, one changed byte fails."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance.models import ErasureRequest
from compliance.services.erasure import (
    erasure_execute,
    erasure_request_create,
    receipt_document,
)
from compliance.services.signing import public_key_pem

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipt_file(tenant, tmp_path):
    erasure = erasure_request_create(
        tenant_id=tenant.id,
        subject="a" * 32,
        channel=ErasureRequest.Channel.OFFICER,
        requested_by_id=None,
        verified=True,
        now=timezone.now(),
    )
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt_document(erasure_execute(erasure_id=erasure.id))))
    return path


def test_a_receipt_as_signed_is_valid(receipt_file, capsys):
    call_command("verify_receipt", str(receipt_file))
    assert capsys.readouterr().out.startswith("valid:")


def test_the_public_key_can_be_given_as_a_file(receipt_file, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text(public_key_pem())
    call_command("verify_receipt", str(receipt_file), "--public-key", str(key))


def test_one_changed_byte_is_invalid(receipt_file):
    text = receipt_file.read_text()
    receipt_file.write_text(text.replace("officer", "offices", 1))
    with pytest.raises(CommandError, match="INVALID"):
        call_command("verify_receipt", str(receipt_file))


def test_an_unreadable_file_is_refused(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CommandError):
        call_command("verify_receipt", str(tmp_path / "bad.json"))
