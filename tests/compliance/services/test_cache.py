"""The output cache: eligibility rule by rule, tenant isolation, sealing and purges."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import AuditEntry, CacheEntry
from compliance.services.cache import (
    cache_count,
    cache_eligible,
    cache_erase,
    cache_export,
    cache_key,
    cache_lookup,
    cache_purge,
    cache_store,
)
from compliance.services.keys import data_key_destroy
from compliance.services.policy import tenant_policy_update
from portal.models import Tenant

pytestmark = pytest.mark.django_db

NOW = timezone.now()
ELIGIBLE = {"model": "tiny-chat", "deterministic": True, "store": None, "sensitive": False}


@pytest.fixture
def policy(tenant):
    return tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"cache_models": ["tiny-chat"]}
    )


def _key(tenant, text="hello", model="tiny-chat"):
    return cache_key(tenant_id=tenant.id, model=model, model_version="v1", request={"prompt": text})


def _store(tenant, subject="s1", text="hello", model="tiny-chat", ttl=60):
    return cache_store(
        tenant_id=tenant.id,
        key_digest=_key(tenant, text, model),
        model=model,
        subject=subject,
        payload=b"the answer",
        ttl_seconds=ttl,
        now=NOW,
    )


def test_an_eligible_request_is_cached(policy):
    assert cache_eligible(policy=policy, **ELIGIBLE)


@pytest.mark.parametrize(
    "change",
    [
        {"deterministic": False},
        {"store": False},
        {"sensitive": True},
        {"model": "minilm-embed"},
    ],
)
def test_each_rule_alone_bypasses_the_cache(policy, change):
    assert not cache_eligible(policy=policy, **{**ELIGIBLE, **change})


def test_a_tenant_without_cached_models_bypasses(tenant):
    policy = tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={})
    assert not cache_eligible(policy=policy, **ELIGIBLE)


def test_a_star_caches_every_model(tenant):
    policy = tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"cache_models": ["*"]}
    )
    assert cache_eligible(policy=policy, **{**ELIGIBLE, "model": "tiny-vit"})


def test_zero_retention_bypasses_the_cache(tenant):
    policy = tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"cache_models": ["*"], "zero_retention": True}
    )
    assert not cache_eligible(policy=policy, **ELIGIBLE)


def test_the_key_reveals_nothing_and_differs_per_tenant(tenant):
    other = Tenant.objects.create(slug="other", name="Other")
    key = _key(tenant, "a secret diagnosis")
    assert "secret" not in key and len(key) == 64
    assert key != _key(other, "a secret diagnosis")
    assert key != cache_key(
        tenant_id=tenant.id,
        model="tiny-chat",
        model_version="v2",
        request={"prompt": "a secret diagnosis"},
    )


def test_a_stored_result_is_found_sealed(tenant):
    entry = _store(tenant)
    assert b"the answer" not in bytes(entry.sealed)
    assert (
        cache_lookup(tenant_id=tenant.id, key_digest=_key(tenant), subject="s2", now=NOW)
        == b"the answer"
    )


def test_another_tenant_never_gets_the_entry(tenant):
    other = Tenant.objects.create(slug="other", name="Other")
    _store(tenant)
    assert cache_lookup(tenant_id=other.id, key_digest=_key(tenant), subject="s1", now=NOW) is None
    assert cache_lookup(tenant_id=other.id, key_digest=_key(other), subject="s1", now=NOW) is None


def test_an_expired_entry_is_not_served(tenant):
    _store(tenant, ttl=60)
    later = NOW + timedelta(seconds=61)
    assert (
        cache_lookup(tenant_id=tenant.id, key_digest=_key(tenant), subject="s1", now=later) is None
    )


def test_an_entry_of_an_erased_producer_is_unreadable_and_dropped(tenant):
    _store(tenant, subject="s1")
    data_key_destroy(subject="s1")
    assert cache_lookup(tenant_id=tenant.id, key_digest=_key(tenant), subject="s2", now=NOW) is None
    assert not CacheEntry.objects.exists()


def test_a_hit_is_counted_and_remembered_against_its_subject(tenant):
    _store(tenant, subject="s1")
    cache_lookup(tenant_id=tenant.id, key_digest=_key(tenant), subject="s2", now=NOW)
    assert CacheEntry.objects.get().hit_count == 1
    assert cache_count("s2") == 1
    assert cache_export("s2")[0]["produced_by_subject"] is False


def test_a_purge_by_subject_removes_what_it_produced_or_hit(tenant):
    _store(tenant, subject="s1", text="one")
    _store(tenant, subject="s2", text="two")
    _store(tenant, subject="s3", text="three")
    cache_lookup(tenant_id=tenant.id, key_digest=_key(tenant, "two"), subject="s1", now=NOW)
    assert cache_purge(actor_id=None, subject="s1") == 2
    assert cache_count("s1") == 0
    assert list(CacheEntry.objects.values_list("subject", flat=True)) == ["s3"]


def test_a_purge_by_model_and_tenant(tenant):
    other = Tenant.objects.create(slug="other", name="Other")
    _store(tenant, text="a", model="tiny-chat")
    _store(tenant, text="b", model="minilm-embed")
    _store(other, text="a", model="tiny-chat")
    assert cache_purge(actor_id=None, tenant_id=tenant.id, model="tiny-chat") == 1
    assert cache_purge(actor_id=None, tenant_id=other.id) == 1
    assert CacheEntry.objects.get().model == "minilm-embed"


def test_a_purge_of_everything_is_audited(tenant, make_user):
    officer = make_user("olga")
    _store(tenant, text="a")
    _store(tenant, text="b")
    assert cache_purge(actor_id=officer.id) == 2
    entry = AuditEntry.objects.get(action="cache.purge")
    assert entry.actor_id == officer.id and entry.details["entries"] == 2


def test_erasing_a_subject_leaves_none_of_its_entries(tenant):
    _store(tenant, subject="s1", text="a")
    _store(tenant, subject="s2", text="b")
    cache_lookup(tenant_id=tenant.id, key_digest=_key(tenant, "b"), subject="s1", now=NOW)
    assert cache_erase("s1") == 2
    assert cache_count("s1") == 0
