"""The audit trail: append-only, each entry holding the hash of the one before it, with a
signed checkpoint every so many entries so that a truncated tail is detected too.

Entries name their actor and tenant by id, not by a cascading foreign key: erasing a user
never erases the record of what was done. No entry holds prompt or output content.
"""

from django.db import models


class AuditEntry(models.Model):
    seq = models.PositiveBigIntegerField(unique=True)  # 1, 2, 3, ... without gaps
    created_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)  # None: the system itself
    tenant_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=100, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, unique=True)  # unique: the chain cannot fork
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class AuditCheckpoint(models.Model):
    """The deployment's Ed25519 signature over the chain's head at `seq`."""

    seq = models.PositiveBigIntegerField(unique=True)
    entry_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)  # hex
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint at #{self.seq}"
