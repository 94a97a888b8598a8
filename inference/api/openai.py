"""The OpenAI-compatible surface (/v1): it only translates shapes to and from the services.

The official `openai` client must work unchanged: Bearer tokens, its request fields, its
response objects, server-sent events ending in `data: [DONE]`, and errors in its envelope.
"""

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from inference.api.base import InferenceApiView
from inference.pipeline.postprocess import Delivery
from inference.pipeline.validate import EmbeddingsPayload, GenerationPayload
from inference.registry import ModelSpec, model_get, model_list
from inference.services import GenerationRun, embeddings_create, generation_start
from portal.errors import ApiError
from portal.serializer_fields import (
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StringOrListField,
)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}},
                },
            },
        ]
    }
)
class MessageContentField(serializers.Field):
    """A message's content: a string, or a list of `{"type": "text", "text": ...}` parts."""

    default_error_messages = {"invalid": "Must be a string or a list of text parts."}

    def to_internal_value(self, data) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
            for part in data
        ):
            return "".join(part["text"] for part in data)
        self.fail("invalid")

    def to_representation(self, value):
        return value


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(["system", "developer", "user", "assistant"])
    content = MessageContentField()
    name = StrictCharField(max_length=64, required=False)


class StreamOptionsSerializer(serializers.Serializer):
    include_usage = StrictBooleanField(default=False)


class GenerationParamsSerializer(serializers.Serializer):
    """Fields shared by chat and text completions."""

    model = StrictCharField(max_length=100)
    max_tokens = StrictIntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )
    temperature = StrictFloatField(min_value=0, max_value=2, required=False, allow_null=True)
    top_p = StrictFloatField(min_value=0, max_value=1, required=False, allow_null=True)
    seed = StrictIntegerField(required=False, allow_null=True)
    n = StrictIntegerField(min_value=1, max_value=1, required=False, allow_null=True)
    stop = StringOrListField(max_items=4, required=False, allow_null=True)
    stream = StrictBooleanField(required=False, allow_null=True)
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)
    user = StrictCharField(max_length=256, required=False, allow_blank=False)
    store = StrictBooleanField(required=False, allow_null=True)
    logprobs = StrictBooleanField(required=False, allow_null=True)

    def validate_logprobs(self, value):
        if value:
            raise serializers.ValidationError("logprobs are not supported.")
        return value

    def payload(self, **prompt) -> GenerationPayload:
        data = self.validated_data
        temperature = data.get("temperature")
        return GenerationPayload(
            model=data["model"],
            max_tokens=data.get("max_tokens"),
            temperature=1.0 if temperature is None else temperature,
            top_p=1.0 if data.get("top_p") is None else data["top_p"],
            seed=data.get("seed"),
            stop=data.get("stop") or (),
            stream=bool(data.get("stream")),
            **prompt,
        )


class ChatCompletionRequestSerializer(GenerationParamsSerializer):
    messages = MessageSerializer(many=True, allow_empty=False, max_length=256)
    max_completion_tokens = StrictIntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )
    tools = serializers.JSONField(required=False)

    def validate_tools(self, value):
        if value:
            raise serializers.ValidationError("Tool calling is not supported.")
        return value

    def to_payload(self) -> GenerationPayload:
        data = self.validated_data
        payload = self.payload(messages=tuple(dict(m) for m in data["messages"]))
        if data.get("max_completion_tokens") and not data.get("max_tokens"):
            return replace(payload, max_tokens=data["max_completion_tokens"])
        return payload


class CompletionRequestSerializer(GenerationParamsSerializer):
    prompt = StringOrListField(max_items=1)
    echo = StrictBooleanField(required=False, allow_null=True)

    def validate_echo(self, value):
        if value:
            raise serializers.ValidationError("echo is not supported.")
        return value

    def to_payload(self) -> GenerationPayload:
        prompts = self.validated_data["prompt"]
        if not prompts:
            raise ApiError("invalid_request", "The prompt is empty.", param="prompt")
        return self.payload(prompt=prompts[0])


class EmbeddingRequestSerializer(serializers.Serializer):
    model = StrictCharField(max_length=100)
    input = StringOrListField(max_items=256)
    encoding_format = serializers.ChoiceField(["float", "base64"], default="float")
    user = StrictCharField(max_length=256, required=False)
    dimensions = StrictIntegerField(required=False, allow_null=True)

    def validate_dimensions(self, value):
        if value is not None:
            raise serializers.ValidationError("Choosing dimensions is not supported.")
        return value


