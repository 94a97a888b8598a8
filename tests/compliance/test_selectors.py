"""Reads narrowed to the viewer: which tenants count for whom, and that rows of the stores
holding content come back as metadata only."""

from datetime import UTC, datetime, timedelta

import pytest
from guardian.shortcuts import assign_perm

from compliance.models import ErasureRequest
from compliance.permissions import AUDIT, GOVERN
from compliance.selectors import (
    ARCHIVE_FIELDS,
    archive_list,
    audit_entry_list,
    cache_inventory,
    compliance_log_list,
    content_rule_get,
    content_rule_list,
    erasure_request_get,
    erasure_request_list,
    request_log_list,
    subject_get,
    tenant_get,
    tenant_list,
)
from compliance.services.archive import archive_store
from compliance.services.audit import audit_append
from compliance.services.cache import cache_key, cache_lookup, cache_store
from compliance.services.content_policy import content_rule_create
from compliance.services.erasure import erasure_request_create
from compliance.services.request_log import RequestLogEntry, request_log_write
from compliance.services.subjects import subject_pseudonym_get
from portal.errors import ApiError
from portal.models import Tenant
from portal.roles import Role

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def isolated_keys(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MASTER_KEYS = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def other_tenant(db) -> Tenant:
    return Tenant.objects.create(slug="globex", name="Globex Bank")


def _log(tenant, request_id="r1", actor_id=None, model="tiny-chat", status_code=200):
    return request_log_write(
        RequestLogEntry(
            request_id=request_id,
            created_at=NOW,
            endpoint="/v1/chat/completions",
            status_code=status_code,
            tenant_id=tenant.id,
            actor_id=actor_id,
            model=model,
        )
    )


def _erasure(tenant, *, received_at=NOW, subject="s1"):
    return erasure_request_create(
        tenant_id=tenant.id,
        subject=subject,
        channel=ErasureRequest.Channel.SELF,
        requested_by_id=None,
        verified=False,
        now=received_at,
    )


# --- request_log_list: a user's own history -------------------------------------------------


def test_request_log_list_is_the_viewers_own_requests(make_user, tenant):
    alice, bob = make_user("alice"), make_user("bob")
    _log(tenant, "mine", actor_id=alice.id)
    _log(tenant, "theirs", actor_id=bob.id)
    assert [row.request_id for row in request_log_list(viewer=alice)] == ["mine"]


# --- tenants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, audits, governs",
    [
        (Role.END_USER, [], []),
        (Role.API_USER, [], []),
        (Role.AUDITOR, ["acme"], []),
        (Role.COMPLIANCE_OFFICER, ["acme"], ["acme"]),
        (Role.ADMIN, ["acme", "globex"], ["acme", "globex"]),
    ],
)
def test_tenant_list_by_role(make_user, other_tenant, role, audits, governs):
    viewer = make_user("viewer", role)
    assert [t.slug for t in tenant_list(viewer=viewer, permission=AUDIT)] == audits
    assert [t.slug for t in tenant_list(viewer=viewer, permission=GOVERN)] == governs


def test_a_permission_held_without_a_role_that_carries_it_counts_for_nothing(make_user, tenant):
    end_user = make_user("end", Role.END_USER)
    assign_perm(AUDIT, end_user, tenant)
    assert not tenant_list(viewer=end_user, permission=AUDIT).exists()


def test_a_tenant_granted_later_counts(make_user, other_tenant):
    auditor = make_user("auditor", Role.AUDITOR)
    assign_perm(AUDIT, auditor, other_tenant)
    assert [t.slug for t in tenant_list(viewer=auditor, permission=AUDIT)] == ["acme", "globex"]


def test_tenant_get_of_a_tenant_not_granted_is_not_found(make_user, other_tenant):
    auditor = make_user("auditor", Role.AUDITOR)
    with pytest.raises(ApiError) as raised:
        tenant_get(viewer=auditor, slug="globex", permission=AUDIT)
    assert raised.value.code == "not_found"


