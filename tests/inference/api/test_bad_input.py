"""Bad input: each case answers a 4xx with its stable code, reaches no model, and leaves only
one metadata log row carrying that code."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken

from compliance.models import RequestLog
from inference.models import Job
from portal.services.accounts import token_issue, token_revoke
from tests.conftest import raw_request

CHAT = "/v1/chat/completions"
SECRET_PROMPT = "Patient Jane Roe, MRN 99817, HIV positive"


def chat_body(**fields) -> bytes:
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": SECRET_PROMPT}],
        "max_tokens": 4,
    }
    body.update(fields)
    return json.dumps(body).encode()


def nested(depth: int) -> bytes:
    return b'{"model": "tiny-chat", "messages": ' + b"[" * depth + b"]" * depth + b"}"


JSON_CASES = {
    "invalid JSON": (b'{"model": "tiny-chat", "messages": [', 400, "invalid_request"),
    "nested 1,000 levels": (nested(1000), 400, "invalid_request"),
    "nested 100 levels": (nested(100), 400, "invalid_request"),
    "duplicate keys": (
        b'{"model": "tiny-chat", "model": "other", '
        b'"messages": [{"role": "user", "content": "hi"}]}',
        400,
        "invalid_request",
    ),
    "lone surrogate": (
        b'{"model": "tiny-chat", "messages": [{"role": "user", "content": "\\ud800"}]}',
        400,
        "invalid_text",
    ),
    "invalid UTF-8": (
        b'{"model": "tiny-chat", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        400,
        "invalid_text",
    ),
    "NaN": (chat_body()[:-1] + b', "temperature": NaN}', 400, "invalid_request"),
    "not an object": (b'["tiny-chat"]', 400, "invalid_request"),
    "empty body": (b"", 400, "invalid_request"),
    "max_tokens a string": (chat_body(max_tokens="4"), 400, "invalid_request"),
    "stream a string": (chat_body(stream="yes"), 400, "invalid_request"),
    "model a number": (chat_body(model=5), 400, "invalid_request"),
    "messages missing": (json.dumps({"model": "tiny-chat"}).encode(), 400, "invalid_request"),
    "model missing": (
        json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(),
        400,
        "invalid_request",
    ),
    "unknown role": (
        chat_body(messages=[{"role": "wizard", "content": "x"}]),
        400,
        "invalid_request",
    ),
    "unknown model": (chat_body(model="gpt-17"), 404, "model_not_found"),
    "embedding model for chat": (chat_body(model="minilm-embed"), 404, "model_not_found"),
    "empty prompt": (
        chat_body(messages=[{"role": "user", "content": "  "}]),
        400,
        "invalid_request",
    ),
    "no messages": (chat_body(messages=[]), 400, "invalid_request"),
    "negative max_tokens": (chat_body(max_tokens=-5), 400, "invalid_request"),
    "zero max_tokens": (chat_body(max_tokens=0), 400, "invalid_request"),
    "absurd max_tokens": (chat_body(max_tokens=10**12), 400, "invalid_request"),
    "max_tokens over the context": (chat_body(max_tokens=100_000), 400, "context_length_exceeded"),
    "prompt over the context": (
        chat_body(messages=[{"role": "user", "content": "word " * 5000}]),
        400,
        "context_length_exceeded",
    ),
    "temperature out of range": (chat_body(temperature=7), 400, "invalid_request"),
    "n above one": (chat_body(n=3), 400, "invalid_request"),
    "five stop sequences": (chat_body(stop=["a", "b", "c", "d", "e"]), 400, "invalid_request"),
    "NUL in prompt": (
        chat_body(messages=[{"role": "user", "content": "a\u0000b"}]),
        400,
        "invalid_text",
    ),
}


@pytest.fixture
def post(asgi_server, api_token):
    def send(body: bytes, *, path: str = CHAT, token: str | None = api_token, headers=None):
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return raw_request(asgi_server, "POST", path, body=body, headers=sent)

    return send


def assert_refused_cleanly(response, status: int, code: str, model_calls, logs_before: int):
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "param", "code"}
    assert SECRET_PROMPT not in error["message"]
    assert model_calls() == 0
    rows = list(RequestLog.objects.order_by("id")[logs_before:])
    assert [(row.status_code, row.error_code) for row in rows] == [(status, code)]
    assert not Job.objects.exists()


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_malformed_body_is_refused(case, post, model_calls):
    body, status, code = JSON_CASES[case]
    before = RequestLog.objects.count()
    assert_refused_cleanly(post(body), status, code, model_calls, before)


def test_ten_megabyte_body_is_refused(post, model_calls):
    body = chat_body(messages=[{"role": "user", "content": "x" * 10_000_000}])
    assert_refused_cleanly(post(body), 413, "payload_too_large", model_calls, 0)


def test_wrong_content_type_is_refused(post, model_calls):
    response = post(chat_body(), headers={"Content-Type": "text/plain"})
    assert_refused_cleanly(response, 415, "unsupported_media_type", model_calls, 0)


def test_missing_token(post, model_calls):
    assert_refused_cleanly(
        post(chat_body(), token=None), 401, "authentication_required", model_calls, 0
    )


def test_wrong_token(post, model_calls):
    response = post(chat_body(), token="cus_" + "x" * 60)
    assert_refused_cleanly(response, 401, "authentication_required", model_calls, 0)


def test_expired_token(post, model_calls, api_user):
    token = token_issue(user=api_user, expires_days=1)
    AuthToken.objects.filter(user=api_user, token_key=token[:15]).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    assert_refused_cleanly(
        post(chat_body(), token=token), 401, "authentication_required", model_calls, 0
    )


def test_revoked_token(post, model_calls, api_user, api_token):
    token_revoke(user=api_user, token_key=api_token[:15])
    response = post(chat_body(), token=api_token)
    assert_refused_cleanly(response, 401, "authentication_required", model_calls, 0)


def test_non_ascii_token(post, model_calls):
    bearer = "Bearer caf\xe9".encode("latin-1")
    response = post(chat_body(), token=None, headers={"Authorization": bearer})
    assert_refused_cleanly(response, 401, "authentication_required", model_calls, 0)


def test_token_in_query_string_is_refused(post, model_calls, api_token):
    response = post(chat_body(), path=f"{CHAT}?api_key={api_token}", token=None)
    assert_refused_cleanly(response, 401, "authentication_required", model_calls, 0)
    assert "Authorization" in response.json()["error"]["message"]


def test_token_in_query_string_is_refused_even_beside_a_header(post, model_calls, api_token):
    response = post(chat_body(), path=f"{CHAT}?token={api_token}")
    assert_refused_cleanly(response, 401, "authentication_required", model_calls, 0)


def test_read_only_role_may_not_run_inference(post, model_calls, make_user):
    from portal.roles import Role

    token = token_issue(user=make_user("audrey", Role.AUDITOR))
    assert_refused_cleanly(post(chat_body(), token=token), 403, "permission_denied", model_calls, 0)


def test_unknown_endpoint_answers_the_envelope(asgi_server):
    response = raw_request(asgi_server, "GET", "/v1/nothing-here")
    assert response.status == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_answers_the_envelope(asgi_server, api_token):
    response = raw_request(
        asgi_server, "GET", CHAT, headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status == 405
    assert response.json()["error"]["code"] == "invalid_request"


def test_bad_embeddings_input(post, model_calls):
    body = json.dumps({"model": "minilm-embed", "input": [[1, 2, 3]]}).encode()
    assert_refused_cleanly(
        post(body, path="/v1/embeddings"), 400, "invalid_request", model_calls, 0
    )


def test_refusals_leave_no_content_in_logs(post, caplog):
    for body, _, _ in JSON_CASES.values():
        post(body)
    assert SECRET_PROMPT not in caplog.text
    for row in RequestLog.objects.values():
        assert SECRET_PROMPT not in json.dumps(row, default=str)


def test_options_is_answered_not_crashed(asgi_server, api_token):
    response = raw_request(
        asgi_server, "OPTIONS", CHAT, headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status == 200
