"""Erasure requests (GDPR Article 17): received, verified, executing, then completed or
failed. A request names its subject by pseudonym only, so it survives the erasure it
records; its receipt lists what was removed from each store, and holds no personal data."""

import uuid

from django.db import models


class ErasureRequest(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received"
        VERIFIED = "verified"
        EXECUTING = "executing"
        COMPLETED = "completed"
        FAILED = "failed"

    class Channel(models.TextChoices):
        SELF = "self"  # the subject, from the browser or /api/v1/me/erasure
        API = "api"  # an API user, for an end subject it named in `user`
        OFFICER = "officer"  # a compliance officer, on the subject's behalf

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("portal.Tenant", on_delete=models.PROTECT)
    subject = models.CharField(max_length=32, db_index=True)  # a pseudonym
    channel = models.CharField(max_length=8, choices=Channel.choices)
    requested_by_id = models.BigIntegerField(null=True, blank=True)  # no FK: outlives users
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    steps_done = models.JSONField(default=list, blank=True)  # names of finished steps
    removed = models.JSONField(default=dict, blank=True)  # store name -> count
    key_fingerprint = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(db_index=True)
    deadline_at = models.DateTimeField(db_index=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    receipt = models.JSONField(null=True, blank=True)
    receipt_signature = models.CharField(max_length=128, blank=True)  # hex

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"erasure {self.id} ({self.status})"
