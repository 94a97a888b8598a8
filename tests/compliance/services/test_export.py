"""Export: every registered store's view of the subject, and an audit entry of counts only."""

import json

import pytest
from django.utils import timezone

from compliance.models import AuditEntry, ErasureRequest
from compliance.services.archive import archive_store
from compliance.services.erasure import erasure_execute, erasure_request_create
from compliance.services.export import subject_export
from compliance.services.subjects import subject_pseudonym_get
from compliance.stores import store_list

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def subject(tenant):
    pseudonym = subject_pseudonym_get(tenant_id=tenant.id, reference="user:5")
    archive_store(
        tenant_id=tenant.id,
        subject=pseudonym,
        request_id="r9",
        endpoint="/v1/chat/completions",
        model="tiny-chat",
        task="text-generation",
        exchange={"input": {"prompt": "the MRI report"}, "output": {"text": "noted"}},
        now=NOW,
    )
    return pseudonym


def test_the_document_holds_every_store_and_decrypted_exchanges(tenant, subject):
    document = subject_export(tenant_id=tenant.id, subject=subject, actor_id=None, now=NOW)
    assert set(document["stores"]) == {store.name for store in store_list()}
    exchange = document["stores"]["archive"][0]["exchange"]
    assert exchange["input"]["prompt"] == "the MRI report"
    json.dumps(document)  # machine-readable: plain JSON all the way down


def test_an_export_is_audited_without_content(tenant, subject):
    subject_export(tenant_id=tenant.id, subject=subject, actor_id=3, now=NOW)
    entry = AuditEntry.objects.get(action="subject.export")
    assert entry.details["items"]["archive"] == 1
    assert "MRI" not in json.dumps(entry.details)


def test_the_subjects_erasure_requests_come_with_their_receipts(tenant, subject):
    erasure = erasure_request_create(
        tenant_id=tenant.id,
        subject=subject,
        channel=ErasureRequest.Channel.SELF,
        requested_by_id=None,
        verified=True,
        now=NOW,
    )
    erasure_execute(erasure_id=erasure.id)
    document = subject_export(tenant_id=tenant.id, subject=subject, actor_id=None, now=NOW)
    assert document["stores"]["archive"] == []
    assert document["erasure_requests"][0]["receipt"]["signature"]
