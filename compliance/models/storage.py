"""The stores that hold content, always as AES-256-GCM ciphertext under the data key of
the subject the content came from. Destroying a subject's DataKey row makes every byte
sealed under it unreadable, wherever a copy of it survives (crypto-shredding)."""

from django.db import models


class DataKey(models.Model):
    """A subject's data key, wrapped by a master key; the key itself is never stored."""

    subject = models.CharField(max_length=32, unique=True)  # a pseudonym
    tenant = models.ForeignKey("portal.Tenant", on_delete=models.CASCADE)
    master_key_id = models.CharField(max_length=16, db_index=True)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"data key of {self.subject}"


class CacheEntry(models.Model):
    """A deterministic output, found by an HMAC of what produced it (the key reveals nothing)
    and sealed under the data key of the subject whose request produced it."""

    tenant = models.ForeignKey("portal.Tenant", on_delete=models.CASCADE)
    key_digest = models.CharField(max_length=64)
    model = models.CharField(max_length=100, db_index=True)
    subject = models.CharField(max_length=32, db_index=True)  # the producer's pseudonym
    sealed = models.BinaryField()
    created_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    hit_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key_digest"], name="cache_unique_key")
        ]

    def __str__(self) -> str:
        return f"cache entry {self.id} of {self.model}"


class CacheSubject(models.Model):
    """A subject whose request produced or hit a cache entry: a purge by subject removes
    every entry the subject touched."""

    entry = models.ForeignKey(CacheEntry, on_delete=models.CASCADE, related_name="subjects")
    subject = models.CharField(max_length=32, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "subject"], name="cache_subject_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subject} on cache entry {self.entry_id}"


class ArchiveEntry(models.Model):
    """One exchange (input and output), kept for quality monitoring and audit."""

    tenant = models.ForeignKey("portal.Tenant", on_delete=models.CASCADE)
    subject = models.CharField(max_length=32, db_index=True)
    request_id = models.CharField(max_length=32, db_index=True)
    endpoint = models.CharField(max_length=64)
    model = models.CharField(max_length=100)
    task = models.CharField(max_length=32)
    region = models.CharField(max_length=32)
    sealed = models.BinaryField()
    size_bytes = models.PositiveIntegerField()  # of the plaintext
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "archive entries"

    def __str__(self) -> str:
        return f"archive entry {self.id} of {self.model}"
