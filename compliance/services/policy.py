"""Tenant policies: where a tenant's data may be served and what may be stored for it.

Reads are made on every request, so they are plain lookups; every change goes through a
service here that appends its audit entry in the same transaction.
"""

from django.conf import settings

from compliance.models import TenantPolicy


def tenant_policy_get(*, tenant_id: int) -> TenantPolicy:
    """The tenant's policy, created with the defaults on first read."""
    policy, _ = TenantPolicy.objects.get_or_create(tenant_id=tenant_id)
    return policy


def region_allowed(policy: TenantPolicy, region: str) -> bool:
    """May this tenant's data be served (or stored) in `region`? No list: anywhere."""
    return not policy.allowed_regions or region in policy.allowed_regions


def storage_allowed(policy: TenantPolicy) -> bool:
    """May content of this tenant be stored here at all (cache, archive)? Not for a
    zero-retention tenant, nor outside the tenant's regions."""
    return not policy.zero_retention and region_allowed(policy, settings.PORTAL_REGION)
