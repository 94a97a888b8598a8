"""The native asynchronous jobs API (/api/v1/jobs): create, list own, detail."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from inference.api.base import InferenceApiView
from inference.api.media import check_upload_size
from inference.api.openai import (
    ChatCompletionRequestSerializer,
    CompletionRequestSerializer,
    EmbeddingRequestSerializer,
    parse_body,
)
from inference.jobs import JOB_ENDPOINT, job_create, job_get, job_list, job_results_deliver
from inference.models import Job
from inference.pipeline.validate import EmbeddingsPayload
from inference.pipeline.validate.media import MAX_TOP_K, FilePayload
from portal.db import in_thread
from portal.errors import ApiError
from portal.parsers import StrictJSONParser
from portal.query_params import query_int
from portal.serializer_fields import StrictCharField

MAX_PAGE = 100


FILE_TASKS = ("image-classification", "transcription", "speech-detection")


class JobCreateSerializer(serializers.Serializer):
    """A JSON job: text generation or embeddings."""

    task = serializers.ChoiceField(["text-generation", "embeddings"])
    model = StrictCharField(max_length=100)
    input = serializers.DictField(
        help_text="text-generation: {prompt | messages, max_tokens, temperature, seed, top_p, "
        "stop, user, store}; embeddings: {input, user}."
    )


class JobFileCreateSerializer(serializers.Serializer):
    """A multipart job with a file: image classification, transcription, speech detection."""

    task = serializers.ChoiceField(FILE_TASKS)
    model = serializers.CharField(max_length=100)
    file = serializers.FileField(allow_empty_file=True)  # an empty file is invalid_audio/image
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, default=5)
    user = serializers.CharField(max_length=256, required=False)
    store = serializers.BooleanField(required=False, allow_null=True, default=None)


class JobSerializer(serializers.ModelSerializer):
    """A job; its result, decrypted, comes in the context (`results`, by job id)."""

    result = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "task",
            "model",
            "status",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_result(self, job: Job) -> dict | None:
        return self.context.get("results", {}).get(job.id)

    def get_error(self, job: Job) -> dict | None:
        if not job.error_code:
            return None
        return {"code": job.error_code, "message": job.error_message}


def _task_payload(task: str, model: str, task_input: dict):
    """The job's input, checked by the same serializers as the OpenAI-compatible endpoints."""
    fields = {**task_input, "model": model}
    if task == "embeddings":
        serializer = EmbeddingRequestSerializer(data=fields)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return EmbeddingsPayload(model=model, inputs=data["input"]), data.get("user"), None
    if fields.get("stream"):
        raise ApiError(
            "invalid_request", "Jobs do not stream; use /v1 for streaming.", param="input.stream"
        )
    serializer_class = (
        ChatCompletionRequestSerializer if "messages" in fields else CompletionRequestSerializer
    )
    serializer = serializer_class(data=fields)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return serializer.to_payload(), data.get("user"), data.get("store")


class JobListCreateApi(InferenceApiView):
    endpoint = JOB_ENDPOINT

    parser_classes = [StrictJSONParser, MultiPartParser]

    @extend_schema(
        request={
            "application/json": JobCreateSerializer,
            "multipart/form-data": JobFileCreateSerializer,
        },
        responses={202: JobSerializer},
        tags=["Jobs"],
    )
    async def post(self, request):
        if request.content_type.startswith("multipart/"):
            check_upload_size(request, max(settings.MAX_IMAGE_BYTES, settings.MAX_AUDIO_BYTES))
            data = parse_body(JobFileCreateSerializer, request).validated_data
            upload = data["file"]
            payload = FilePayload(
                model=data["model"],
                data=upload.read(),
                declared_type=upload.content_type,
                top_k=data["top_k"],
            )
            end_user, store = data.get("user"), data.get("store")
        else:
            data = parse_body(JobCreateSerializer, request).validated_data
            payload, end_user, store = _task_payload(data["task"], data["model"], data["input"])
        job = await job_create(
            caller=self.caller(request, end_user=end_user, store=store),
            task=data["task"],
            payload=payload,
        )
        return Response(
            JobSerializer(job).data, status=202, headers={"Location": f"{JOB_ENDPOINT}{job.id}"}
        )

    @extend_schema(
        responses={
            200: inline_serializer(
                "JobPage",
                {"count": serializers.IntegerField(), "results": JobSerializer(many=True)},
            )
        },
        tags=["Jobs"],
        operation_id="api_v1_jobs_list",
    )
    async def get(self, request):
        limit = min(query_int(request, "limit", 50), MAX_PAGE)
        offset = query_int(request, "offset", 0)
        jobs = job_list(viewer=request.user)
        count = await jobs.acount()
        page = [job async for job in jobs[offset : offset + limit]]
        results = await in_thread(job_results_deliver)(page)
        serializer = JobSerializer(page, many=True, context={"results": results})
        return Response({"count": count, "results": serializer.data})


class JobDetailApi(InferenceApiView):
    endpoint = JOB_ENDPOINT

    @extend_schema(
        responses={200: JobSerializer}, tags=["Jobs"], operation_id="api_v1_job_retrieve"
    )
    async def get(self, request, job_id):
        job = await in_thread(job_get)(viewer=request.user, job_id=job_id)
        results = await in_thread(job_results_deliver)([job])
        return Response(JobSerializer(job, context={"results": results}).data)
