"""Browser pages for inference; the work happens over the websocket (consumers.py)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from inference.registry import model_context_length, model_list
from portal.permissions import user_can_run_inference


@login_required
def text_page(request):
    if not user_can_run_inference(request.user):
        raise PermissionDenied
    models = [
        {"name": spec.name, "context": model_context_length(spec)}
        for spec in model_list(tenant_slug=request.user.tenant.slug)
        if spec.task == "text-generation"
    ]
    return render(request, "inference/text.html", {"models": models})
