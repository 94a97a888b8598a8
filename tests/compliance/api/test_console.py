"""The compliance console API: who may use which verb on which tenant (a role x verb
matrix), then what each operation does, for auditors and compliance officers."""

import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from compliance.models import AuditEntry, CacheEntry, ErasureRequest, RetentionRule
from compliance.services.archive import archive_store
from compliance.services.cache import cache_key, cache_store
from compliance.services.content_policy import content_rule_create
from compliance.services.erasure import erasure_request_create, receipt_verify
from compliance.services.request_log import RequestLogEntry, request_log_write
from compliance.services.subjects import subject_pseudonym_get
from portal.models import Tenant
from portal.roles import Role

pytestmark = pytest.mark.django_db

API = "/api/v1/compliance"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CANARY = "canary-7f3a: patient Jane Roe, fracture of the left wrist"
RULE_TERM = "Project Nightingale"
LONG_AGO = datetime(2020, 1, 6, tzinfo=UTC)  # an erasure received then is overdue by now
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\x00"

ACTORS = ("end user", "api user", "auditor", "officer", "other officer", "admin")


@pytest.fixture(autouse=True)
def isolated_keys(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.MASTER_KEYS = ""
    settings.SIGNING_KEY_FILE = tmp_path / "signing_key.pem"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def other_tenant(db) -> Tenant:
    return Tenant.objects.create(slug="globex", name="Globex Bank")


@pytest.fixture
def actor(make_user, other_tenant):
    """The account of one row of the matrix: everyone but the other officer is of acme."""

    def make(name: str):
        if name == "other officer":
            return make_user("officer-b", Role.COMPLIANCE_OFFICER, other_tenant)
        role = {
            "end user": Role.END_USER,
            "api user": Role.API_USER,
            "auditor": Role.AUDITOR,
            "officer": Role.COMPLIANCE_OFFICER,
            "admin": Role.ADMIN,
        }[name]
        return make_user(name.replace(" ", "-"), role)

    return make


@pytest.fixture
def client_as(actor):
    """A client signed in as the named actor, the same one each time it is asked for."""
    clients = {}

    def get(name: str) -> APIClient:
        if name not in clients:
            clients[name] = APIClient()
            clients[name].force_authenticate(actor(name))
        return clients[name]

    return get


@dataclass(frozen=True)
class Records:
    subject: str
    rule: int
    archive: int
    erasure: str


@pytest.fixture
def records(tenant) -> Records:
    """One of everything in acme, the canary in its archived exchange and cached output."""
    subject = subject_pseudonym_get(tenant_id=tenant.id, reference="user:4242")
    request_log_write(
        RequestLogEntry(
            request_id="req1",
            created_at=NOW,
            endpoint="/v1/chat/completions",
            status_code=200,
            tenant_id=tenant.id,
            actor_id=4242,
            subject=subject,
            model="tiny-chat",
            prompt_tokens=12,
            archived=True,
        )
    )
    entry = archive_store(
        tenant_id=tenant.id,
        subject=subject,
        request_id="req1",
        endpoint="/v1/chat/completions",
        model="tiny-chat",
        task="text-generation",
        exchange={"input": {"prompt": CANARY, "image": PNG}, "output": {"text": CANARY}},
        now=NOW,
    )
    # Before the cache entry: a change of rules empties the tenant's cache.
    rule = content_rule_create(
        actor_id=None, tenant=tenant, name="project", kind="term", value=RULE_TERM, action="block"
    )
    key = cache_key(
        tenant_id=tenant.id, model="tiny-chat", model_version="v1", request={"prompt": CANARY}
    )
    cache_store(
        tenant_id=tenant.id,
        key_digest=key,
        model="tiny-chat",
        subject=subject,
        payload=CANARY.encode(),
        ttl_seconds=3600,
        now=NOW,
    )
    erasure = erasure_request_create(
        tenant_id=tenant.id,
        subject=subject,
        channel=ErasureRequest.Channel.SELF,
        requested_by_id=None,
        verified=False,
        now=LONG_AGO,
    )
    return Records(subject=subject, rule=rule.id, archive=entry.id, erasure=str(erasure.id))


def _send(client: APIClient, method: str, path: str, body: dict | None = None):
    return getattr(client, method.lower())(f"{API}/{path}", body, format="json")


def _error_code(response) -> str:
    return response.json()["error"]["code"]


# --- who may do what ------------------------------------------------------------------

#           end user, api user, auditor, officer, other officer, admin
READ = (403, 403, 200, 200, 404, 200)  # an acme object
LIST = (403, 403, 200, 200, 200, 200)  # across the tenants one is granted
WRITE = (403, 403, 403, 200, 404, 200)
CREATE = (403, 403, 403, 201, 404, 201)
DELETE = (403, 403, 403, 204, 404, 204)

MATRIX = [
    ("GET", "tenants", None, LIST),
    ("GET", "tenants/acme/policy", None, READ),
    ("PATCH", "tenants/acme/policy", {"cache_ttl_seconds": 60}, WRITE),
    ("GET", "tenants/acme/content-rules", None, READ),
    (
        "POST",
        "tenants/acme/content-rules",
        {"name": "iban", "kind": "pattern", "value": "DE[0-9]{20}", "action": "sensitive"},
        CREATE,
    ),
    ("DELETE", "tenants/acme/content-rules/{rule}", None, DELETE),
    ("GET", "tenants/acme/retention", None, READ),
    ("PUT", "tenants/acme/retention", {"archive": 30}, WRITE),
    ("GET", "request-logs", None, LIST),
    ("GET", "request-logs?tenant=acme", None, READ),
    ("GET", "cache", None, LIST),
    ("POST", "cache/purge", {"tenant": "acme"}, WRITE),
    ("GET", "archive", None, LIST),
    ("POST", "archive/{archive}/read", {"reason": "quality review"}, WRITE),
    ("GET", "erasure-requests", None, LIST),
    ("GET", "erasure-requests/{erasure}", None, READ),
    ("GET", "audit", None, LIST),
    ("GET", "audit?tenant=acme", None, READ),
    ("GET", "audit/verify", None, LIST),
    ("POST", "keys/rotate", None, (403, 403, 403, 200, 200, 200)),  # deployment-wide
]


@pytest.mark.parametrize(
    "method, path, body, expected, who",
    [
        pytest.param(method, path, body, expected[i], who, id=f"{method} {path} {who}")
        for method, path, body, expected in MATRIX
        for i, who in enumerate(ACTORS)
    ],
)
def test_role_verb_matrix(client_as, records, method, path, body, expected, who):
    response = _send(client_as(who), method, path.format(**records.__dict__), body)
    assert response.status_code == expected
    if expected == 403:
        assert _error_code(response) == "permission_denied"
    if expected == 404:
        assert _error_code(response) == "not_found"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who, expected", zip(ACTORS, CREATE[:3] + (202, 404, 202), strict=True))
def test_role_matrix_of_filing_an_erasure(client_as, records, who, expected):
    client = client_as(who)
    body = {"tenant": "acme", "subject": records.subject}
    response = _send(client, "POST", "erasure-requests", body)
    assert response.status_code == expected
    if expected == 202:  # let the background erasure finish before the database is emptied
        assert _erasure_finished(client, response.json()["id"])["status"] == "completed"


def test_an_anonymous_caller_must_authenticate(records):
    response = APIClient().get(f"{API}/tenants")
    assert response.status_code == 401
    assert _error_code(response) == "authentication_required"


def test_a_tenant_that_does_not_exist_is_as_absent_as_one_not_granted(client_as):
    response = _send(client_as("officer"), "GET", "tenants/nowhere/policy")
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["request-logs", "cache", "archive", "erasure-requests", "audit"])
def test_lists_hold_nothing_of_tenants_not_granted(client_as, records, path):
    body = _send(client_as("other officer"), "GET", path).json()
    assert "acme" not in json.dumps(body)
    assert records.subject not in json.dumps(body)


