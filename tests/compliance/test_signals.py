"""Console logins are audited; an end user's login is not a console login."""

import pytest
from django.test import Client

from compliance.models import AuditEntry
from portal.roles import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "audited"),
    [(Role.AUDITOR, True), (Role.COMPLIANCE_OFFICER, True), (Role.END_USER, False)],
)
def test_a_console_login_is_on_the_audit_trail(make_user, role, audited):
    user = make_user("person", role)
    assert Client().login(username="person", password=PASSWORD)
    entries = AuditEntry.objects.filter(action="console.login", actor_id=user.id)
    assert entries.exists() is audited
