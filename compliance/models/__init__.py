"""What compliance keeps, one module per concern; every model is importable from here.

records.py   the metadata-only request log and the subject-to-pseudonym mapping
policy.py    per-tenant residency, storage, content and retention policies
storage.py   the stores that hold content: data keys, the output cache, the archive
audit.py     the hash-chained audit trail and its signed checkpoints
erasure.py   data subjects' erasure requests and their receipts
"""

from compliance.models.audit import AuditCheckpoint, AuditEntry
from compliance.models.erasure import ErasureRequest
from compliance.models.policy import ContentRule, DataClass, RetentionRule, TenantPolicy
from compliance.models.records import RequestLog, Subject
from compliance.models.storage import ArchiveEntry, CacheEntry, CacheSubject, DataKey

__all__ = [
    "ArchiveEntry",
    "AuditCheckpoint",
    "AuditEntry",
    "CacheEntry",
    "CacheSubject",
    "ContentRule",
    "DataClass",
    "DataKey",
    "ErasureRequest",
    "RequestLog",
    "RetentionRule",
    "Subject",
    "TenantPolicy",
]