def test_tenant_get_asks_for_the_permission_named(make_user, tenant):
    auditor = make_user("auditor", Role.AUDITOR)
    assert tenant_get(viewer=auditor, slug="acme", permission=AUDIT) == tenant
    with pytest.raises(ApiError):
        tenant_get(viewer=auditor, slug="acme", permission=GOVERN)


# --- content rules ---------------------------------------------------------------------------


@pytest.fixture
def rule(tenant):
    return content_rule_create(
        actor_id=None,
        tenant=tenant,
        name="codename",
        kind="term",
        value="Nightingale",
        action="block",
    )


@pytest.mark.parametrize(
    "role, sees_value", [(Role.AUDITOR, False), (Role.COMPLIANCE_OFFICER, True), (Role.ADMIN, True)]
)
def test_content_rule_values_only_for_those_who_govern(make_user, tenant, rule, role, sees_value):
    rows = list(content_rule_list(viewer=make_user("viewer", role), tenant=tenant))
    assert ("value" in rows[0]) is sees_value
    assert rows[0]["name"] == "codename"


def test_content_rule_get_of_another_tenants_rule_is_not_found(rule, other_tenant):
    with pytest.raises(ApiError) as raised:
        content_rule_get(tenant=other_tenant, rule_id=rule.id)
    assert raised.value.code == "not_found"


# --- request logs -------------------------------------------------------------------------


def test_compliance_log_list_holds_only_tenants_audited(make_user, tenant, other_tenant):
    _log(tenant, "acme-1")
    _log(other_tenant, "globex-1")
    rows = compliance_log_list(viewer=make_user("auditor", Role.AUDITOR))
    assert [(row["request_id"], row["tenant_slug"]) for row in rows] == [("acme-1", "acme")]


def test_compliance_log_list_never_names_the_account(make_user, tenant):
    _log(tenant, actor_id=4242)
    row = compliance_log_list(viewer=make_user("auditor", Role.AUDITOR)).get()
    assert "actor_id" not in row and "id" not in row


def test_compliance_log_list_of_a_tenant_not_audited_is_empty(make_user, other_tenant):
    _log(other_tenant)
    rows = compliance_log_list(viewer=make_user("auditor", Role.AUDITOR), tenant=other_tenant)
    assert not rows.exists()


def test_compliance_log_list_filters_by_model_and_status(make_user, tenant):
    _log(tenant, "chat", model="tiny-chat")
    _log(tenant, "vit", model="tiny-vit", status_code=400)
    auditor = make_user("auditor", Role.AUDITOR)
    assert [r["request_id"] for r in compliance_log_list(viewer=auditor, model="tiny-vit")] == [
        "vit"
    ]
    assert [r["request_id"] for r in compliance_log_list(viewer=auditor, status_code=200)] == [
        "chat"
    ]


# --- cache and archive -------------------------------------------------------------------------


def _cached(tenant, text: str, model="tiny-chat"):
    key = cache_key(tenant_id=tenant.id, model=model, model_version="v1", request={"p": text})
    cache_store(
        tenant_id=tenant.id,
        key_digest=key,
        model=model,
        subject="s1",
        payload=b"output",
        ttl_seconds=60,
        now=NOW,
    )
    return key


def test_cache_inventory_aggregates_per_tenant_and_model(make_user, tenant, other_tenant):
    first = _cached(tenant, "a")
    _cached(tenant, "b")
    _cached(other_tenant, "c")
    cache_lookup(tenant_id=tenant.id, key_digest=first, subject="s2", now=NOW)
    rows = list(cache_inventory(viewer=make_user("auditor", Role.AUDITOR)))
    assert rows == [
        {
            "model": "tiny-chat",
            "tenant_slug": "acme",
            "entries": 2,
            "hits": 1,
            "oldest": NOW,
            "newest": NOW,
        }
    ]


