"""Tenant policies: residency, storage, retention conflicts and audited changes."""

import pytest
from django.test import override_settings
from django.utils import timezone

from compliance.models import AuditEntry, CacheEntry
from compliance.services.cache import cache_store
from compliance.services.policy import (
    archive_eligible,
    region_allowed,
    residency_check,
    retention_conflict_check,
    storage_allowed,
    tenant_policy_get,
    tenant_policy_update,
)
from portal.errors import ApiError

pytestmark = pytest.mark.django_db


def test_a_new_tenant_gets_the_defaults(tenant):
    policy = tenant_policy_get(tenant_id=tenant.id)
    assert policy.allowed_regions == []
    assert not policy.zero_retention and not policy.archive_enabled
    assert policy.cache_models == []


def test_no_region_list_allows_every_region(tenant):
    assert region_allowed(tenant_policy_get(tenant_id=tenant.id), "anywhere")


def test_residency_refuses_a_pool_outside_the_tenants_regions(tenant):
    policy = tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"allowed_regions": ["eu-west"]}
    )
    residency_check(policy=policy, region="eu-west")
    with pytest.raises(ApiError) as refused:
        residency_check(policy=policy, region="us-east")
    assert refused.value.code == "residency_violation"


@override_settings(PORTAL_REGION="us-east")
def test_nothing_is_stored_outside_the_tenants_regions(tenant):
    policy = tenant_policy_update(
        actor_id=None,
        tenant_id=tenant.id,
        changes={"allowed_regions": ["eu-west"], "archive_enabled": True},
    )
    assert not storage_allowed(policy)
    assert not archive_eligible(policy=policy, store=None, sensitive=False)


def test_zero_retention_stores_nothing(tenant):
    policy = tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"zero_retention": True}
    )
    assert not storage_allowed(policy)


@pytest.mark.parametrize(
    ("changes", "store", "sensitive", "expected"),
    [
        ({"archive_enabled": True}, None, False, True),
        ({"archive_enabled": True}, True, False, True),
        ({"archive_enabled": True}, False, False, False),
        ({"archive_enabled": True}, None, True, False),
        ({}, None, False, False),
    ],
)
def test_archive_eligibility(tenant, changes, store, sensitive, expected):
    policy = tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes=changes)
    assert archive_eligible(policy=policy, store=store, sensitive=sensitive) is expected


def test_zero_retention_refuses_a_request_for_storage(tenant):
    policy = tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"zero_retention": True}
    )
    retention_conflict_check(policy=policy, store=None)
    retention_conflict_check(policy=policy, store=False)
    with pytest.raises(ApiError) as refused:
        retention_conflict_check(policy=policy, store=True)
    assert refused.value.code == "retention_conflict"


def test_zero_retention_and_an_archive_conflict(tenant):
    tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"archive_enabled": True})
    with pytest.raises(ApiError) as refused:
        tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"zero_retention": True})
    assert refused.value.code == "retention_conflict"
    assert not tenant_policy_get(tenant_id=tenant.id).zero_retention


def test_a_change_is_audited_with_old_and_new_values(tenant, make_user):
    officer = make_user("olga")
    tenant_policy_update(
        actor_id=officer.id, tenant_id=tenant.id, changes={"allowed_regions": ["eu"]}
    )
    entry = AuditEntry.objects.get(action="policy.update")
    assert entry.actor_id == officer.id and entry.tenant_id == tenant.id
    assert entry.details == {"allowed_regions": {"old": [], "new": ["eu"]}}


def test_an_unchanged_setting_leaves_no_audit_entry(tenant):
    tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"zero_retention": False})
    assert not AuditEntry.objects.filter(action="policy.update").exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"allowed_regions": "eu"},
        {"allowed_regions": [""]},
        {"zero_retention": "yes"},
        {"cache_ttl_seconds": 0},
        {"cache_ttl_seconds": True},
        {"pii_actions": {"EMAIL_ADDRESS": "hide"}},
        {"pii_actions": {"email": "block"}},
        {"colour": "blue"},
        {"image_guard_labels": {"x-ray": "hide"}},
        {"image_guard_threshold": 1.5},
        {"image_guard_model": 7},
    ],
)
def test_invalid_settings_are_refused(tenant, changes):
    with pytest.raises(ApiError) as refused:
        tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes=changes)
    assert refused.value.code == "invalid_request"


def test_changing_the_image_guard_empties_the_tenants_cache(tenant):
    cache_store(
        tenant_id=tenant.id,
        key_digest="k" * 64,
        model="tiny-vit",
        subject="s" * 32,
        payload=b"{}",
        ttl_seconds=60,
        now=timezone.now(),
    )
    tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"image_guard_model": "tiny-vit"}
    )
    assert not CacheEntry.objects.exists()
