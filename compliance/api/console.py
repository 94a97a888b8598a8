"""The compliance console over the API (/api/v1/compliance/...): what auditors read and what
compliance officers govern, per tenant they are granted.

What must stay true:
- Each view parses, calls one selector or service, and shapes the answer. Who may see which
  tenant is decided by the selectors; a tenant, or an object of one, that the viewer may not
  read is a 404, and a verb the viewer's role may not use is a 403.
- No answer to an auditor holds prompt or output content: only an officer's archive read
  returns an exchange, and the service records why it was read.
- The writes' audit entries are appended by the services, never here.
"""

import base64
from dataclasses import asdict

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.api.subject import erasure_status
from compliance.models import ContentRule, ErasureRequest
from compliance.models.policy import Action
from compliance.permissions import (
    AUDIT,
    GOVERN,
    AuditorsReadOfficersWrite,
    IsAuditor,
    IsComplianceOfficer,
)
from compliance.selectors import (
    archive_list,
    audit_entry_list,
    cache_inventory,
    compliance_log_list,
    content_rule_get,
    content_rule_list,
    erasure_request_get,
    erasure_request_list,
    subject_get,
    tenant_get,
    tenant_list,
)
from compliance.services.archive import archive_read
from compliance.services.audit import audit_chain_verify
from compliance.services.cache import cache_purge
from compliance.services.content_policy import content_rule_create, content_rule_delete
from compliance.services.erasure import erasure_request_create
from compliance.services.keys import master_key_rotate
from compliance.services.policy import policy_values, tenant_policy_get, tenant_policy_update
from compliance.services.retention import retention_days, retention_rules_set
from compliance.tasks import erasure_run_later
from portal.errors import ApiError
from portal.models import Tenant
from portal.query_params import query_int
from portal.serializer_fields import StrictCharField

MAX_PAGE = 200
DEFAULT_PAGE = 50
TAGS = ["Compliance"]
PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, description=f"Rows per page, at most {MAX_PAGE}."),
    OpenApiParameter("offset", int, description="Rows to skip."),
]


def _tenant_filter(request) -> Tenant | None:
    """The tenant a list is narrowed to by `?tenant=<slug>`: one the viewer audits."""
    slug = request.query_params.get("tenant")
    return tenant_get(viewer=request.user, slug=slug, permission=AUDIT) if slug else None


def _tenant_named(row: dict) -> dict:
    """A selector's row with its tenant's slug under `tenant`."""
    tenant = row.pop("tenant_slug")
    return {"tenant": tenant, **row}


def _page(request, rows, shape=_tenant_named) -> Response:
    limit = min(query_int(request, "limit", DEFAULT_PAGE), MAX_PAGE)
    offset = query_int(request, "offset", 0)
    results = [shape(row) for row in rows[offset : offset + limit]]
    return Response({"count": rows.count(), "results": results})


def _object_body(request) -> dict:
    if not isinstance(request.data, dict) or not request.data:
        raise ApiError("invalid_request", "Send a JSON object naming what to change.")
    return dict(request.data)


def _base64_bytes(value):
    """An exchange made JSON: bytes (images, audio) as base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _base64_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_base64_bytes(item) for item in value]
    return value


def _erasure_row(erasure: ErasureRequest) -> dict:
    return {
        "id": str(erasure.id),
        "tenant": erasure.tenant.slug,
        "subject": erasure.subject,
        "channel": erasure.channel,
        "status": erasure.status,
        "received_at": erasure.received_at,
        "deadline_at": erasure.deadline_at,
        "completed_at": erasure.completed_at,
        "overdue": erasure.overdue,
    }


class TenantListApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request):
        governed = set(
            tenant_list(viewer=request.user, permission=GOVERN).values_list("id", flat=True)
        )
        tenants = tenant_list(viewer=request.user, permission=AUDIT)
        return Response(
            {
                "results": [
                    {"slug": t.slug, "name": t.name, "audit": True, "govern": t.id in governed}
                    for t in tenants
                ]
            }
        )


class PolicyDetailUpdateApi(APIView):
    """Residency and storage settings; the deployment's own region is shown beside them."""

    permission_classes = [AuditorsReadOfficersWrite]

    def _answer(self, tenant, policy) -> Response:
        return Response(
            {
                "tenant": tenant.slug,
                "deployment_region": settings.PORTAL_REGION,
                **policy_values(policy),
            }
        )

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request, slug):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=AUDIT)
        return self._answer(tenant, tenant_policy_get(tenant_id=tenant.id))

    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def patch(self, request, slug):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=GOVERN)
        policy = tenant_policy_update(
            actor_id=request.user.id, tenant_id=tenant.id, changes=_object_body(request)
        )
        return self._answer(tenant, policy)


class ContentRuleCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=64)
    kind = serializers.ChoiceField(ContentRule.Kind.choices)
    value = StrictCharField(max_length=500, trim_whitespace=False)
    action = serializers.ChoiceField(Action.choices, default=Action.BLOCK)


class ContentRuleListCreateApi(APIView):
    permission_classes = [AuditorsReadOfficersWrite]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request, slug):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=AUDIT)
        return Response({"results": list(content_rule_list(viewer=request.user, tenant=tenant))})

    @extend_schema(request=ContentRuleCreateSerializer, responses={201: dict}, tags=TAGS)
    def post(self, request, slug):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=GOVERN)
        data = ContentRuleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = content_rule_create(actor_id=request.user.id, tenant=tenant, **data.validated_data)
        return Response(
            {
                "id": rule.id,
                "name": rule.name,
                "kind": rule.kind,
                "action": rule.action,
                "value": rule.value,
            },
            status=201,
        )


class ContentRuleDeleteApi(APIView):
    permission_classes = [IsComplianceOfficer]

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request, slug, rule_id):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=GOVERN)
        rule = content_rule_get(tenant=tenant, rule_id=rule_id)
        content_rule_delete(actor_id=request.user.id, rule=rule)
        return Response(status=204)


class RetentionDetailUpdateApi(APIView):
    """Days kept per data class; PUT sets the classes it names, the others keep theirs."""

    permission_classes = [AuditorsReadOfficersWrite]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request, slug):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=AUDIT)
        return Response(retention_days(tenant_id=tenant.id))

    @extend_schema(request=dict, responses={200: dict}, tags=TAGS)
    def put(self, request, slug):
        tenant = tenant_get(viewer=request.user, slug=slug, permission=GOVERN)
        days = retention_rules_set(
            actor_id=request.user.id, tenant=tenant, days=_object_body(request)
        )
        return Response(days)


class RequestLogListApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(
        parameters=[
            OpenApiParameter("tenant", str, description="A tenant's slug."),
            OpenApiParameter("model", str),
            OpenApiParameter("status", int, description="An HTTP status code."),
            *PAGE_PARAMETERS,
        ],
        responses={200: dict},
        tags=TAGS,
    )
    def get(self, request):
        rows = compliance_log_list(
            viewer=request.user,
            tenant=_tenant_filter(request),
            model=request.query_params.get("model", ""),
            status_code=query_int(request, "status", None),
        )
        return _page(request, rows)


class CacheInventoryListApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request):
        rows = cache_inventory(viewer=request.user)
        return Response({"results": [_tenant_named(row) for row in rows]})


class CachePurgeSerializer(serializers.Serializer):
    tenant = StrictCharField(max_length=64)
    subject = StrictCharField(max_length=32, required=False, default="")
    model = StrictCharField(max_length=100, required=False, default="")


class CachePurgeApi(APIView):
    permission_classes = [IsComplianceOfficer]

    @extend_schema(request=CachePurgeSerializer, responses={200: dict}, tags=TAGS)
    def post(self, request):
        data = CachePurgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        slug = data.validated_data["tenant"]
        tenant = tenant_get(viewer=request.user, slug=slug, permission=GOVERN)
        purged = cache_purge(
            actor_id=request.user.id,
            tenant_id=tenant.id,
            subject=data.validated_data["subject"],
            model=data.validated_data["model"],
        )
        return Response({"purged": purged})


class ArchiveEntryListApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: dict}, tags=TAGS)
    def get(self, request):
        return _page(request, archive_list(viewer=request.user))


class ArchiveReadSerializer(serializers.Serializer):
    reason = StrictCharField(allow_blank=True)


class ArchiveEntryReadApi(APIView):
    """The decrypted exchange, for an officer of its tenant who says why (audited)."""

    permission_classes = [IsComplianceOfficer]

    @extend_schema(request=ArchiveReadSerializer, responses={200: dict}, tags=TAGS)
    def post(self, request, entry_id):
        data = ArchiveReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exchange = archive_read(
            actor=request.user, entry_id=entry_id, reason=data.validated_data["reason"]
        )
        return Response({"id": entry_id, "exchange": _base64_bytes(exchange)})


class OfficerErasureCreateSerializer(serializers.Serializer):
    tenant = StrictCharField(max_length=64)
    subject = StrictCharField(max_length=32, help_text="A pseudonym from the request logs.")


class ErasureRequestListCreateApi(APIView):
    """Officers file an erasure on a subject's behalf: verified by the officer's own account,
    and run at once in the background."""

    permission_classes = [AuditorsReadOfficersWrite]

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: dict},
        tags=TAGS,
        operation_id="api_v1_compliance_erasure_requests_list",
    )
    def get(self, request):
        rows = erasure_request_list(viewer=request.user, now=timezone.now())
        return _page(request, rows, shape=_erasure_row)

    @extend_schema(request=OfficerErasureCreateSerializer, responses={202: dict}, tags=TAGS)
    def post(self, request):
        data = OfficerErasureCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        slug, subject = data.validated_data["tenant"], data.validated_data["subject"]
        tenant = tenant_get(viewer=request.user, slug=slug, permission=GOVERN)
        if subject_get(tenant=tenant, pseudonym=subject) is None:
            raise ApiError(
                "invalid_request", "This tenant has no subject of that pseudonym.", param="subject"
            )
        now = timezone.now()
        erasure = erasure_request_create(
            tenant_id=tenant.id,
            subject=subject,
            channel=ErasureRequest.Channel.OFFICER,
            requested_by_id=request.user.id,
            verified=True,
            now=now,
        )
        erasure_run_later(erasure.id)
        erasure = erasure_request_get(viewer=request.user, erasure_id=erasure.id, now=now)
        location = f"/api/v1/compliance/erasure-requests/{erasure.id}"
        return Response(_erasure_row(erasure), status=202, headers={"Location": location})


class ErasureRequestDetailApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request, erasure_id):
        erasure = erasure_request_get(
            viewer=request.user, erasure_id=erasure_id, now=timezone.now()
        )
        return Response({**erasure_status(erasure), **_erasure_row(erasure)})


class AuditEntryListApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(
        parameters=[
            OpenApiParameter("tenant", str, description="A tenant's slug."),
            OpenApiParameter("action", str, description='Such as "policy.update".'),
            *PAGE_PARAMETERS,
        ],
        responses={200: dict},
        tags=TAGS,
    )
    def get(self, request):
        rows = audit_entry_list(
            viewer=request.user,
            tenant=_tenant_filter(request),
            action=request.query_params.get("action", ""),
        )
        return _page(request, rows)


class AuditChainVerifyApi(APIView):
    """Recompute the whole chain (it is one for the deployment) and check its signatures."""

    permission_classes = [IsAuditor]

    @extend_schema(responses={200: dict}, tags=TAGS)
    def get(self, request):
        return Response(asdict(audit_chain_verify()))


class MasterKeyRotateApi(APIView):
    """Re-wrapping changes no content and no tenant's data, so DESIGN.md gives it to the
    compliance officers; it acts on the whole deployment."""

    permission_classes = [IsComplianceOfficer]

    @extend_schema(request=None, responses={200: dict}, tags=TAGS)
    def post(self, request):
        return Response(asdict(master_key_rotate(actor_id=request.user.id)))