def test_archive_list_is_metadata_of_tenants_audited(make_user, tenant, other_tenant):
    for owner in (tenant, other_tenant):
        archive_store(
            tenant_id=owner.id,
            subject=f"subject-{owner.slug}",
            request_id=f"req-{owner.slug}",
            endpoint="/v1/chat/completions",
            model="tiny-chat",
            task="text-generation",
            exchange={"input": "secret"},
            now=NOW,
        )
    rows = list(archive_list(viewer=make_user("auditor", Role.AUDITOR)))
    assert [row["request_id"] for row in rows] == ["req-acme"]
    assert set(rows[0]) == {*ARCHIVE_FIELDS, "tenant_slug"}


# --- subjects and erasure ----------------------------------------------------------------------


def test_subject_get_finds_a_pseudonym_only_in_its_tenant(tenant, other_tenant):
    pseudonym = subject_pseudonym_get(tenant_id=tenant.id, reference="user:1")
    assert subject_get(tenant=tenant, pseudonym=pseudonym).pseudonym == pseudonym
    assert subject_get(tenant=other_tenant, pseudonym=pseudonym) is None


def test_erasure_request_list_holds_only_tenants_audited(make_user, tenant, other_tenant):
    mine = _erasure(tenant)
    _erasure(other_tenant)
    rows = erasure_request_list(viewer=make_user("auditor", Role.AUDITOR), now=NOW)
    assert [row.id for row in rows] == [mine.id]


def test_erasure_request_list_marks_those_past_their_deadline(make_user, tenant):
    late = _erasure(tenant, received_at=NOW - timedelta(days=31), subject="late")
    _erasure(tenant, received_at=NOW, subject="fresh")
    rows = erasure_request_list(viewer=make_user("auditor", Role.AUDITOR), now=NOW)
    assert {row.subject: row.overdue for row in rows} == {"late": True, "fresh": False}
    assert late.status == ErasureRequest.Status.RECEIVED


def test_erasure_request_get_of_another_tenant_is_not_found(make_user, other_tenant):
    theirs = _erasure(other_tenant)
    with pytest.raises(ApiError) as raised:
        erasure_request_get(
            viewer=make_user("officer", Role.COMPLIANCE_OFFICER), erasure_id=theirs.id, now=NOW
        )
    assert raised.value.code == "not_found"


# --- audit trail ---------------------------------------------------------------------------------


@pytest.fixture
def trail(tenant, other_tenant):
    audit_append(action="policy.update", tenant_id=tenant.id)
    audit_append(action="policy.update", tenant_id=other_tenant.id)
    audit_append(action="keys.rotate")  # the deployment's own: no tenant


@pytest.mark.parametrize(
    "role, seen",
    [
        (Role.AUDITOR, [("policy.update", "acme")]),
        (
            Role.ADMIN,
            [("keys.rotate", None), ("policy.update", "globex"), ("policy.update", "acme")],
        ),
    ],
)
def test_audit_entry_list_by_role(make_user, trail, role, seen):
    rows = audit_entry_list(viewer=make_user("viewer", role))
    assert [(row["action"], row["tenant_slug"]) for row in rows] == seen


def test_audit_entry_list_of_one_tenant_leaves_out_the_deployments_own(make_user, trail, tenant):
    rows = audit_entry_list(viewer=make_user("admin", Role.ADMIN), tenant=tenant)
    assert [row["tenant_slug"] for row in rows] == ["acme"]


def test_audit_entry_list_of_a_tenant_not_audited_is_empty(make_user, trail, other_tenant):
    rows = audit_entry_list(viewer=make_user("auditor", Role.AUDITOR), tenant=other_tenant)
    assert not rows.exists()


def test_audit_entry_list_filters_by_action(make_user, trail):
    rows = audit_entry_list(viewer=make_user("admin", Role.ADMIN), action="keys.rotate")
    assert [row["action"] for row in rows] == ["keys.rotate"]
