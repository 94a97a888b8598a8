"""Reads, already narrowed to what the viewer may see."""

from django.db.models import QuerySet

from compliance.models import RequestLog


def request_log_list(*, viewer) -> QuerySet[RequestLog]:
    """The requests the viewer made themselves (an end user's own history)."""
    return RequestLog.objects.filter(actor_id=viewer.id)
