"""What stage 5 keeps: metadata about requests, and the subject-to-pseudonym mapping.

A RequestLog row has no field that can hold a prompt, an image, audio or an output: only
sizes, counts, timings and codes. Subjects are known to the log only by a random pseudonym;
the mapping from a subject to its pseudonym stores an HMAC of the subject's reference, never
the reference itself, so deleting one mapping row unlinks every log row of that subject.
"""

from django.db import models


class Subject(models.Model):
    tenant = models.ForeignKey("portal.Tenant", on_delete=models.CASCADE)
    reference_digest = models.CharField(max_length=64)
    pseudonym = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "reference_digest"], name="subject_unique_reference"
            )
        ]

    def __str__(self) -> str:
        return self.pseudonym


class RequestLog(models.Model):
    class Modality(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        AUDIO = "audio"

    request_id = models.CharField(max_length=32, db_index=True)
    created_at = models.DateTimeField(db_index=True)
    tenant = models.ForeignKey("portal.Tenant", on_delete=models.PROTECT, null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)  # NOTE: no FK: rows outlive users
    subject = models.CharField(max_length=32, blank=True, db_index=True)  # a pseudonym
    endpoint = models.CharField(max_length=64)
    model = models.CharField(max_length=100, blank=True)
    modality = models.CharField(max_length=8, choices=Modality.choices, blank=True)
    task = models.CharField(max_length=32, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=40, blank=True)
    streamed = models.BooleanField(default=False)
    request_bytes = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    pixels = models.PositiveBigIntegerField(default=0)  # images in and out
    audio_seconds = models.FloatField(default=0)
    denoising_steps = models.PositiveIntegerField(default=0)
    validate_ms = models.FloatField(default=0)
    preprocess_ms = models.FloatField(default=0)
    queue_ms = models.FloatField(default=0)
    kv_cache_bytes = models.PositiveBigIntegerField(default=0)
    execute_ms = models.FloatField(default=0)
    postprocess_ms = models.FloatField(default=0)
    total_ms = models.FloatField(default=0)
    cache = models.CharField(max_length=8, blank=True)  # hit | miss | bypass; blank: refused
    archived = models.BooleanField(default=False)
    region = models.CharField(max_length=32, blank=True)
    device = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.request_id} {self.endpoint} {self.status_code}"
