from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from compliance.services.audit import audit_append


@pytest.fixture(autouse=True)
def audit_settings(settings, tmp_path):
    settings.SIGNING_KEY_FILE = tmp_path / "k.pem"
    settings.AUDIT_CHECKPOINT_EVERY = 10


def _append_many(count: int) -> None:
    for i in range(count):
        audit_append(action="login", actor_id=i)


@pytest.mark.django_db
def test_intact_chain_prints_what_was_checked():
    _append_many(12)
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert out.getvalue() == "ok: 12 entries, 1 checkpoints\n"


@pytest.mark.django_db
def test_broken_chain_names_the_first_break_and_exits_1():
    _append_many(12)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditentry SET action = 'logim' WHERE seq = 3")
    with pytest.raises(CommandError, match="^broken at entry 3: entry 3 was changed$") as error:
        call_command("verify_audit_chain")
    assert error.value.returncode == 1
