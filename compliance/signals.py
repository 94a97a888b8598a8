"""Console logins go on the audit trail: who opened the records, and when."""

from django.contrib.auth.signals import user_logged_in

from compliance.permissions import has_role
from compliance.services.audit import audit_append
from portal.roles import Role

CONSOLE_ROLES = (Role.AUDITOR, Role.COMPLIANCE_OFFICER, Role.ADMIN)


def console_login_record(sender, request, user, **kwargs) -> None:
    if has_role(user, *CONSOLE_ROLES):
        audit_append(action="console.login", actor_id=user.id, tenant_id=user.tenant_id)


def signals_connect() -> None:
    user_logged_in.connect(console_login_record, dispatch_uid="compliance.console_login")
