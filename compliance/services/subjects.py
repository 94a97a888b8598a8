"""Pseudonyms for data subjects.

A subject is whoever the data is about: a browser user, an API user, or the end user an API
caller names in the `user` field. The log knows only the pseudonym; the mapping keeps an HMAC
of the reference, so the table itself reveals no identifier.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import IntegrityError

from compliance.models import Subject


def subject_reference(*, user_id: int, end_user: str | None = None) -> str:
    """Whom a request is about: the account itself, or an end user an API caller named in
    `user` (a subject of its own, per calling account)."""
    return f"end-user:{user_id}:{end_user}" if end_user else f"user:{user_id}"


def subject_of_user(*, user, end_user: str | None = None) -> str:
    """The pseudonym of an account, or of an end user it acts for; created on first sight."""
    reference = subject_reference(user_id=user.id, end_user=end_user or None)
    return subject_pseudonym_get(tenant_id=user.tenant_id, reference=reference)


def subject_pseudonym_find(*, tenant_id: int, reference: str) -> str | None:
    """The pseudonym if this subject is known, without creating one."""
    digest = _reference_digest(tenant_id, reference)
    subject = Subject.objects.filter(tenant_id=tenant_id, reference_digest=digest).first()
    return subject.pseudonym if subject else None


def _reference_digest(tenant_id: int, reference: str) -> str:
    message = f"{tenant_id}:{reference}".encode()
    return hmac.new(settings.PSEUDONYM_KEY.encode(), message, hashlib.sha256).hexdigest()


# NOTE: pseudonyms are looked up on every request; they never change while their mapping
# exists, so they are remembered in-process, by digest (no raw reference is kept). Whatever
# deletes a mapping clears this.
_pseudonyms: dict[str, str] = {}
_PSEUDONYMS_KEPT = 10_000


def subject_pseudonym_get(*, tenant_id: int, reference: str) -> str:
    """The subject's pseudonym, created on first sight."""
    digest = _reference_digest(tenant_id, reference)
    if (pseudonym := _pseudonyms.get(digest)) is None:
        pseudonym = _pseudonym_load(tenant_id, digest)
        if len(_pseudonyms) >= _PSEUDONYMS_KEPT:
            _pseudonyms.clear()
        _pseudonyms[digest] = pseudonym
    return pseudonym


def subject_pseudonyms_forget() -> None:
    """Drop remembered pseudonyms, after a mapping was deleted."""
    _pseudonyms.clear()


def _pseudonym_load(tenant_id: int, digest: str) -> str:
    subject = Subject.objects.filter(tenant_id=tenant_id, reference_digest=digest).first()
    if subject is not None:
        return subject.pseudonym
    try:
        subject = Subject.objects.create(
            tenant_id=tenant_id, reference_digest=digest, pseudonym=secrets.token_hex(16)
        )
    except IntegrityError:  # a concurrent request created it first
        subject = Subject.objects.get(tenant_id=tenant_id, reference_digest=digest)
    return subject.pseudonym


def subject_mapping_count(pseudonym: str) -> int:
    return Subject.objects.filter(pseudonym=pseudonym).count()


def subject_mapping_export(pseudonym: str) -> list[dict]:
    return [
        {"pseudonym": subject.pseudonym, "created_at": subject.created_at.isoformat()}
        for subject in Subject.objects.filter(pseudonym=pseudonym)
    ]


def subject_mapping_erase(pseudonym: str) -> int:
    """The last step of an erasure: without the mapping, nothing links the subject's
    reference to what remains."""
    count, _ = Subject.objects.filter(pseudonym=pseudonym).delete()
    subject_pseudonyms_forget()
    return count
