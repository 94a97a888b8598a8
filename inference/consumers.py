"""Websocket streaming for the browser's text page: tokens arrive as they are produced.

The socket carries one generation at a time; closing it cancels the generation and frees its
batch slot. Messages in: {"model", "prompt", "max_tokens"?, "temperature"?, "seed"?}.
Messages out: {"type": "start"}, {"type": "token", "text"}, {"type": "done", ...} or
{"type": "error", "code", "message"}.
"""

import asyncio
import json
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework.exceptions import ValidationError

from inference.api.openai import ChatCompletionRequestSerializer
from inference.pipeline.validate import Caller
from inference.services import generation_start, request_failure_record
from portal.errors import ApiError, api_error_from_exception
from portal.models import Tenant
from portal.permissions import user_can_run_inference

ENDPOINT = "ws/text"


class TextStreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope["user"]
        self.generation: asyncio.Task | None = None
        if not await database_sync_to_async(user_can_run_inference)(self.user):
            await self.close(code=4403)
            return
        self.tenant = await Tenant.objects.aget(id=self.user.tenant_id)
        await self.accept()

    async def disconnect(self, code):
        if self.generation is not None:
            self.generation.cancel()

    async def receive_json(self, content, **kwargs):
        if self.generation is not None and not self.generation.done():
            await self._send_error(ApiError("rate_limited", "A generation is already running."))
            return
        self.generation = asyncio.create_task(self._generate(content))

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _generate(self, content) -> None:
        request_id = uuid.uuid4().hex
        try:
            payload = self._payload(content)
            caller = Caller(
                request_id=request_id,
                user_id=self.user.id,
                tenant=self.tenant,
                subject_reference=f"user:{self.user.id}",
                endpoint=ENDPOINT,
                request_bytes=len(json.dumps(content).encode()),
            )
            run = await generation_start(caller=caller, payload=payload)
            await self.send_json({"type": "start", "request_id": request_id})
            async for piece in run.pieces():
                await self.send_json({"type": "token", "text": piece})
            delivery = run.delivery
            await self.send_json(
                {
                    "type": "done",
                    "finish_reason": delivery.finish_reason,
                    "prompt_tokens": delivery.prompt_tokens,
                    "completion_tokens": delivery.completion_tokens,
                }
            )
        except (ApiError, ValidationError) as exc:
            error = api_error_from_exception(exc)
            if not error.recorded:
                await request_failure_record(
                    request_id=request_id,
                    endpoint=ENDPOINT,
                    status_code=error.status,
                    error_code=error.code,
                    user=self.user,
                    request_bytes=len(json.dumps(content).encode()),
                )
            await self._send_error(error)

    def _payload(self, content):
        if not isinstance(content, dict) or not isinstance(content.get("prompt"), str):
            raise ApiError("invalid_request", "Send a JSON object with a prompt string.")
        fields = {
            key: content[key]
            for key in ("model", "max_tokens", "temperature", "seed")
            if key in content
        }
        fields["messages"] = [{"role": "user", "content": content["prompt"]}]
        fields["stream"] = True
        serializer = ChatCompletionRequestSerializer(data=fields)
        serializer.is_valid(raise_exception=True)
        return serializer.to_payload()

    async def _send_error(self, error: ApiError) -> None:
        await self.send_json({"type": "error", "code": error.code, "message": error.message})
