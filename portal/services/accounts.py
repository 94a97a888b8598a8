"""Writes on tenants, accounts and API tokens."""

from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm
from knox.models import AuthToken

from portal.models import Tenant, User
from portal.roles import Role

# What a console role may do on its own tenant; other tenants are granted in the console.
TENANT_PERMISSIONS_OF_ROLE = {
    Role.AUDITOR: ("portal.audit_tenant",),
    Role.COMPLIANCE_OFFICER: ("portal.audit_tenant", "portal.govern_tenant"),
}


def roles_ensure() -> None:
    """Create the role groups that are missing."""
    for role in Role:
        Group.objects.get_or_create(name=str(role))


@transaction.atomic
def user_create(*, username: str, password: str, tenant: Tenant, role: Role) -> User:
    roles_ensure()
    is_admin = role == Role.ADMIN
    user = User.objects.create_user(
        username=username,
        password=password,
        tenant=tenant,
        is_staff=is_admin,
        is_superuser=is_admin,
    )
    user.groups.add(Group.objects.get(name=str(role)))
    for permission in TENANT_PERMISSIONS_OF_ROLE.get(role, ()):
        assign_perm(permission, user, tenant)
    return user


def token_issue(*, user: User, expires_days: int | None = None) -> str:
    """A new API token; only its digest is stored, so this is the one chance to read it."""
    expiry = timedelta(days=expires_days) if expires_days else None
    _, token = AuthToken.objects.create(user=user, expiry=expiry)
    return token


def token_revoke(*, user: User, token_key: str | None = None) -> int:
    """Revoke one token (by the prefix `token_key` shown at issue) or all of the user's tokens."""
    tokens = AuthToken.objects.filter(user=user)
    if token_key:
        tokens = tokens.filter(token_key=token_key)
    count, _ = tokens.delete()
    return count