def test_tenants_say_what_the_viewer_may_do_on_each(client_as, other_tenant):
    assert _send(client_as("auditor"), "GET", "tenants").json()["results"] == [
        {"slug": "acme", "name": "Acme Clinic", "audit": True, "govern": False}
    ]
    admin_sees = _send(client_as("admin"), "GET", "tenants").json()["results"]
    assert [(t["slug"], t["govern"]) for t in admin_sees] == [("acme", True), ("globex", True)]


# --- auditors never see content ---------------------------------------------------------

AUDITOR_READS = [
    "tenants",
    "tenants/acme/policy",
    "tenants/acme/content-rules",
    "tenants/acme/retention",
    "request-logs",
    "cache",
    "archive",
    "erasure-requests",
    "erasure-requests/{erasure}",
    "audit",
    "audit/verify",
]


def test_auditors_never_receive_prompt_or_output_content(client_as, records):
    _send(client_as("officer"), "POST", f"archive/{records.archive}/read", {"reason": "review"})
    auditor = client_as("auditor")
    for path in AUDITOR_READS:
        response = _send(auditor, "GET", path.format(**records.__dict__))
        assert response.status_code == 200, path
        text = response.content.decode()
        assert CANARY not in text and "canary-7f3a" not in text, path
        assert RULE_TERM not in text, path
        assert base64.b64encode(PNG).decode() not in text, path


# --- policy ---------------------------------------------------------------------------


