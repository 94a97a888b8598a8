"""The OpenAI-compatible surface, driven by the official `openai` client over real HTTP."""

import base64
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import openai
import pytest

from compliance.models import RequestLog
from inference.pipeline.engine import pool_get
from inference.registry import model_get, model_kv_cache_bytes_per_token

PROMPT = "The patient agreed to share the scan with the clinic."


@pytest.fixture
def client(asgi_server, api_token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_token, max_retries=0)


def test_models_lists_the_catalogue(client):
    ids = [model.id for model in client.models.list()]
    assert ids == ["tiny-chat", "minilm-embed", "tiny-vit", "tiny-sd", "tiny-whisper", "silero-vad"]
    assert client.models.retrieve("tiny-chat").id == "tiny-chat"


def test_chat_completion_answers_and_reports_usage(client):
    reply = client.chat.completions.create(
        model="tiny-chat",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_greedy_chat_is_deterministic(client):
    ask = dict(model="tiny-chat", messages=[{"role": "user", "content": PROMPT}], max_tokens=8)
    first = client.chat.completions.create(temperature=0, **ask)
    second = client.chat.completions.create(temperature=0, **ask)
    assert first.choices[0].message.content == second.choices[0].message.content


def test_seeded_sampling_is_reproducible(client):
    ask = dict(model="tiny-chat", prompt=PROMPT, max_tokens=12, temperature=1.0)
    first = client.completions.create(seed=7, **ask)
    second = client.completions.create(seed=7, **ask)
    assert first.choices[0].text == second.choices[0].text


def test_streamed_chat_equals_the_whole_answer(client):
    ask = dict(
        model="tiny-chat",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=10,
        temperature=0,
    )
    whole = client.chat.completions.create(**ask).choices[0].message.content
    chunks = list(
        client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **ask)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["length"] or finish == ["stop"]
    assert chunks[-1].usage.completion_tokens <= 10


def test_streamed_completion_arrives_in_several_events(client, asgi_server, api_token):
    stream = client.completions.create(
        model="tiny-chat", prompt=PROMPT, max_tokens=16, temperature=0, stream=True
    )
    events = list(stream)
    assert len(events) >= 3  # first, some tokens, finish: not one buffered blob


def test_stream_ends_with_done_marker(asgi_server, api_token):
    from tests.conftest import raw_request

    response = raw_request(
        asgi_server,
        "POST",
        "/v1/completions",
        body=b'{"model": "tiny-chat", "prompt": "Hello", "max_tokens": 3, "stream": true}',
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": "application/json"},
    )
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.body.rstrip().endswith(b"data: [DONE]")


def test_embeddings_are_normalised_and_meaningful(client):
    result = client.embeddings.create(
        model="minilm-embed",
        input=["A cat sits on the mat.", "A cat is sitting on a rug.", "Quarterly revenue grew."],
        encoding_format="float",
    )
    vectors = np.array([item.embedding for item in result.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.5 > vectors[0] @ vectors[2]


def test_embeddings_default_base64_encoding_matches_floats(client, asgi_server, api_token):
    floats = client.embeddings.create(model="minilm-embed", input="hello", encoding_format="float")
    packed = client.with_raw_response.embeddings.create(
        model="minilm-embed", input="hello", encoding_format="base64"
    )
    raw = packed.http_response.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(raw), dtype="<f4")
    assert np.allclose(decoded, floats.data[0].embedding, atol=1e-6)


def test_unknown_model_is_an_openai_error(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "model_not_found"


def test_bad_token_is_an_authentication_error(asgi_server):
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key="cus_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.models.list()
    assert raised.value.code == "authentication_required"


def test_responses_carry_request_id_and_region(client):
    raw = client.chat.completions.with_raw_response.create(
        model="tiny-chat", messages=[{"role": "user", "content": PROMPT}], max_tokens=2
    )
    assert len(raw.headers["x-request-id"]) == 32
    assert raw.headers["x-data-region"] == "local"
    row = RequestLog.objects.get(request_id=raw.headers["x-request-id"])
    assert row.status_code == 200 and row.model == "tiny-chat" and row.completion_tokens <= 2


def test_user_field_names_a_distinct_subject(client, api_user):
    ask = dict(model="tiny-chat", messages=[{"role": "user", "content": PROMPT}], max_tokens=2)
    client.chat.completions.create(user="patient-1", **ask)
    client.chat.completions.create(user="patient-2", **ask)
    client.chat.completions.create(**ask)
    subjects = set(
        RequestLog.objects.filter(actor_id=api_user.id).values_list("subject", flat=True)
    )
    assert len(subjects) == 3
    assert not any("patient" in subject for subject in subjects)


def test_concurrent_streams_share_batches_and_each_gets_its_own_tokens(client):
    prompts = [f"Request number {i} about the scan." for i in range(6)]
    ask = dict(model="tiny-chat", max_tokens=12, temperature=0)
    expected = [
        client.completions.create(prompt=prompt, **ask).choices[0].text for prompt in prompts
    ]
    steps_before = pool_get("tiny-chat").steps_run

    def stream(prompt: str) -> tuple[int, str]:
        events = list(client.completions.create(prompt=prompt, stream=True, **ask))
        return len(events), "".join(e.choices[0].text for e in events if e.choices)

    with ThreadPoolExecutor(len(prompts)) as pool:
        results = list(pool.map(stream, prompts))
    assert [text for _, text in results] == expected
    assert all(count >= 3 for count, _ in results)
    # six requests of 12 tokens alone would take 6 x 12 steps; batched they share steps
    assert pool_get("tiny-chat").steps_run - steps_before < 6 * 12


def test_a_client_that_hangs_up_cancels_its_request(asgi_server, api_token):
    host, port = asgi_server.removeprefix("http://").split(":")
    body = b'{"model": "tiny-chat", "prompt": "Hello", "max_tokens": 480, "stream": true}'
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            + f"Authorization: Bearer {api_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert b"data:" in sock.recv(4096)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = RequestLog.objects.filter(endpoint="/v1/completions").first()
        if row is not None:
            break
        time.sleep(0.05)
    assert (row.status_code, row.error_code) == (499, "cancelled")
    assert row.completion_tokens == 0
    while pool_get("tiny-chat").runner.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool_get("tiny-chat").runner.running == []


def test_log_row_records_kv_cache_bytes_and_queue_time(client):
    raw = client.completions.with_raw_response.create(
        model="tiny-chat", prompt="Hello", max_tokens=5, temperature=0
    )
    row = RequestLog.objects.get(request_id=raw.headers["x-request-id"])
    spec = model_get("tiny-chat")
    assert row.kv_cache_bytes == (row.prompt_tokens + 5) * model_kv_cache_bytes_per_token(spec)
    assert row.queue_ms >= 0
