from dataclasses import fields

from django.utils import timezone

from compliance.models import RequestLog
from compliance.services.request_log import RequestLogEntry, request_log_write


def test_entry_has_no_field_for_content():
    names = {field.name for field in fields(RequestLogEntry)}
    assert not names & {"prompt", "messages", "input", "output", "text", "content", "body"}


def test_write_stamps_the_deployment_region(tenant, settings):
    settings.PORTAL_REGION = "eu-west"
    row = request_log_write(
        RequestLogEntry(
            request_id="r",
            created_at=timezone.now(),
            endpoint="/v1/x",
            status_code=200,
            tenant_id=tenant.id,
        )
    )
    assert RequestLog.objects.get(pk=row.pk).region == "eu-west"
