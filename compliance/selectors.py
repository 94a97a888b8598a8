"""Reads, already narrowed to what the viewer may see.

What must stay true:
- A tenant counts for a viewer only through a role that carries the permission asked for
  (permissions.ROLES_WITH) and a django-guardian grant on it (every tenant, for an admin).
- What the viewer may not read does not exist for them: a `_get` raises not_found, never
  permission_denied, so a 404 reveals nothing about other tenants.
- Nothing here returns prompt or output content: rows of the stores that hold content come
  back as metadata columns only (`.values()` of named fields), never the sealed bytes.
"""

from datetime import datetime
from uuid import UUID

from django.db.models import Count, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum

from compliance.models import (
    ArchiveEntry,
    AuditEntry,
    CacheEntry,
    ContentRule,
    ErasureRequest,
    RequestLog,
    Subject,
)
from compliance.permissions import AUDIT, GOVERN, ROLES_WITH, has_role, tenants_for
from compliance.services.audit import AUDIT_FIELDS
from compliance.services.erasure import erasure_list
from portal.errors import ApiError
from portal.models import Tenant
from portal.roles import Role

# What an auditor sees of a request: everything but who made it (the account id would link
# an erased subject's rows back to a person) and the row's own id.
REQUEST_LOG_FIELDS = (
    "request_id",
    "created_at",
    "subject",
    "endpoint",
    "model",
    "modality",
    "task",
    "status_code",
    "error_code",
    "streamed",
    "request_bytes",
    "prompt_tokens",
    "completion_tokens",
    "pixels",
    "audio_seconds",
    "denoising_steps",
    "validate_ms",
    "preprocess_ms",
    "queue_ms",
    "kv_cache_bytes",
    "execute_ms",
    "postprocess_ms",
    "total_ms",
    "cache",
    "archived",
    "region",
    "device",
)
ARCHIVE_FIELDS = (
    "id",
    "subject",
    "request_id",
    "endpoint",
    "model",
    "task",
    "region",
    "size_bytes",
    "created_at",
)
# NOTE: a rule's value is shown only to those who govern its tenant: a blocked term can
# itself be sensitive (a patient's name, a project), which is also why the audit trail
# leaves it out. Auditors see that a rule exists and what it does.
CONTENT_RULE_FIELDS = ("id", "name", "kind", "action")


def request_log_list(*, viewer) -> QuerySet[RequestLog]:
    """The requests the viewer made themselves (an end user's own history)."""
    return RequestLog.objects.filter(actor_id=viewer.id)


def tenant_list(*, viewer, permission: str) -> QuerySet[Tenant]:
    """The tenants the viewer holds `permission` on, through a role that carries it."""
    if not has_role(viewer, *ROLES_WITH[permission]):
        return Tenant.objects.none()
    return tenants_for(viewer, permission).order_by("slug")


def tenant_get(*, viewer, slug: str, permission: str) -> Tenant:
    tenant = tenant_list(viewer=viewer, permission=permission).filter(slug=slug).first()
    if tenant is None:
        raise ApiError("not_found", "No such tenant.")
    return tenant


def content_rule_list(*, viewer, tenant: Tenant) -> QuerySet:
    """The tenant's rules as rows; with their values only for those who govern it."""
    governs = tenant_list(viewer=viewer, permission=GOVERN).filter(id=tenant.id).exists()
    fields = (*CONTENT_RULE_FIELDS, "value") if governs else CONTENT_RULE_FIELDS
    return ContentRule.objects.filter(tenant=tenant).order_by("name").values(*fields)


def content_rule_get(*, tenant: Tenant, rule_id: int) -> ContentRule:
    """A rule of a tenant the caller has already got through `tenant_get`."""
    rule = ContentRule.objects.filter(tenant=tenant, id=rule_id).first()
    if rule is None:
        raise ApiError("not_found", "No such content rule.")
    return rule


def compliance_log_list(
    *, viewer, tenant: Tenant | None = None, model: str = "", status_code: int | None = None
) -> QuerySet:
    """Request metadata of the tenants the viewer audits, newest first."""
    rows = RequestLog.objects.filter(tenant__in=tenant_list(viewer=viewer, permission=AUDIT))
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    if model:
        rows = rows.filter(model=model)
    if status_code is not None:
        rows = rows.filter(status_code=status_code)
    return rows.order_by("-created_at", "-id").values(
        *REQUEST_LOG_FIELDS, tenant_slug=F("tenant__slug")
    )


def cache_inventory(*, viewer) -> QuerySet:
    """Per tenant and model: entries, hits, oldest and newest; never a key or an output."""
    entries = CacheEntry.objects.filter(tenant__in=tenant_list(viewer=viewer, permission=AUDIT))
    return (
        entries.values("model", tenant_slug=F("tenant__slug"))
        .annotate(
            entries=Count("id"),
            hits=Sum("hit_count"),
            oldest=Min("created_at"),
            newest=Max("created_at"),
        )
        .order_by("tenant_slug", "model")
    )


def archive_list(*, viewer) -> QuerySet:
    """Archive entries of the tenants the viewer audits, newest first, as metadata."""
    entries = ArchiveEntry.objects.filter(tenant__in=tenant_list(viewer=viewer, permission=AUDIT))
    return entries.order_by("-created_at", "-id").values(
        *ARCHIVE_FIELDS, tenant_slug=F("tenant__slug")
    )


def subject_get(*, tenant: Tenant, pseudonym: str) -> Subject | None:
    """The tenant's subject known by this pseudonym; None if never seen, or erased."""
    return Subject.objects.filter(tenant=tenant, pseudonym=pseudonym).first()


def erasure_request_list(*, viewer, now: datetime) -> QuerySet[ErasureRequest]:
    """Erasure requests of the tenants the viewer audits, newest first, each `overdue`."""
    tenants = tenant_list(viewer=viewer, permission=AUDIT).values("id")
    return erasure_list(tenant_ids=tenants, now=now).select_related("tenant")


def erasure_request_get(*, viewer, erasure_id: UUID, now: datetime) -> ErasureRequest:
    erasure = erasure_request_list(viewer=viewer, now=now).filter(id=erasure_id).first()
    if erasure is None:
        raise ApiError("not_found", "No such erasure request.")
    return erasure


def audit_entry_list(*, viewer, tenant: Tenant | None = None, action: str = "") -> QuerySet:
    """Audit entries of the tenants the viewer audits, newest first; an admin also sees the
    deployment's own entries (key rotation, retention runs), which belong to no tenant."""
    visible = Q(tenant_id__in=tenant_list(viewer=viewer, permission=AUDIT).values("id"))
    if tenant is not None:
        visible &= Q(tenant_id=tenant.id)
    elif has_role(viewer, Role.ADMIN):
        visible |= Q(tenant_id__isnull=True)
    entries = AuditEntry.objects.filter(visible)
    if action:
        entries = entries.filter(action=action)
    slug = Tenant.objects.filter(id=OuterRef("tenant_id")).values("slug")[:1]
    return entries.order_by("-seq").values(*AUDIT_FIELDS, tenant_slug=Subquery(slug))
