"""inference's personal-data store: jobs, with their content sealed under the subject's key.

Kept apart from jobs.py (which pulls in the whole pipeline) so that registering the store at
app start loads no model code.
"""

import json

from compliance.services.keys import SealBroken, content_open, content_seal
from inference.models import Job


def job_content_seal(job: Job, part: str, value: dict) -> bytes:
    return content_seal(
        subject=job.subject,
        tenant_id=job.tenant_id,
        plaintext=json.dumps(value, separators=(",", ":")).encode(),
        context=f"job-{part}:{job.id}",
    )


def job_content_open(job: Job, part: str, sealed) -> dict:
    plaintext = content_open(
        subject=job.subject, sealed=bytes(sealed), context=f"job-{part}:{job.id}"
    )
    return json.loads(plaintext)


def job_result(job: Job) -> dict | None:
    """The job's result, if it is still held and its subject's key still exists."""
    if job.result_sealed is None:
        return None
    try:
        return job_content_open(job, "result", job.result_sealed)
    except SealBroken:
        return None


def job_count(subject: str) -> int:
    return Job.objects.filter(subject=subject).count()


def job_export(subject: str) -> list[dict]:
    """The subject's jobs with their results, as far as they are still held."""
    return [
        {
            "id": str(job.id),
            "task": job.task,
            "model": job.model,
            "status": job.status,
            "result": job_result(job),
            "error_code": job.error_code,
            "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        }
        for job in Job.objects.filter(subject=subject).order_by("created_at")
    ]


def job_erase(subject: str) -> int:
    count, _ = Job.objects.filter(subject=subject).delete()
    return count
