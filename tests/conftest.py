"""Shared fixtures: the default models, tenants and accounts, tokens, and a live ASGI server.

The live server is a real uvicorn on a free loopback port, serving the real application in a
thread of the test process, so tests can talk to it over HTTP and read the database it wrote.
"""

import http.client
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

from compliance.services.subjects import subject_pseudonyms_forget
from inference.pipeline.engine import steps_run_total
from portal.models import Tenant
from portal.roles import Role
from portal.services.accounts import token_issue, user_create

PASSWORD = "correct horse battery staple"


def _test_db_path() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / f"test-{os.getpid()}.sqlite3"


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database file of this run's own, so concurrent test runs never share one."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    if default["ENGINE"].endswith("sqlite3"):
        default.setdefault("TEST", {})["NAME"] = str(_test_db_path())


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run where CUDA is; elsewhere they are deselected (listed as such), so a
    CPU run reports exactly what it ran and skips nothing."""
    import torch

    if torch.cuda.is_available():
        return
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]


def pytest_unconfigure(config):
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{_test_db_path()}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def default_models(django_db_blocker):
    """Build the default models once (a no-op when var/models already holds them)."""
    with django_db_blocker.unblock():
        call_command("build_default_models", verbosity=0)


@pytest.fixture(autouse=True)
def _forget_pseudonyms():
    """Each test starts with an empty database, so with no remembered pseudonym either."""
    subject_pseudonyms_forget()


@pytest.fixture
def tenant(db) -> Tenant:
    return Tenant.objects.create(slug="acme", name="Acme Clinic")


@pytest.fixture
def make_user(tenant):
    def make(username: str = "alice", role: Role = Role.END_USER, tenant_: Tenant | None = None):
        return user_create(
            username=username, password=PASSWORD, tenant=tenant_ or tenant, role=role
        )

    return make


@pytest.fixture
def api_user(make_user):
    return make_user("api-alice", Role.API_USER)


@pytest.fixture
def api_token(api_user) -> str:
    return token_issue(user=api_user)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def asgi_server_url() -> str:
    """A real uvicorn serving portal.asgi on a free port, for the whole session."""
    import uvicorn

    from portal.asgi import application

    port = _free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "live server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def asgi_server(asgi_server_url, transactional_db) -> str:
    """The live server, with a database that its threads can see."""
    return asgi_server_url


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        return self.json()["error"]["code"]


def raw_request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> RawResponse:
    """An HTTP request with exactly these bytes: no client-side encoding or validation."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return RawResponse(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


@pytest.fixture
def model_calls():
    """Counts model steps run since the fixture was created."""
    start = steps_run_total()
    return lambda: steps_run_total() - start
