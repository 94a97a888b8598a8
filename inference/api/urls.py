from django.urls import path

from inference.api import jobs, media, openai, pools

openai_urlpatterns = [
    path("models", openai.ModelListApi.as_view(), name="v1-models"),
    path("models/<str:model>", openai.ModelDetailApi.as_view(), name="v1-model"),
    path("chat/completions", openai.ChatCompletionApi.as_view(), name="v1-chat-completions"),
    path("completions", openai.CompletionApi.as_view(), name="v1-completions"),
    path("embeddings", openai.EmbeddingApi.as_view(), name="v1-embeddings"),
    path("images/generations", media.ImageGenerationApi.as_view(), name="v1-images"),
    path("audio/transcriptions", media.TranscriptionApi.as_view(), name="v1-transcriptions"),
]

native_urlpatterns = [
    path("jobs/", jobs.JobListCreateApi.as_view(), name="api-jobs"),
    path("jobs/<uuid:job_id>", jobs.JobDetailApi.as_view(), name="api-job"),
    path("pools/", pools.PoolListApi.as_view(), name="api-pools"),
]
