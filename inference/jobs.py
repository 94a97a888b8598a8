"""Jobs: validated when created, run later by a pool worker, read back by their owner.

A job that stage 1 refuses is never stored; the refusal leaves only its log row. A job's
input and result are sealed under its subject's data key (erasing the subject leaves them
unreadable); the input is dropped once the job has run, and for a zero-retention tenant the
result is dropped once it has been delivered. In the embedded deployment jobs run on a thread
pool of the server process; the scale-out deployment hands the same `job_execute` to Celery
workers.
"""

import base64
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from uuid import UUID

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from compliance.services.policy import tenant_policy_get
from inference.models import Job
from inference.pipeline.postprocess import Delivery
from inference.pipeline.validate import (
    Caller,
    EmbeddingsPayload,
    GenerationPayload,
    validate_embeddings,
    validate_generation,
)
from inference.pipeline.validate.media import (
    FilePayload,
    validate_image_classification,
    validate_speech_detection,
    validate_transcription,
)
from inference.services import (
    StageClock,
    embeddings_create,
    generation_start,
    subject_of,
    validated,
)
from inference.services.media import image_classify, speech_detect, transcribe
from inference.stores import job_content_open, job_content_seal, job_result
from portal.db import in_thread
from portal.errors import ApiError, api_error_from_exception

JOB_ENDPOINT = "/api/v1/jobs/"


async def _generate(*, caller: Caller, payload: GenerationPayload) -> Delivery:
    return await (await generation_start(caller=caller, payload=payload)).complete()


def _usage(delivery: Delivery) -> dict:
    return {
        "prompt_tokens": delivery.prompt_tokens,
        "completion_tokens": delivery.completion_tokens,
    }


@dataclass(frozen=True)
class JobTask:
    """How a task's jobs are checked, run and reported."""

    payload: type
    validate: Callable
    run: Callable[..., Awaitable[Delivery]]
    result: Callable[[Delivery], dict]


TASKS = {
    "text-generation": JobTask(
        GenerationPayload,
        validate_generation,
        _generate,
        lambda d: {"text": d.text, "finish_reason": d.finish_reason, "usage": _usage(d)},
    ),
    "embeddings": JobTask(
        EmbeddingsPayload,
        validate_embeddings,
        embeddings_create,
        lambda d: {"embeddings": [list(v) for v in d.vectors], "usage": _usage(d)},
    ),
    "image-classification": JobTask(
        FilePayload,
        validate_image_classification,
        image_classify,
        lambda d: {"labels": [{"label": label, "score": score} for label, score in d.labels]},
    ),
    "transcription": JobTask(
        FilePayload,
        validate_transcription,
        transcribe,
        lambda d: {"text": d.text, "duration_s": d.duration_s},
    ),
    "speech-detection": JobTask(
        FilePayload,
        validate_speech_detection,
        speech_detect,
        lambda d: {
            "duration_s": d.duration_s,
            "segments": [{"start_s": start, "end_s": end} for start, end in d.segments],
        },
    ),
}


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.JOB_WORKERS, thread_name_prefix="job")


def _stored_input(payload) -> dict:
    """The payload as JSON; an uploaded file is kept base64-encoded until the job has run."""
    fields = asdict(payload)
    if isinstance(fields.get("data"), bytes):
        fields["data"] = base64.b64encode(fields["data"]).decode()
    return fields


def _payload_of(job: Job):
    fields = job_content_open(job, "input", job.input_sealed)
    for name in ("messages", "stop", "inputs"):
        if name in fields:
            fields[name] = tuple(fields[name])
    if "data" in fields:
        fields["data"] = base64.b64decode(fields["data"])
    return TASKS[job.task].payload(**fields)


def _job_save_new(job: Job, payload) -> Job:
    job.input_sealed = job_content_seal(job, "input", _stored_input(payload))
    job.save(force_insert=True)
    return job


async def job_create(*, caller: Caller, task: str, payload) -> Job:
    await validated(TASKS[task].validate, caller=caller, payload=payload, clock=StageClock())
    subject = await subject_of(caller)
    job = Job(
        tenant=caller.tenant,
        owner_id=caller.user_id,
        subject=subject,
        task=task,
        model=payload.model,
        store=caller.store,
    )
    await in_thread(_job_save_new)(job, payload)
    _executor().submit(job_execute, job_id=job.id)
    return job


async def _job_run(job: Job, payload) -> Delivery:
    caller = Caller(
        request_id=job.id.hex,
        user_id=job.owner_id,
        tenant=job.tenant,
        subject_reference="",
        subject=job.subject,
        endpoint=JOB_ENDPOINT,
        store=job.store,
    )
    return await TASKS[job.task].run(caller=caller, payload=payload)


def job_execute(*, job_id: UUID) -> None:
    """Run one queued job through the pipeline and store its result or its error."""
    job = Job.objects.select_related("tenant").get(id=job_id)
    if job.status != Job.Status.QUEUED:
        return
    job.status, job.started_at = Job.Status.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    try:
        delivery = async_to_sync(_job_run)(job, _payload_of(job))
        job.result_sealed = job_content_seal(job, "result", TASKS[job.task].result(delivery))
        job.status = Job.Status.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - a job always ends with a status
        error = api_error_from_exception(exc)
        job.status, job.error_code, job.error_message = Job.Status.FAILED, error.code, error.message
    job.input_sealed, job.finished_at = None, timezone.now()
    job.save(
        update_fields=[
            "status",
            "input_sealed",
            "result_sealed",
            "error_code",
            "error_message",
            "finished_at",
        ]
    )


def jobs_resume() -> int:
    """At server start: queue again the jobs that were waiting when the server stopped, and
    fail those it stopped in the middle of (their partial work is gone). Returns how many
    were queued again."""
    Job.objects.filter(status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED,
        input_sealed=None,
        error_code="service_unavailable",
        error_message="The server stopped while this job was running; submit it again.",
        finished_at=timezone.now(),
    )
    waiting = list(Job.objects.filter(status=Job.Status.QUEUED).values_list("id", flat=True))
    for job_id in waiting:
        _executor().submit(job_execute, job_id=job_id)
    return len(waiting)


def job_list(*, viewer) -> QuerySet[Job]:
    """The viewer's own jobs."""
    return Job.objects.filter(owner=viewer)


def job_results_deliver(jobs: list[Job]) -> dict[UUID, dict | None]:
    """The results of jobs being handed to their owner; a zero-retention tenant's results
    are dropped as they are delivered. A result sealed under an erased key reads as None."""
    results = {job.id: job_result(job) for job in jobs}
    delivered = [job.id for job in jobs if job.result_sealed is not None]
    if delivered and tenant_policy_get(tenant_id=jobs[0].tenant_id).zero_retention:
        Job.objects.filter(id__in=delivered).update(result_sealed=None)
    return results


def job_get(*, viewer, job_id: UUID) -> Job:
    job = job_list(viewer=viewer).filter(id=job_id).first()
    if job is None:
        raise ApiError("not_found", "No such job.")
    return job
