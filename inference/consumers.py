"""Websockets for the browser pages: text streams token by token, images report each step.

A socket carries one request at a time; closing it cancels the request and frees its batch
slot. Messages out: {"type": "start", "request_id"}, then {"type": "token", "text"} (text) or
{"type": "progress", "step", "total"} (images), then {"type": "done", ...} or
{"type": "error", "code", "message"}.
"""

import asyncio
import base64
import json
import uuid
from abc import ABC, abstractmethod

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework.exceptions import ValidationError

from compliance.services.subjects import subject_reference
from inference.api.media import ImageGenerationRequestSerializer, default_model
from inference.api.openai import ChatCompletionRequestSerializer
from inference.pipeline.validate import Caller
from inference.pipeline.validate.media import ImageGenerationPayload
from inference.services import generation_start, request_failure_record
from inference.services.media import image_generate
from portal.errors import ApiError, api_error_from_exception
from portal.models import Tenant
from portal.permissions import user_can_run_inference


class _InferenceConsumer(AsyncJsonWebsocketConsumer, ABC):
    """Session-authenticated; one request at a time; every refusal leaves its log row."""

    endpoint = ""

    async def connect(self):
        self.user = self.scope["user"]
        self.running: asyncio.Task | None = None
        if not await database_sync_to_async(user_can_run_inference)(self.user):
            await self.close(code=4403)
            return
        self.tenant = await Tenant.objects.aget(id=self.user.tenant_id)
        await self.accept()

    async def disconnect(self, code):
        if self.running is not None:
            self.running.cancel()

    async def receive_json(self, content, **kwargs):
        if self.running is not None and not self.running.done():
            await self._send_error(ApiError("rate_limited", "A request is already running."))
            return
        self.running = asyncio.create_task(self._serve(content))

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def _serve(self, content) -> None:
        request_id = uuid.uuid4().hex
        request_bytes = len(json.dumps(content).encode())
        try:
            if not isinstance(content, dict):
                raise ApiError("invalid_request", "Send a JSON object.")
            caller = Caller(
                request_id=request_id,
                user_id=self.user.id,
                tenant=self.tenant,
                subject_reference=subject_reference(user_id=self.user.id),
                endpoint=self.endpoint,
                request_bytes=request_bytes,
            )
            await self.serve(caller, content)
        except (ApiError, ValidationError) as exc:
            error = api_error_from_exception(exc)
            if not error.recorded:
                await request_failure_record(
                    request_id=request_id,
                    endpoint=self.endpoint,
                    status_code=error.status,
                    error_code=error.code,
                    user=self.user,
                    request_bytes=request_bytes,
                )
            await self._send_error(error)

    @abstractmethod
    async def serve(self, caller: Caller, content: dict) -> None:
        """Answer one message of the socket's kind for this caller."""

    async def _send_error(self, error: ApiError) -> None:
        await self.send_json({"type": "error", "code": error.code, "message": error.message})


class TextStreamConsumer(_InferenceConsumer):
    """In: {"model", "prompt", "max_tokens"?, "temperature"?, "seed"?}."""

    endpoint = "ws/text"

    async def serve(self, caller: Caller, content: dict) -> None:
        if not isinstance(content.get("prompt"), str):
            raise ApiError("invalid_request", "Send a JSON object with a prompt string.")
        fields = {
            k: content[k] for k in ("model", "max_tokens", "temperature", "seed") if k in content
        }
        fields["messages"] = [{"role": "user", "content": content["prompt"]}]
        fields["stream"] = True
        serializer = ChatCompletionRequestSerializer(data=fields)
        serializer.is_valid(raise_exception=True)
        run = await generation_start(caller=caller, payload=serializer.to_payload())
        await self.send_json({"type": "start", "request_id": caller.request_id})
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


class ImageGenerationConsumer(_InferenceConsumer):
    """In: {"model"?, "prompt", "n"?, "seed"?, "steps"?}; progress after every denoising step."""

    endpoint = "ws/images"

    async def serve(self, caller: Caller, content: dict) -> None:
        serializer = ImageGenerationRequestSerializer(data=content)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        async def progress(step: int, total: int) -> None:
            if step == 1:  # accepted and running: validation is behind it
                await self.send_json({"type": "start", "request_id": caller.request_id})
            await self.send_json({"type": "progress", "step": step, "total": total})

        delivery = await image_generate(
            caller=caller,
            payload=ImageGenerationPayload(
                model=data.get("model") or default_model("image-generation", self.tenant.slug),
                prompt=data["prompt"],
                n=data["n"],
                steps=data.get("steps"),
                seed=data.get("seed"),
            ),
            on_progress=progress,
        )
        images = [base64.b64encode(png).decode() for png in delivery.images_png]
        await self.send_json({"type": "done", "images": images})
