"""Who may see and change which tenant's compliance data: small policy classes, one question
each. A role says what a person is; a django-guardian permission on a tenant says which
tenants they act for. Administrators act for every tenant."""

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import SAFE_METHODS, BasePermission

from portal.models import Tenant
from portal.roles import Role

AUDIT = "portal.audit_tenant"  # read metadata: logs, inventories, receipts, the audit trail
GOVERN = "portal.govern_tenant"  # policies, purges, erasure, archive reads, key rotation

# The roles through which a tenant permission counts: a permission granted to someone of
# another role (an end user, say) gives them nothing.
ROLES_WITH = {
    AUDIT: (Role.AUDITOR, Role.COMPLIANCE_OFFICER, Role.ADMIN),
    GOVERN: (Role.COMPLIANCE_OFFICER, Role.ADMIN),
}


def has_role(user, *roles: Role) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=[str(role) for role in roles]).exists()


def tenants_for(user, permission: str) -> QuerySet[Tenant]:
    """The tenants on which the user holds `permission` (every tenant for an admin)."""
    if not user.is_authenticated:
        return Tenant.objects.none()
    return get_objects_for_user(user, permission, klass=Tenant, accept_global_perms=True)


def can_govern(user, tenant: Tenant) -> bool:
    """A compliance officer (or admin) granted this tenant."""
    return has_role(user, *ROLES_WITH[GOVERN]) and user.has_perm(GOVERN, tenant)


def can_audit(user, tenant: Tenant) -> bool:
    """An auditor, compliance officer or admin granted this tenant."""
    return has_role(user, *ROLES_WITH[AUDIT]) and user.has_perm(AUDIT, tenant)


class IsComplianceOfficer(BasePermission):
    message = "Only compliance officers may do this."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *ROLES_WITH[GOVERN])


class IsAuditor(BasePermission):
    """Auditors, compliance officers and admins: everyone who reads compliance records."""

    message = "Only auditors and compliance officers may see this."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *ROLES_WITH[AUDIT])


class AuditorsReadOfficersWrite(BasePermission):
    """Reads for everyone who reads compliance records; writes for compliance officers."""

    message = "Only compliance officers may change this."

    def has_permission(self, request, view) -> bool:
        permission = AUDIT if request.method in SAFE_METHODS else GOVERN
        return has_role(request.user, *ROLES_WITH[permission])
