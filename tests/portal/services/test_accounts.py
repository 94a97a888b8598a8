from datetime import timedelta

from django.contrib.auth.models import Group
from django.utils import timezone
from knox.models import AuthToken

from portal.roles import Role
from portal.services.accounts import roles_ensure, token_issue, token_revoke, user_create


def test_roles_are_groups(db):
    roles_ensure()
    assert set(Group.objects.values_list("name", flat=True)) == {str(role) for role in Role}


def test_user_gets_its_tenant_and_role(tenant):
    user = user_create(username="u", password="pw-long-enough", tenant=tenant, role=Role.AUDITOR)
    assert user.tenant == tenant
    assert list(user.groups.values_list("name", flat=True)) == ["auditor"]
    assert not user.is_staff


def test_admin_role_can_use_the_django_admin(tenant):
    admin = user_create(username="a", password="pw-long-enough", tenant=tenant, role=Role.ADMIN)
    assert admin.is_staff and admin.is_superuser


def test_token_is_stored_only_as_a_digest(api_user):
    token = token_issue(user=api_user)
    stored = AuthToken.objects.get(user=api_user)
    assert token.startswith("cus_")
    assert token not in stored.digest and stored.digest != token
    assert stored.token_key == token[:15] and stored.expiry is None


def test_token_expiry_is_optional_per_token(api_user):
    token_issue(user=api_user, expires_days=3)
    expiry = AuthToken.objects.get(user=api_user).expiry
    assert timedelta(days=2, hours=23) < expiry - timezone.now() <= timedelta(days=3)


def test_revoking_one_token_keeps_the_others(api_user):
    first, second = token_issue(user=api_user), token_issue(user=api_user)
    assert token_revoke(user=api_user, token_key=first[:15]) == 1
    assert list(AuthToken.objects.values_list("token_key", flat=True)) == [second[:15]]
    assert token_revoke(user=api_user) == 1
