"""Tenant policies: where a tenant's data may be served and what may be stored for it.

Reads are made on every request, so they are plain lookups; every change goes through
`tenant_policy_update`, which appends its audit entry (old and new values) in the same
transaction. A zero-retention tenant fails closed: nothing but metadata is stored for it,
and a request or a setting that would need storage is refused with `retention_conflict`.
"""

from django.conf import settings
from django.db import transaction

from compliance.models import CacheEntry, TenantPolicy
from compliance.services.audit import audit_append
from portal.errors import ApiError

PII_ACTIONS = ("block", "sensitive", "off")
MAX_TTL_SECONDS = 365 * 86_400


def tenant_policy_get(*, tenant_id: int) -> TenantPolicy:
    """The tenant's policy, created with the defaults on first read."""
    policy, _ = TenantPolicy.objects.get_or_create(tenant_id=tenant_id)
    return policy


def region_allowed(policy: TenantPolicy, region: str) -> bool:
    """May this tenant's data be served (or stored) in `region`? No list: anywhere."""
    return not policy.allowed_regions or region in policy.allowed_regions


def residency_check(*, policy: TenantPolicy, region: str) -> None:
    """Stage 1: refuse before any preprocessing when the pool serves outside the tenant's
    regions. The message names regions, which are configuration, not data."""
    if not region_allowed(policy, region):
        raise ApiError(
            "residency_violation",
            f"This model is served in region '{region}'; this organisation's data may only "
            f"be processed in {', '.join(policy.allowed_regions)}.",
            param="model",
        )


def storage_allowed(policy: TenantPolicy) -> bool:
    """May content of this tenant be stored here at all (cache, archive)? Not for a
    zero-retention tenant, nor outside the tenant's regions."""
    return not policy.zero_retention and region_allowed(policy, settings.PORTAL_REGION)


def archive_eligible(*, policy: TenantPolicy, store: bool | None, sensitive: bool) -> bool:
    """An exchange is archived only for a tenant that opted in, may store content here, and
    only when the caller did not say `store: false` and nothing sensitive was found."""
    return (
        policy.archive_enabled and storage_allowed(policy) and store is not False and not sensitive
    )


def retention_conflict_check(*, policy: TenantPolicy, store: bool | None) -> None:
    """A zero-retention tenant's caller who asks for storage (`store: true`) is refused
    rather than silently not stored."""
    if policy.zero_retention and store is True:
        raise ApiError(
            "retention_conflict",
            "This organisation keeps no content (zero retention); send store: false or omit it.",
            param="store",
        )


def _string_list(value, *, param: str) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 0 < len(item.strip()) <= 100 for item in value
    ):
        raise ApiError("invalid_request", f"{param} must be a list of names.", param=param)
    return sorted({item.strip() for item in value})


def _cleaned(field: str, value):
    if field in ("allowed_regions", "cache_models"):
        return _string_list(value, param=field)
    if field in ("zero_retention", "archive_enabled"):
        if not isinstance(value, bool):
            raise ApiError("invalid_request", f"{field} must be true or false.", param=field)
        return value
    if field == "cache_ttl_seconds":
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_TTL_SECONDS
        ):
            raise ApiError(
                "invalid_request",
                f"cache_ttl_seconds must be between 1 and {MAX_TTL_SECONDS}.",
                param=field,
            )
        return value
    if field == "pii_actions":
        if not isinstance(value, dict) or not all(
            isinstance(name, str) and name.isupper() and action in PII_ACTIONS
            for name, action in value.items()
        ):
            raise ApiError(
                "invalid_request",
                f"pii_actions maps entity names (e.g. EMAIL_ADDRESS) to one of {PII_ACTIONS}.",
                param=field,
            )
        return value
    if field == "image_guard_model":
        if not isinstance(value, str) or len(value) > 100:
            raise ApiError(
                "invalid_request", "image_guard_model must be a model's name.", param=field
            )
        return value.strip()
    if field == "image_guard_labels":
        if not isinstance(value, dict) or not all(
            isinstance(label, str) and action in ("block", "sensitive")
            for label, action in value.items()
        ):
            raise ApiError(
                "invalid_request",
                "image_guard_labels maps the guard's labels to block or sensitive.",
                param=field,
            )
        return value
    if field == "image_guard_threshold":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ApiError(
                "invalid_request", "image_guard_threshold must be from 0 to 1.", param=field
            )
        return float(value)
    raise ApiError("invalid_request", f"Unknown policy setting '{field}'.", param=field)


POLICY_FIELDS = (
    "allowed_regions",
    "zero_retention",
    "archive_enabled",
    "cache_models",
    "cache_ttl_seconds",
    "pii_actions",
    "image_guard_model",
    "image_guard_labels",
    "image_guard_threshold",
)


# Settings under which cached outputs were checked: changing one empties the tenant's cache.
CHECKS_OF_OUTPUTS = {
    "pii_actions",
    "image_guard_model",
    "image_guard_labels",
    "image_guard_threshold",
}


def policy_values(policy: TenantPolicy) -> dict:
    return {field: getattr(policy, field) for field in POLICY_FIELDS}


@transaction.atomic
def tenant_policy_update(*, actor_id: int | None, tenant_id: int, changes: dict) -> TenantPolicy:
    """Change some of a tenant's settings; the audit entry keeps old and new values."""
    cleaned = {field: _cleaned(field, value) for field, value in changes.items()}
    policy = TenantPolicy.objects.select_for_update().get(
        pk=tenant_policy_get(tenant_id=tenant_id).pk
    )
    old = policy_values(policy)
    for field, value in cleaned.items():
        setattr(policy, field, value)
    if policy.zero_retention and policy.archive_enabled:
        raise ApiError(
            "retention_conflict",
            "A zero-retention tenant cannot keep an archive; turn one of them off.",
            param="archive_enabled",
        )
    policy.save()
    new = policy_values(policy)
    changed = {
        field: {"old": old[field], "new": new[field]} for field in new if old[field] != new[field]
    }
    if changed.keys() & CHECKS_OF_OUTPUTS:
        CacheEntry.objects.filter(tenant_id=tenant_id).delete()  # checked under the old rules
    if changed:
        audit_append(
            action="policy.update", actor_id=actor_id, tenant_id=tenant_id, details=changed
        )
    return policy
