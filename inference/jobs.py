"""Jobs: validated when created, run later by a pool worker, read back by their owner.

A job that stage 1 refuses is never stored; the refusal leaves only its log row. In the
embedded deployment jobs run on a thread pool of the server process; the scale-out
deployment hands the same `job_execute` to Celery workers.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import cache
from uuid import UUID

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from inference.models import Job
from inference.pipeline.postprocess import Delivery
from inference.pipeline.validate import (
    Caller,
    EmbeddingsPayload,
    GenerationPayload,
    validate_embeddings,
    validate_generation,
)
from inference.services import (
    StageClock,
    embeddings_create,
    generation_start,
    subject_of,
    validated,
)
from portal.errors import ApiError, api_error_from_exception

JOB_ENDPOINT = "/api/v1/jobs/"
VALIDATORS = {"text-generation": validate_generation, "embeddings": validate_embeddings}
PAYLOADS = {"text-generation": GenerationPayload, "embeddings": EmbeddingsPayload}


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.JOB_WORKERS, thread_name_prefix="job")


async def job_create(*, caller: Caller, task: str, payload) -> Job:
    await validated(VALIDATORS[task], caller=caller, payload=payload, clock=StageClock())
    subject = await subject_of(caller)
    job = await Job.objects.acreate(
        tenant=caller.tenant,
        owner_id=caller.user_id,
        subject=subject,
        task=task,
        model=payload.model,
        input=asdict(payload),
    )
    _executor().submit(job_execute, job_id=job.id)
    return job


def _payload_of(job: Job):
    fields = dict(job.input)
    for name in ("messages", "stop", "inputs"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return PAYLOADS[job.task](**fields)


async def _job_run(job: Job) -> Delivery:
    caller = Caller(
        request_id=job.id.hex,
        user_id=job.owner_id,
        tenant=job.tenant,
        subject_reference="",
        subject=job.subject,
        endpoint=JOB_ENDPOINT,
    )
    payload = _payload_of(job)
    if job.task == "embeddings":
        return await embeddings_create(caller=caller, payload=payload)
    run = await generation_start(caller=caller, payload=payload)
    return await run.complete()


def _result_of(task: str, delivery: Delivery) -> dict:
    usage = {
        "prompt_tokens": delivery.prompt_tokens,
        "completion_tokens": delivery.completion_tokens,
    }
    if task == "embeddings":
        return {"embeddings": [list(v) for v in delivery.vectors], "usage": usage}
    return {"text": delivery.text, "finish_reason": delivery.finish_reason, "usage": usage}


def job_execute(*, job_id: UUID) -> None:
    """Run one queued job through the pipeline and store its result or its error."""
    job = Job.objects.select_related("tenant").get(id=job_id)
    if job.status != Job.Status.QUEUED:
        return
    job.status, job.started_at = Job.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    try:
        delivery = async_to_sync(_job_run)(job)
        job.result, job.status = _result_of(job.task, delivery), Job.Status.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - a job always ends with a status
        error = api_error_from_exception(exc)
        job.status, job.error_code, job.error_message = Job.Status.FAILED, error.code, error.message
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "error_code", "error_message", "finished_at"])


def job_list(*, viewer) -> QuerySet[Job]:
    """The viewer's own jobs."""
    return Job.objects.filter(owner=viewer)


def job_get(*, viewer, job_id: UUID) -> Job:
    job = job_list(viewer=viewer).filter(id=job_id).first()
    if job is None:
        raise ApiError("not_found", "No such job.")
    return job
