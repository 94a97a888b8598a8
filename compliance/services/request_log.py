"""Stage 5: the metadata-only request log.

`RequestLogEntry` is the only way a row is written; its fields are counts, sizes, timings and
codes, so there is no place for content to slip in.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings

from compliance.models import RequestLog
from portal.db import in_thread


@dataclass(frozen=True)
class RequestLogEntry:
    request_id: str
    created_at: datetime
    endpoint: str
    status_code: int
    tenant_id: int | None = None
    actor_id: int | None = None
    subject: str = ""
    model: str = ""
    modality: str = ""
    task: str = ""
    error_code: str = ""
    streamed: bool = False
    request_bytes: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pixels: int = 0
    audio_seconds: float = 0.0
    denoising_steps: int = 0
    validate_ms: float = 0.0
    preprocess_ms: float = 0.0
    queue_ms: float = 0.0
    kv_cache_bytes: int = 0
    execute_ms: float = 0.0
    postprocess_ms: float = 0.0
    total_ms: float = 0.0
    cache: str = ""
    archived: bool = False
    device: str = ""


def request_log_write(entry: RequestLogEntry) -> RequestLog:
    return RequestLog.objects.create(region=settings.PORTAL_REGION, **asdict(entry))


async def request_log_awrite(entry: RequestLogEntry) -> RequestLog:
    return await in_thread(request_log_write)(entry)


ERASED_SUBJECT = "erased"  # the tombstone that replaces an erased subject's pseudonym

EXPORTED_FIELDS = (
    "request_id",
    "created_at",
    "endpoint",
    "model",
    "task",
    "status_code",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "pixels",
    "audio_seconds",
    "cache",
    "archived",
    "region",
    "total_ms",
)


def request_log_count(subject: str) -> int:
    return RequestLog.objects.filter(subject=subject).count()


def request_log_export(subject: str) -> list[dict]:
    rows = RequestLog.objects.filter(subject=subject).order_by("created_at")
    return [
        {**row, "created_at": row["created_at"].isoformat()}
        for row in rows.values(*EXPORTED_FIELDS)
    ]


def request_log_unlink(subject: str) -> int:
    """Erasure keeps the metadata (billing, monitoring) but not who it was about."""
    return RequestLog.objects.filter(subject=subject).update(subject=ERASED_SUBJECT)
