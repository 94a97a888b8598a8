"""The browser's websocket, through channels' communicator and the real ASGI routing."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from compliance.models import RequestLog
from portal.asgi import application
from portal.roles import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user, path: str = "/ws/text/") -> WebsocketCommunicator:
    """A websocket carrying the session cookie of a real login."""
    client = Client()
    await sync_to_async(client.login)(username=user.username, password=PASSWORD)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    communicator = WebsocketCommunicator(
        application,
        path,
        headers=[
            (b"cookie", cookie.encode()),
            (b"origin", b"http://127.0.0.1"),
            (b"host", b"127.0.0.1"),
        ],
    )
    return communicator


async def receive_until_final(communicator) -> list[dict]:
    messages = []
    while not messages or messages[-1]["type"] not in ("done", "error"):
        messages.append(await communicator.receive_json_from(timeout=30))
    return messages


@pytest.fixture
async def user(make_user):
    return await sync_to_async(make_user)("walter", Role.END_USER)


async def test_tokens_stream_one_message_each_then_done(user):
    communicator = await connect(user)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to(
        {"model": "tiny-chat", "prompt": "Hello", "max_tokens": 6, "temperature": 0}
    )
    messages = await receive_until_final(communicator)
    assert messages[0]["type"] == "start"
    tokens = [m for m in messages if m["type"] == "token"]
    assert len(tokens) >= 2
    assert messages[-1]["type"] == "done" and messages[-1]["completion_tokens"] == 6
    await communicator.disconnect()
    row = await RequestLog.objects.aget(request_id=messages[0]["request_id"])
    assert (row.endpoint, row.status_code, row.completion_tokens) == ("ws/text", 200, 6)


async def test_invalid_input_is_an_error_message_and_a_log_row(user):
    communicator = await connect(user)
    await communicator.connect()
    await communicator.send_json_to({"model": "tiny-chat", "prompt": "Hi", "max_tokens": 5000})
    messages = await receive_until_final(communicator)
    assert messages == [
        {"type": "error", "code": "context_length_exceeded", "message": messages[0]["message"]}
    ]
    await communicator.send_json_to({"model": "tiny-chat"})
    assert (await communicator.receive_json_from(timeout=10))["code"] == "invalid_request"
    await communicator.disconnect()
    codes = [code async for code in RequestLog.objects.values_list("error_code", flat=True)]
    assert sorted(codes) == ["context_length_exceeded", "invalid_request"]


async def test_malformed_json_frame_is_refused(user):
    communicator = await connect(user)
    await communicator.connect()
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from(timeout=10))["code"] == "invalid_request"
    await communicator.disconnect()


async def test_anonymous_socket_is_closed():
    communicator = WebsocketCommunicator(
        application,
        "/ws/text/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_auditor_socket_is_closed(make_user):
    auditor = await sync_to_async(make_user)("audrey", Role.AUDITOR)
    communicator = await connect(auditor)
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_closing_the_socket_cancels_the_generation(user):
    communicator = await connect(user)
    await communicator.connect()
    await communicator.send_json_to({"model": "tiny-chat", "prompt": "Hello", "max_tokens": 400})
    assert (await communicator.receive_json_from(timeout=30))["type"] == "start"
    await communicator.disconnect()
    for _ in range(100):
        row = await RequestLog.objects.filter(endpoint="ws/text").afirst()
        if row is not None:
            break
        await __import__("asyncio").sleep(0.05)
    assert row.status_code == 499 and row.error_code == "cancelled"
    assert row.completion_tokens == 0


async def test_image_generation_reports_every_denoising_step(user):
    communicator = await connect(user, "/ws/images/")
    await communicator.connect()
    await communicator.send_json_to({"model": "tiny-sd", "prompt": "A lighthouse", "steps": 4})
    messages = await receive_until_final(communicator)
    await communicator.disconnect()
    assert messages[0]["type"] == "start"
    progress = [(m["step"], m["total"]) for m in messages if m["type"] == "progress"]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert messages[-1]["type"] == "done" and len(messages[-1]["images"]) == 1
