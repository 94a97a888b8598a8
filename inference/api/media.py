"""OpenAI-compatible image generation and transcription (/v1/images, /v1/audio).

Shapes only: the requests become payloads for the media services, and deliveries become
OpenAI's response objects, so the official client works unchanged.
"""

import base64
import time

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from inference.api.base import InferenceApiView
from inference.api.openai import data_headers, parse_body
from inference.pipeline.validate.media import MAX_IMAGES, FilePayload, ImageGenerationPayload
from inference.registry import model_get, model_list
from inference.services.media import image_generate, transcribe
from portal.errors import ApiError
from portal.serializer_fields import StrictCharField, StrictIntegerField

# A multipart body carries the file plus a few fields; refuse a larger one before reading it.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def default_model(task: str, tenant_slug: str) -> str:
    """OpenAI lets `model` be omitted: the first model of the task this tenant may use."""
    for spec in model_list(tenant_slug=tenant_slug):
        if spec.task == task:
            return spec.name
    raise ApiError("model_not_found", f"No model serves {task} here.", param="model")


def check_upload_size(request, max_bytes: int) -> None:
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise ApiError("payload_too_large", f"Files are limited to {max_bytes} bytes.")


class ImageGenerationRequestSerializer(serializers.Serializer):
    prompt = StrictCharField(max_length=4000)
    model = StrictCharField(max_length=100, required=False)
    n = StrictIntegerField(min_value=1, max_value=MAX_IMAGES, default=1)
    size = StrictCharField(max_length=20, required=False)
    response_format = serializers.ChoiceField(["b64_json", "url"], default="b64_json")
    seed = StrictIntegerField(required=False, allow_null=True)
    steps = StrictIntegerField(required=False, allow_null=True, help_text="Denoising steps.")
    user = StrictCharField(max_length=256, required=False)

    def validate_response_format(self, value):
        if value != "b64_json":
            raise serializers.ValidationError("Only b64_json: Custos keeps no images to link to.")
        return value


class ImageGenerationApi(InferenceApiView):
    endpoint = "/v1/images/generations"

    @extend_schema(
        request=ImageGenerationRequestSerializer,
        responses={200: OpenApiResponse(description="Images as base64-encoded PNG.")},
        tags=["OpenAI-compatible"],
    )
    async def post(self, request):
        data = parse_body(ImageGenerationRequestSerializer, request).validated_data
        model = data.get("model") or default_model("image-generation", request.user.tenant.slug)
        delivery = await image_generate(
            caller=self.caller(request, end_user=data.get("user")),
            payload=ImageGenerationPayload(
                model=model,
                prompt=data["prompt"],
                n=data["n"],
                size=data.get("size"),
                steps=data.get("steps"),
                seed=data.get("seed"),
            ),
        )
        images = [
            {"b64_json": base64.b64encode(png).decode(), "revised_prompt": None}
            for png in delivery.images_png
        ]
        return Response(
            {"created": int(time.time()), "data": images},
            headers=data_headers(model_get(model), cache=delivery.cache),
        )


class TranscriptionRequestSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)  # an empty file is invalid_audio/image
    model = serializers.CharField(max_length=100, required=False)
    response_format = serializers.ChoiceField(["json", "text", "verbose_json"], default="json")
    language = serializers.CharField(max_length=16, required=False)
    prompt = serializers.CharField(max_length=1000, required=False)
    temperature = serializers.FloatField(min_value=0, max_value=1, required=False)
    user = serializers.CharField(max_length=256, required=False)


class TranscriptionApi(InferenceApiView):
    endpoint = "/v1/audio/transcriptions"
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": TranscriptionRequestSerializer},
        responses={200: OpenApiResponse(description="The transcript (json, text, verbose_json).")},
        tags=["OpenAI-compatible"],
    )
    async def post(self, request):
        check_upload_size(request, settings.MAX_AUDIO_BYTES)
        data = parse_body(TranscriptionRequestSerializer, request).validated_data
        model = data.get("model") or default_model("transcription", request.user.tenant.slug)
        upload = data["file"]
        delivery = await transcribe(
            caller=self.caller(request, end_user=data.get("user")),
            payload=FilePayload(model=model, data=upload.read(), declared_type=upload.content_type),
        )
        headers = data_headers(model_get(model), cache=delivery.cache)
        if data["response_format"] == "text":
            return HttpResponse(
                delivery.text, content_type="text/plain; charset=utf-8", headers=headers
            )
        if data["response_format"] == "json":
            return Response({"text": delivery.text}, headers=headers)
        return Response(
            {
                "task": "transcribe",
                "language": data.get("language", ""),
                "duration": delivery.duration_s,
                "text": delivery.text,
                "segments": [],
            },
            headers=headers,
        )
