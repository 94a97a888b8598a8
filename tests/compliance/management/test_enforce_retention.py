import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance.models import AuditEntry, RequestLog

DAYS = {
    "request_logs": 10,
    "archive": 10,
    "cache": 10,
    "jobs": 10,
    "receipts": 10,
    "audit_trail": 10,
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _deployment(settings, tmp_path):
    settings.RETENTION_DEFAULT_DAYS = DAYS
    settings.SIGNING_KEY_FILE = tmp_path / "signing_key.pem"


@pytest.fixture
def logs(tenant) -> dict[str, RequestLog]:
    """Two request logs past their ten days, one within them."""
    now = timezone.now()
    return {
        age: RequestLog.objects.create(
            request_id=age,
            created_at=now - timedelta(days=days),
            tenant=tenant,
            endpoint="/v1/x",
            status_code=200,
        )
        for age, days in (("old", 11), ("older", 12), ("young", 9))
    }


def enforce(*args: str, stdout=None) -> str:
    stdout = stdout or io.StringIO()
    call_command("enforce_retention", *args, stdout=stdout)
    return stdout.getvalue()


def test_deletes_what_is_due_and_prints_a_summary(logs):
    output = enforce()
    assert list(RequestLog.objects.values_list("request_id", flat=True)) == ["young"]
    assert "acme    request_logs        2" in output
    assert "deleted 2 rows in" in output


def test_a_dry_run_deletes_nothing_and_says_what_it_would_delete(logs):
    output = enforce("--dry-run")
    assert RequestLog.objects.count() == 3
    assert "would delete 2 rows in" in output
    assert not AuditEntry.objects.filter(action="retention.run").exists()


def test_batch_size_must_be_positive(logs):
    with pytest.raises(CommandError):
        enforce("--batch-size", "0")


def test_a_terminal_gets_a_bar_redrawn_in_place(logs):
    output = enforce("--batch-size", "1", stdout=Terminal())
    assert output.count("\r[") == 2
    assert "\r[" + "#" * 30 + "] 100% 2/2 rows  acme/request_logs" in output


def test_a_pipe_gets_plain_lines(logs):
    output = enforce("--batch-size", "1")
    assert "\r" not in output
    assert " 50% 1/2 rows  acme/request_logs\n100% 2/2 rows  acme/request_logs\n" in output
