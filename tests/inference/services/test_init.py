"""The stage order and its records: every outcome writes exactly one metadata-only row."""

import json

import pytest

from compliance.models import RequestLog
from inference.pipeline.validate import Caller, EmbeddingsPayload, GenerationPayload
from inference.services import embeddings_create, generation_start
from portal.errors import ApiError

pytestmark = pytest.mark.django_db(transaction=True)
PROMPT = "Jane Roe, born 1970-01-01, asks about her biopsy"


@pytest.fixture
def caller(tenant) -> Caller:
    return Caller(
        request_id="a" * 32,
        user_id=7,
        tenant=tenant,
        subject_reference="user:7",
        endpoint="/v1/completions",
        request_bytes=123,
    )


async def test_a_completed_generation_records_its_measures(caller):
    run = await generation_start(
        caller=caller, payload=GenerationPayload(model="tiny-chat", prompt=PROMPT, max_tokens=4)
    )
    delivery = await run.complete()
    row = await RequestLog.objects.aget(request_id=caller.request_id)
    assert (row.status_code, row.error_code, row.model, row.modality, row.task) == (
        200,
        "",
        "tiny-chat",
        "text",
        "text-generation",
    )
    assert (row.prompt_tokens, row.completion_tokens) == (
        delivery.prompt_tokens,
        delivery.completion_tokens,
    )
    assert 1 <= row.completion_tokens <= 4
    assert row.request_bytes == 123 and row.actor_id == 7 and len(row.subject) == 32
    assert row.total_ms >= row.execute_ms > 0 and row.validate_ms > 0
    assert row.region == "local"


async def test_a_refusal_records_its_code_and_raises_it(caller, model_calls):
    with pytest.raises(ApiError) as raised:
        await generation_start(
            caller=caller, payload=GenerationPayload(model="tiny-chat", prompt=" ")
        )
    assert raised.value.recorded
    row = await RequestLog.objects.aget(request_id=caller.request_id)
    assert (row.status_code, row.error_code, row.model) == (400, "invalid_request", "tiny-chat")
    assert model_calls() == 0


async def test_an_abandoned_stream_records_a_cancellation(caller):
    run = await generation_start(
        caller=caller, payload=GenerationPayload(model="tiny-chat", prompt=PROMPT, max_tokens=300)
    )
    pieces = run.pieces()
    await pieces.__anext__()
    await pieces.aclose()
    row = await RequestLog.objects.aget(request_id=caller.request_id)
    assert (row.status_code, row.error_code) == (499, "cancelled")


async def test_embeddings_record_their_tokens(caller):
    delivery = await embeddings_create(
        caller=caller, payload=EmbeddingsPayload(model="minilm-embed", inputs=("a b", "c"))
    )
    row = await RequestLog.objects.aget(request_id=caller.request_id)
    assert row.prompt_tokens == delivery.prompt_tokens > 0 and row.task == "embeddings"


async def test_the_log_never_holds_content(caller):
    run = await generation_start(
        caller=caller, payload=GenerationPayload(model="tiny-chat", prompt=PROMPT, max_tokens=8)
    )
    delivery = await run.complete()
    rows = [row async for row in RequestLog.objects.values()]
    dumped = json.dumps(rows, default=str)
    assert PROMPT not in dumped and "Jane" not in dumped
    assert not delivery.text or delivery.text not in dumped


async def test_a_run_dropped_unread_is_cancelled_and_recorded(caller):
    import asyncio
    import gc

    run = await generation_start(
        caller=caller, payload=GenerationPayload(model="tiny-chat", prompt=PROMPT, max_tokens=300)
    )
    handle = run._handle
    del run
    gc.collect()
    assert handle.cancelled.is_set()
    for _ in range(100):
        row = await RequestLog.objects.filter(request_id=caller.request_id).afirst()
        if row is not None:
            break
        await asyncio.sleep(0.02)
    assert (row.status_code, row.error_code) == (499, "cancelled")


async def test_a_request_cancelled_while_it_is_checked_is_recorded(caller, monkeypatch):
    import asyncio
    import time as clock

    import inference.services as services

    validate = services.validate_generation

    def slow_validate(**kwargs):
        clock.sleep(0.3)
        return validate(**kwargs)

    monkeypatch.setattr(services, "validate_generation", slow_validate)
    task = asyncio.ensure_future(
        generation_start(caller=caller, payload=GenerationPayload(model="tiny-chat", prompt="Hi"))
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await RequestLog.objects.aget(request_id=caller.request_id)
    assert (row.status_code, row.error_code, row.model) == (499, "cancelled", "tiny-chat")
