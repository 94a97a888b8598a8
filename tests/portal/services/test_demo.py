import json
import stat

from portal.models import User
from portal.services.demo import DEMO_ACCOUNTS, demo_seed


def test_seed_creates_one_account_per_role_and_a_private_credentials_file(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    credentials = demo_seed()
    assert set(credentials) == set(DEMO_ACCOUNTS)
    path = tmp_path / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == credentials
    for username, entry in credentials.items():
        user = User.objects.get(username=username)
        assert user.tenant.slug == "demo" and user.check_password(entry["password"])
        assert user.groups.get().name == entry["role"]


def test_seed_is_idempotent_and_shows_passwords_once(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo_seed()
    assert demo_seed() is None
    assert User.objects.filter(username__startswith="demo-").count() == len(DEMO_ACCOUNTS)
