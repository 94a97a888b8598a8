"""Browser pages for inference; the work happens over the websockets (consumers.py) and the
native jobs API (/api/v1/jobs/), which the pages' scripts call with the session."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from inference.registry import model_context_length, model_list
from portal.permissions import user_can_run_inference


def _check_can_run_inference(user) -> None:
    if not user_can_run_inference(user):
        raise PermissionDenied


def _task_models(user, task: str) -> list[dict]:
    """The models of one task that the user's tenant may use, in catalogue order."""
    return [
        {"name": spec.name, "random": spec.random_weights}
        for spec in model_list(tenant_slug=user.tenant.slug)
        if spec.task == task
    ]


@login_required
def text_page(request):
    _check_can_run_inference(request.user)
    models = [
        {"name": spec.name, "context": model_context_length(spec)}
        for spec in model_list(tenant_slug=request.user.tenant.slug)
        if spec.task == "text-generation"
    ]
    return render(request, "inference/text.html", {"models": models})


@login_required
def image_classify_page(request):
    _check_can_run_inference(request.user)
    models = _task_models(request.user, "image-classification")
    return render(request, "inference/classify.html", {"models": models})


@login_required
def image_generate_page(request):
    _check_can_run_inference(request.user)
    models = _task_models(request.user, "image-generation")
    return render(request, "inference/generate.html", {"models": models})


@login_required
def audio_page(request):
    _check_can_run_inference(request.user)
    context = {
        "transcription_models": _task_models(request.user, "transcription"),
        "detection_models": _task_models(request.user, "speech-detection"),
    }
    return render(request, "inference/audio.html", context)
