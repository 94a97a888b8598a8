"""The demo tenant with one account per role, for trying Custos out.

Passwords are random per installation and written once to var/demo-credentials.json
(mode 0600); a fixed demo password would be a backdoor on every server that ran this.
"""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction

from portal.models import Tenant, User
from portal.roles import Role
from portal.services.accounts import user_create

DEMO_ACCOUNTS = {
    "demo-user": Role.END_USER,
    "demo-api": Role.API_USER,
    "demo-auditor": Role.AUDITOR,
    "demo-officer": Role.COMPLIANCE_OFFICER,
    "demo-admin": Role.ADMIN,
}


def demo_credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


@transaction.atomic
def demo_seed() -> dict[str, dict] | None:
    """Create the demo tenant and accounts; their credentials, or None if they already exist."""
    tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo Hospital"})
    if User.objects.filter(username__in=DEMO_ACCOUNTS).exists():
        return None
    credentials = {}
    for username, role in DEMO_ACCOUNTS.items():
        password = secrets.token_urlsafe(12)
        user_create(username=username, password=password, tenant=tenant, role=role)
        credentials[username] = {"password": password, "role": str(role)}
    _write_private(demo_credentials_path(), json.dumps(credentials, indent=2) + "\n")
    return credentials


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)
