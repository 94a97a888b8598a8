import io

import pytest
from django.core.management import CommandError, call_command
from knox.models import AuthToken


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_issue_token_prints_a_working_token_once(api_user):
    token = run("issue_token", api_user.username, "--expires-days", "2")
    stored = AuthToken.objects.get(user=api_user)
    assert stored.token_key == token[:15] and stored.expiry is not None


def test_issue_token_refuses_unknown_users_and_bad_expiry(api_user):
    with pytest.raises(CommandError):
        run("issue_token", "nobody")
    with pytest.raises(CommandError):
        run("issue_token", api_user.username, "--expires-days", "0")


def test_revoke_token(api_user, api_token):
    assert run("revoke_token", api_user.username, "--key", api_token[:15]) == "Revoked 1 token(s)."
    assert not AuthToken.objects.exists()


def test_seed_demo_prints_credentials_only_the_first_time(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first = run("seed_demo")
    assert "demo-officer" in first and "compliance officer" in first
    assert "exist" in run("seed_demo")


def test_prepare_sets_everything_up_and_is_idempotent(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.STATIC_ROOT = tmp_path / "static"
    first = run("prepare")
    assert "tiny-chat: built" in first and "demo-user" in first
    assert (tmp_path / "static" / "portal" / "app.css").exists()
    second = run("prepare")
    assert "tiny-chat: present" in second and "exist" in second
