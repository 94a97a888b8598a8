"""Jobs that outlive a server: queued ones run again, interrupted ones fail clearly."""

import time

import pytest

from inference.jobs import jobs_resume
from inference.models import Job
from inference.stores import job_content_seal, job_result


def queued_job(text: dict, **fields) -> Job:
    """A job as job_create stores it: its input sealed under its subject's key."""
    job = Job(task="text-generation", **fields)
    job.input_sealed = job_content_seal(job, "input", text)
    job.save(force_insert=True)
    return job


pytestmark = pytest.mark.django_db(transaction=True)


def test_a_restart_requeues_waiting_jobs_and_fails_interrupted_ones(api_user):
    common = dict(tenant=api_user.tenant, owner=api_user, subject="s" * 32, model="tiny-chat")
    text = {"model": "tiny-chat", "prompt": "Hello", "max_tokens": 2, "temperature": 0.0}
    waiting = queued_job(text, **common)
    interrupted = queued_job(text, status=Job.Status.RUNNING, **common)
    assert jobs_resume() == 1
    interrupted.refresh_from_db()
    assert (interrupted.status, interrupted.error_code) == ("failed", "service_unavailable")
    assert interrupted.input_sealed is None
    for _ in range(200):
        waiting.refresh_from_db()
        if waiting.status == "succeeded":
            break
        time.sleep(0.05)
    assert waiting.status == "succeeded" and job_result(waiting)["usage"]["completion_tokens"] <= 2
    assert waiting.input_sealed is None  # the input goes once the job has run


async def test_server_startup_resumes_waiting_jobs(api_user):
    from asgiref.sync import sync_to_async

    from portal.asgi import application

    common = dict(tenant=api_user.tenant, owner=api_user, subject="s" * 32, model="tiny-chat")
    text = {"model": "tiny-chat", "prompt": "Hi", "max_tokens": 1, "temperature": 0.0}
    job = await sync_to_async(queued_job)(text, **common)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    await application({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    for _ in range(200):
        await job.arefresh_from_db()
        if job.status != "queued":
            break
        await __import__("asyncio").sleep(0.05)
    assert job.status in ("running", "succeeded")
