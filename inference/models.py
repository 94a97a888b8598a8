"""Asynchronous jobs: a request accepted now, run by a pool worker, fetched later.

A job holds content (its input until it runs, and its result until it is fetched or erased),
so it is a personal-data store of its subject; both are sealed under the subject's data key
and never touch the disk in plaintext.
"""

import uuid

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("portal.Tenant", on_delete=models.PROTECT)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    subject = models.CharField(max_length=32, db_index=True)  # a pseudonym
    task = models.CharField(max_length=32)
    model = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    input_sealed = models.BinaryField(null=True)  # None once the job has run
    result_sealed = models.BinaryField(null=True)  # None after delivery, for zero retention
    store = models.BooleanField(null=True)  # the caller's `store`; None: not said
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.task} job {self.id}"