def test_policy_changed_by_an_officer_reads_back(client_as, tenant, settings):
    officer = client_as("officer")
    changes = {
        "allowed_regions": ["eu-west"],
        "cache_models": ["tiny-chat"],
        "archive_enabled": True,
    }
    patched = _send(officer, "PATCH", "tenants/acme/policy", changes)
    assert patched.status_code == 200
    policy = _send(officer, "GET", "tenants/acme/policy").json()
    assert {key: policy[key] for key in changes} == changes
    assert policy["deployment_region"] == settings.PORTAL_REGION


def test_a_policy_change_leaves_one_audit_entry(client_as, tenant):
    _send(client_as("officer"), "PATCH", "tenants/acme/policy", {"zero_retention": True})
    entries = AuditEntry.objects.filter(action="policy.update", tenant_id=tenant.id)
    assert entries.count() == 1


@pytest.mark.parametrize(
    "body, param",
    [
        ({"cache_ttl_seconds": "60"}, "cache_ttl_seconds"),
        ({"zero_retention": "yes"}, "zero_retention"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_an_invalid_policy_change_is_refused(client_as, tenant, body, param):
    response = _send(client_as("officer"), "PATCH", "tenants/acme/policy", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("body", [[], {}])
def test_a_policy_change_must_be_a_json_object_naming_settings(client_as, tenant, body):
    response = _send(client_as("officer"), "PATCH", "tenants/acme/policy", body)
    assert response.status_code == 400 and _error_code(response) == "invalid_request"


# --- content rules --------------------------------------------------------------------


def test_auditors_see_what_a_rule_does_but_not_its_value(client_as, records):
    rules = _send(client_as("auditor"), "GET", "tenants/acme/content-rules").json()["results"]
    assert rules == [{"id": records.rule, "name": "project", "kind": "term", "action": "block"}]


def test_officers_see_the_value_of_a_rule(client_as, records):
    rules = _send(client_as("officer"), "GET", "tenants/acme/content-rules").json()["results"]
    assert rules[0]["value"] == RULE_TERM


def test_a_rule_that_cannot_be_applied_is_refused(client_as, tenant):
    body = {"name": "broken", "kind": "pattern", "value": "([a-z"}
    response = _send(client_as("officer"), "POST", "tenants/acme/content-rules", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "value"


def test_a_rule_of_another_tenant_is_not_found_under_ones_own(client_as, records, other_tenant):
    response = _send(
        client_as("other officer"), "DELETE", f"tenants/globex/content-rules/{records.rule}"
    )
    assert response.status_code == 404


# --- retention ------------------------------------------------------------------------


def test_retention_set_by_an_officer_reads_back(client_as, tenant):
    officer = client_as("officer")
    _send(officer, "PUT", "tenants/acme/retention", {"archive": 30, "request_logs": 400})
    days = _send(officer, "GET", "tenants/acme/retention").json()
    assert (days["archive"], days["request_logs"]) == (30, 400)


def test_retention_with_one_invalid_class_changes_none(client_as, tenant):
    body = {"archive": 30, "forever": 10}
    response = _send(client_as("officer"), "PUT", "tenants/acme/retention", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "data_class"
    assert not RetentionRule.objects.exists()


# --- request logs ---------------------------------------------------------------------


def test_request_logs_are_metadata_without_the_account(client_as, records):
    rows = _send(client_as("auditor"), "GET", "request-logs").json()["results"]
    assert len(rows) == 1
    assert rows[0]["tenant"] == "acme" and rows[0]["subject"] == records.subject
    assert rows[0]["prompt_tokens"] == 12
    assert "actor_id" not in rows[0]


@pytest.mark.parametrize(
    "query, count",
    [("model=tiny-chat", 1), ("model=tiny-vit", 0), ("status=200", 1), ("status=500", 0)],
)
def test_request_logs_filter_by_model_and_status(client_as, records, query, count):
    assert _send(client_as("auditor"), "GET", f"request-logs?{query}").json()["count"] == count


def test_pages_hold_at_most_200_rows(client_as, tenant):
    for n in range(201):
        request_log_write(
            RequestLogEntry(
                request_id=f"r{n}",
                created_at=NOW,
                endpoint="/v1/embeddings",
                status_code=200,
                tenant_id=tenant.id,
            )
        )
    page = _send(client_as("auditor"), "GET", "request-logs?limit=1000&offset=1").json()
    assert (page["count"], len(page["results"])) == (201, 200)


def test_a_limit_that_is_not_a_number_is_refused(client_as, records):
    response = _send(client_as("auditor"), "GET", "request-logs?limit=ten")
    assert response.status_code == 400 and response.json()["error"]["param"] == "limit"


# --- cache ----------------------------------------------------------------------------


def test_cache_inventory_counts_entries_per_tenant_and_model(client_as, records):
    rows = _send(client_as("auditor"), "GET", "cache").json()["results"]
    assert [(r["tenant"], r["model"], r["entries"], r["hits"]) for r in rows] == [
        ("acme", "tiny-chat", 1, 0)
    ]


def test_purge_removes_the_tenants_entries_and_is_audited(client_as, records, tenant):
    response = _send(client_as("officer"), "POST", "cache/purge", {"tenant": "acme"})
    assert response.json() == {"purged": 1}
    assert not CacheEntry.objects.exists()
    entry = AuditEntry.objects.get(action="cache.purge")
    assert (entry.tenant_id, entry.details["entries"]) == (tenant.id, 1)


def test_purge_by_another_model_leaves_the_entry(client_as, records):
    body = {"tenant": "acme", "model": "tiny-vit"}
    assert _send(client_as("officer"), "POST", "cache/purge", body).json() == {"purged": 0}
    assert CacheEntry.objects.count() == 1


# --- archive --------------------------------------------------------------------------


def test_archive_inventory_is_metadata(client_as, records):
    rows = _send(client_as("auditor"), "GET", "archive").json()["results"]
    assert [(r["id"], r["tenant"], r["subject"], r["model"]) for r in rows] == [
        (records.archive, "acme", records.subject, "tiny-chat")
    ]


def test_an_officer_reads_an_exchange_with_bytes_as_base64(client_as, records):
    body = {"reason": "complaint 2026-17"}
    response = _send(client_as("officer"), "POST", f"archive/{records.archive}/read", body)
    exchange = response.json()["exchange"]
    assert exchange["input"]["prompt"] == CANARY
    assert base64.b64decode(exchange["input"]["image"]) == PNG


def test_an_archive_read_is_audited_with_its_reason(client_as, records):
    body = {"reason": "complaint 2026-17"}
    _send(client_as("officer"), "POST", f"archive/{records.archive}/read", body)
    entry = AuditEntry.objects.get(action="archive.read")
    assert entry.details == {"reason": "complaint 2026-17"}


@pytest.mark.parametrize("body", [{"reason": "  "}, {}])
def test_an_archive_read_needs_a_reason(client_as, records, body):
    response = _send(client_as("officer"), "POST", f"archive/{records.archive}/read", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "reason"
    assert not AuditEntry.objects.filter(action="archive.read").exists()


# --- erasure --------------------------------------------------------------------------


def _erasure_finished(client: APIClient, erasure_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        erasure = _send(client, "GET", f"erasure-requests/{erasure_id}").json()
        if erasure["status"] in ("completed", "failed"):
            return erasure
        time.sleep(0.05)
    raise AssertionError("the erasure did not finish")


@pytest.mark.django_db(transaction=True)
def test_an_erasure_filed_by_an_officer_completes_with_a_valid_receipt(client_as, records):
    officer = client_as("officer")
    filed = _send(
        officer, "POST", "erasure-requests", {"tenant": "acme", "subject": records.subject}
    )
    assert filed.status_code == 202
    assert filed.headers["Location"] == f"{API}/erasure-requests/{filed.json()['id']}"
    erasure = _erasure_finished(officer, filed.json()["id"])
    assert (erasure["status"], erasure["channel"], erasure["overdue"]) == (
        "completed",
        "officer",
        False,
    )
    assert erasure["removed"]["archive"] == 1
    assert receipt_verify(erasure["receipt"])


def test_an_erasure_of_an_unknown_subject_is_refused(client_as, records):
    body = {"tenant": "acme", "subject": "0" * 32}
    response = _send(client_as("officer"), "POST", "erasure-requests", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "subject"


def test_erasure_requests_past_their_deadline_are_overdue(client_as, records):
    rows = _send(client_as("auditor"), "GET", "erasure-requests").json()["results"]
    assert [(r["id"], r["overdue"]) for r in rows] == [(records.erasure, True)]


# --- audit trail and keys ---------------------------------------------------------------


def test_audit_verification_reports_an_intact_chain(client_as, records):
    report = _send(client_as("auditor"), "GET", "audit/verify").json()
    assert report["ok"] is True and report["entries_checked"] == AuditEntry.objects.count()


def test_audit_entries_filter_by_action(client_as, records):
    rows = _send(client_as("auditor"), "GET", "audit?action=content_rule.create").json()["results"]
    assert [(r["action"], r["tenant"]) for r in rows] == [("content_rule.create", "acme")]


def test_only_admins_see_the_deployments_own_audit_entries(client_as, records):
    _send(client_as("admin"), "POST", "keys/rotate")
    for who, seen in (("officer", []), ("admin", ["keys.rotate"])):
        rows = _send(client_as(who), "GET", "audit?action=keys.rotate").json()["results"]
        assert [r["action"] for r in rows] == seen, who


def test_key_rotation_reports_what_it_rewrapped(client_as, records):
    report = _send(client_as("admin"), "POST", "keys/rotate").json()
    assert report["rewrapped"] == 1 and report["keyring"] == "file"
    assert len(report["master_key_id"]) == 16
