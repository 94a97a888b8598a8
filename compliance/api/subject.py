"""Subject rights over the API: erasure (Art. 17) and export (Art. 15, 20) of one's own data,
and the public key that checks erasure receipts.

The subject is the calling account itself, or an end user it named in `user` when it made
requests on that person's behalf (the same subject the /v1 `user` field creates). An API token
is the verification: the request is verified on receipt and runs at once.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.models import ErasureRequest
from compliance.services.erasure import erasure_request_create, receipt_document
from compliance.services.export import subject_export
from compliance.services.signing import public_key_fingerprint, public_key_pem
from compliance.services.subjects import subject_of_user
from compliance.tasks import erasure_run_later
from portal.errors import ApiError
from portal.serializer_fields import StrictCharField


class BelongsToTenant(BasePermission):
    message = "Your account belongs to no tenant."

    def has_permission(self, request, view) -> bool:
        return request.user.is_authenticated and request.user.tenant_id is not None


def erasure_status(erasure: ErasureRequest) -> dict:
    return {
        "id": str(erasure.id),
        "status": erasure.status,
        "subject": erasure.subject,
        "received_at": erasure.received_at,
        "deadline_at": erasure.deadline_at,
        "completed_at": erasure.completed_at,
        "failure_reason": erasure.failure_reason or None,
        "removed": erasure.removed,
        "receipt": receipt_document(erasure) if erasure.receipt else None,
    }


class ErasureCreateSerializer(serializers.Serializer):
    user = StrictCharField(
        max_length=256, required=False, help_text="An end user you made requests for."
    )


class MyErasureApi(APIView):
    permission_classes = [BelongsToTenant]

    @extend_schema(request=ErasureCreateSerializer, responses={202: dict}, tags=["Subject rights"])
    def post(self, request):
        data = ErasureCreateSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        erasure = erasure_request_create(
            tenant_id=request.user.tenant_id,
            subject=subject_of_user(user=request.user, end_user=data.validated_data.get("user")),
            channel=ErasureRequest.Channel.API
            if data.validated_data.get("user")
            else ErasureRequest.Channel.SELF,
            requested_by_id=request.user.id,
            verified=True,
            now=timezone.now(),
        )
        erasure_run_later(erasure.id)
        location = f"/api/v1/me/erasure/{erasure.id}"
        return Response(erasure_status(erasure), status=202, headers={"Location": location})


class MyErasureDetailApi(APIView):
    permission_classes = [BelongsToTenant]

    @extend_schema(responses={200: dict}, tags=["Subject rights"])
    def get(self, request, erasure_id):
        erasure = ErasureRequest.objects.filter(
            id=erasure_id, requested_by_id=request.user.id
        ).first()
        if erasure is None:
            raise ApiError("not_found", "No such erasure request.")
        return Response(erasure_status(erasure))


class MyExportApi(APIView):
    permission_classes = [BelongsToTenant]

    @extend_schema(
        parameters=[OpenApiParameter("user", str, description="An end user you acted for.")],
        responses={200: dict},
        tags=["Subject rights"],
    )
    def get(self, request):
        end_user = request.query_params.get("user")
        if end_user is not None and not 0 < len(end_user) <= 256:
            raise ApiError("invalid_request", "user must be 1 to 256 characters.", param="user")
        document = subject_export(
            tenant_id=request.user.tenant_id,
            subject=subject_of_user(user=request.user, end_user=end_user),
            actor_id=request.user.id,
            now=timezone.now(),
        )
        return Response(
            document, headers={"Content-Disposition": 'attachment; filename="custos-export.json"'}
        )


class ReceiptPublicKeyApi(APIView):
    """The deployment's Ed25519 public key: anyone may check a receipt with it."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: dict}, tags=["Subject rights"])
    def get(self, request):
        return Response(
            {
                "algorithm": "Ed25519",
                "public_key_pem": public_key_pem(),
                "fingerprint": public_key_fingerprint(),
                "signed": "the receipt object, as JSON with sorted keys and no spaces (UTF-8)",
            }
        )
