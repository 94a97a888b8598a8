"""Export (GDPR Articles 15 and 20): everything held about a subject, as one JSON document.

The document is built from the personal-data store registry, so a store added later is
exported without changes here: jobs, archived exchanges (decrypted), log rows' metadata, cache
entries the subject touched, plus the subject's erasure requests and their receipts. Each
export leaves an audit entry naming how many items each store gave, never what they held.
"""

from datetime import datetime

from compliance.models import ErasureRequest
from compliance.services.audit import audit_append
from compliance.services.erasure import receipt_document
from compliance.stores import store_list

EXPORT_TYPE = "custos.subject-export/1"


def _erasure_requests(subject: str) -> list[dict]:
    return [
        {
            "id": str(erasure.id),
            "status": erasure.status,
            "received_at": erasure.received_at.isoformat(),
            "deadline_at": erasure.deadline_at.isoformat(),
            "completed_at": erasure.completed_at.isoformat() if erasure.completed_at else None,
            "receipt": receipt_document(erasure) if erasure.receipt else None,
        }
        for erasure in ErasureRequest.objects.filter(subject=subject).order_by("received_at")
    ]


def subject_export(*, tenant_id: int, subject: str, actor_id: int | None, now: datetime) -> dict:
    stores = {store.name: store.export(subject) for store in store_list()}
    document = {
        "type": EXPORT_TYPE,
        "subject": subject,
        "generated_at": now.isoformat(),
        "stores": stores,
        "erasure_requests": _erasure_requests(subject),
    }
    audit_append(
        action="subject.export",
        actor_id=actor_id,
        tenant_id=tenant_id,
        target=f"subject:{subject}",
        details={"items": {name: len(items) for name, items in stores.items()}},
    )
    return document
