from compliance.models import Subject
from compliance.services.subjects import subject_pseudonym_get, subject_pseudonyms_forget
from portal.models import Tenant


def test_same_subject_same_pseudonym_without_storing_the_reference(tenant):
    first = subject_pseudonym_get(tenant_id=tenant.id, reference="end-user:3:jane@example.org")
    again = subject_pseudonym_get(tenant_id=tenant.id, reference="end-user:3:jane@example.org")
    assert first == again and len(first) == 32
    stored = Subject.objects.get()
    assert "jane" not in stored.reference_digest and "jane" not in stored.pseudonym


def test_pseudonyms_differ_across_subjects_and_tenants(tenant):
    other = Tenant.objects.create(slug="other", name="Other")
    a = subject_pseudonym_get(tenant_id=tenant.id, reference="user:1")
    b = subject_pseudonym_get(tenant_id=tenant.id, reference="user:2")
    c = subject_pseudonym_get(tenant_id=other.id, reference="user:1")
    assert len({a, b, c}) == 3


def test_deleting_the_mapping_unlinks_the_subject(tenant):
    first = subject_pseudonym_get(tenant_id=tenant.id, reference="user:1")
    Subject.objects.all().delete()
    subject_pseudonyms_forget()
    assert subject_pseudonym_get(tenant_id=tenant.id, reference="user:1") != first