def parse_body(serializer_class, request):
    if not isinstance(request.data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer


def _usage(delivery: Delivery) -> dict:
    return {
        "prompt_tokens": delivery.prompt_tokens,
        "completion_tokens": delivery.completion_tokens,
        "total_tokens": delivery.prompt_tokens + delivery.completion_tokens,
    }


def _sse(data: dict | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def data_headers(spec: ModelSpec, *, cache: str) -> dict:
    """Where the data was served, and how the output cache was used (hit, miss, bypass)."""
    return {"X-Data-Region": spec.region, "X-Cache": cache}


def _completion_schema(serializer_class, object_name: str, chunk_name: str):
    """The OpenAPI description of a completion endpoint (each subclass's `post` carries it)."""
    description = f"A {object_name} object, or server-sent {chunk_name} events when streaming."
    return extend_schema(
        request=serializer_class,
        responses={200: OpenApiResponse(description=description)},
        tags=["OpenAI-compatible"],
    )


class _CompletionApi(InferenceApiView):
    """Chat and text completions differ only in their request and chunk shapes."""

    serializer_class: type[GenerationParamsSerializer]
    object_name = ""
    chunk_object_name = ""
    id_prefix = ""

    async def post(self, request):
        serializer = parse_body(self.serializer_class, request)
        payload = serializer.to_payload()
        data = serializer.validated_data
        caller = self.caller(request, end_user=data.get("user"), store=data.get("store"))
        run = await generation_start(caller=caller, payload=payload)
        meta = {
            "id": f"{self.id_prefix}-{caller.request_id}",
            "created": int(time.time()),
            "model": payload.model,
        }
        headers = data_headers(run.request.model, cache=run.cache)
        if payload.stream:
            include_usage = bool(
                (serializer.validated_data.get("stream_options") or {}).get("include_usage")
            )
            response = StreamingHttpResponse(
                self._events(run, meta, include_usage), content_type="text/event-stream"
            )
            for name, value in {
                **headers,
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }.items():
                response[name] = value
            return response
        delivery = await run.complete()
        body = {
            **meta,
            "object": self.object_name,
            "choices": [self.choice(delivery)],
            "usage": _usage(delivery),
        }
        return Response(body, headers=headers)

    async def _events(
        self, run: GenerationRun, meta: dict, include_usage: bool
    ) -> AsyncIterator[bytes]:
        chunk = {**meta, "object": self.chunk_object_name}
        yield _sse({**chunk, "choices": [self.delta("", first=True)]})
        try:
            async for piece in run.pieces():
                yield _sse({**chunk, "choices": [self.delta(piece)]})
        except ApiError as error:
            yield _sse(error.body())
            return
        delivery = run.delivery
        yield _sse({**chunk, "choices": [self.delta("", finish_reason=delivery.finish_reason)]})
        if include_usage:
            yield _sse({**chunk, "choices": [], "usage": _usage(delivery)})
        yield _sse("[DONE]")


class ChatCompletionApi(_CompletionApi):
    endpoint = "/v1/chat/completions"
    serializer_class = ChatCompletionRequestSerializer
    object_name = "chat.completion"
    chunk_object_name = "chat.completion.chunk"
    id_prefix = "chatcmpl"

    @_completion_schema(ChatCompletionRequestSerializer, "chat.completion", "chat.completion.chunk")
    async def post(self, request):
        return await super().post(request)

    @staticmethod
    def choice(delivery: Delivery) -> dict:
        return {
            "index": 0,
            "message": {"role": "assistant", "content": delivery.text},
            "finish_reason": delivery.finish_reason,
            "logprobs": None,
        }

    @staticmethod
    def delta(piece: str, *, first: bool = False, finish_reason: str | None = None) -> dict:
        delta = (
            {"role": "assistant", "content": ""}
            if first
            else ({} if finish_reason else {"content": piece})
        )
        return {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}


class CompletionApi(_CompletionApi):
    endpoint = "/v1/completions"
    serializer_class = CompletionRequestSerializer
    object_name = "text_completion"
    chunk_object_name = "text_completion"
    id_prefix = "cmpl"

    @_completion_schema(CompletionRequestSerializer, "text_completion", "text_completion")
    async def post(self, request):
        return await super().post(request)

    @staticmethod
    def choice(delivery: Delivery) -> dict:
        return {
            "index": 0,
            "text": delivery.text,
            "finish_reason": delivery.finish_reason,
            "logprobs": None,
        }

    @staticmethod
    def delta(piece: str, *, first: bool = False, finish_reason: str | None = None) -> dict:
        return {"index": 0, "text": piece, "finish_reason": finish_reason, "logprobs": None}


def _encode_vector(vector: tuple[float, ...], encoding_format: str):
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return list(vector)


class EmbeddingApi(InferenceApiView):
    endpoint = "/v1/embeddings"

    @extend_schema(
        request=EmbeddingRequestSerializer,
        responses={200: OpenApiResponse(description="A list of embedding objects.")},
        tags=["OpenAI-compatible"],
    )
    async def post(self, request):
        serializer = parse_body(EmbeddingRequestSerializer, request)
        data = serializer.validated_data
        caller = self.caller(request, end_user=data.get("user"))
        delivery = await embeddings_create(
            caller=caller, payload=EmbeddingsPayload(model=data["model"], inputs=data["input"])
        )
        body = {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": _encode_vector(vector, data["encoding_format"]),
                }
                for index, vector in enumerate(delivery.vectors)
            ],
            "model": data["model"],
            "usage": {
                "prompt_tokens": delivery.prompt_tokens,
                "total_tokens": delivery.prompt_tokens,
            },
        }
        return Response(body, headers=data_headers(model_get(data["model"]), cache=delivery.cache))


def _model_object(spec: ModelSpec) -> dict:
    return {
        "id": spec.name,
        "object": "model",
        "created": 0,
        "owned_by": "custos",
        "task": spec.task,
    }


class ModelListApi(InferenceApiView):
    endpoint = "/v1/models"

    @extend_schema(
        responses={200: OpenApiResponse(description="The models this server serves.")},
        tags=["OpenAI-compatible"],
    )
    async def get(self, request):
        specs = model_list(tenant_slug=request.user.tenant.slug)
        return Response({"object": "list", "data": [_model_object(spec) for spec in specs]})


class ModelDetailApi(InferenceApiView):
    endpoint = "/v1/models"

    @extend_schema(
        responses={200: OpenApiResponse(description="One model.")},
        operation_id="v1_model_retrieve",
        tags=["OpenAI-compatible"],
    )
    async def get(self, request, model: str):
        return Response(_model_object(model_get(model, tenant_slug=request.user.tenant.slug)))
