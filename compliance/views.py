"""Browser pages of subject rights: a person downloads or erases what Custos holds about them.

Erasure asks for the password again: a session left open on a ward computer must not be
enough to destroy someone's records.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance.models import ErasureRequest
from compliance.services.erasure import erasure_request_create, receipt_document
from compliance.services.export import subject_export
from compliance.services.subjects import subject_of_user
from compliance.tasks import erasure_run_later


def _json_download(document: dict, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def my_data(request):
    erasures = ErasureRequest.objects.filter(requested_by_id=request.user.id)[:20]
    return render(request, "compliance/my_data.html", {"erasures": erasures})


@login_required
def my_data_export(request):
    if request.user.tenant_id is None:
        raise Http404
    document = subject_export(
        tenant_id=request.user.tenant_id,
        subject=subject_of_user(user=request.user),
        actor_id=request.user.id,
        now=timezone.now(),
    )
    return _json_download(document, "custos-export.json")


@login_required
@require_POST
def my_data_erase(request):
    if request.user.tenant_id is None:
        raise Http404
    if not request.user.check_password(request.POST.get("password", "")):
        messages.error(request, "That password is not right; nothing was deleted.")
        return redirect("my-data")
    erasure = erasure_request_create(
        tenant_id=request.user.tenant_id,
        subject=subject_of_user(user=request.user),
        channel=ErasureRequest.Channel.SELF,
        requested_by_id=request.user.id,
        verified=True,
        now=timezone.now(),
    )
    erasure_run_later(erasure.id)
    messages.success(request, "Your data is being deleted. The receipt will appear below.")
    return redirect("my-data")


@login_required
def my_erasure_receipt(request, erasure_id):
    erasure = ErasureRequest.objects.filter(
        id=erasure_id, requested_by_id=request.user.id, receipt__isnull=False
    ).first()
    if erasure is None:
        raise Http404
    return _json_download(receipt_document(erasure), f"erasure-receipt-{erasure.id}.json")
