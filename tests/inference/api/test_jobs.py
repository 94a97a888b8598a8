"""The native jobs API over real HTTP: create, list own, detail."""

import json
import time

import pytest

from compliance.models import RequestLog
from inference.models import Job
from portal.roles import Role
from portal.services.accounts import token_issue
from tests.conftest import raw_request


@pytest.fixture
def call(asgi_server):
    def send(method: str, path: str, token: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        return raw_request(asgi_server, method, path, body=data, headers=headers)

    return send


def wait_done(call, token: str, job_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = call("GET", f"/api/v1/jobs/{job_id}", token).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_text_generation_job_runs_and_is_read_back(call, api_token):
    created = call(
        "POST",
        "/api/v1/jobs/",
        api_token,
        {
            "task": "text-generation",
            "model": "tiny-chat",
            "input": {"prompt": "Hello", "max_tokens": 5},
        },
    )
    assert created.status == 202
    assert created.headers["location"] == f"/api/v1/jobs/{created.json()['id']}"
    job = wait_done(call, api_token, created.json()["id"])
    assert job["status"] == "succeeded" and job["error"] is None
    assert job["result"]["usage"]["completion_tokens"] <= 5
    assert isinstance(job["result"]["text"], str)
    assert RequestLog.objects.filter(
        request_id=created.json()["id"].replace("-", ""), status_code=200
    ).exists()


def test_chat_and_embedding_jobs(call, api_token):
    chat = call(
        "POST",
        "/api/v1/jobs/",
        api_token,
        {
            "task": "text-generation",
            "model": "tiny-chat",
            "input": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3},
        },
    ).json()
    embed = call(
        "POST",
        "/api/v1/jobs/",
        api_token,
        {"task": "embeddings", "model": "minilm-embed", "input": {"input": ["one", "two"]}},
    ).json()
    assert wait_done(call, api_token, chat["id"])["status"] == "succeeded"
    vectors = wait_done(call, api_token, embed["id"])["result"]["embeddings"]
    assert len(vectors) == 2 and len(vectors[0]) == 384


def test_list_shows_only_the_callers_jobs(call, api_token, make_user):
    other_token = token_issue(user=make_user("bob", Role.API_USER))
    body = {
        "task": "text-generation",
        "model": "tiny-chat",
        "input": {"prompt": "Hi", "max_tokens": 1},
    }
    mine = call("POST", "/api/v1/jobs/", api_token, body).json()
    theirs = call("POST", "/api/v1/jobs/", other_token, body).json()
    listed = call("GET", "/api/v1/jobs/", api_token).json()
    assert [job["id"] for job in listed["results"]] == [mine["id"]] and listed["count"] == 1
    hidden = call("GET", f"/api/v1/jobs/{theirs['id']}", api_token)
    assert hidden.status == 404 and hidden.error_code == "not_found"


@pytest.mark.parametrize(
    "body, code",
    [
        (
            {"task": "text-generation", "model": "tiny-chat", "input": {"prompt": ""}},
            "invalid_request",
        ),
        ({"task": "text-generation", "model": "nope", "input": {"prompt": "x"}}, "model_not_found"),
        ({"task": "painting", "model": "tiny-chat", "input": {"prompt": "x"}}, "invalid_request"),
        ({"task": "embeddings", "model": "minilm-embed", "input": {"input": 5}}, "invalid_request"),
        (
            {
                "task": "text-generation",
                "model": "tiny-chat",
                "input": {"prompt": "x", "max_tokens": 9999},
            },
            "context_length_exceeded",
        ),
    ],
)
def test_a_refused_job_is_never_stored(call, api_token, model_calls, body, code):
    response = call("POST", "/api/v1/jobs/", api_token, body)
    assert response.status in (400, 404) and response.error_code == code
    assert not Job.objects.exists()
    assert model_calls() == 0
    assert list(RequestLog.objects.values_list("error_code", flat=True)) == [code]


def test_pagination_parameters_are_checked(call, api_token):
    assert call("GET", "/api/v1/jobs/?limit=abc", api_token).error_code == "invalid_request"
