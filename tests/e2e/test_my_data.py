"""A person downloads and erases their own data from the browser, with a real Chromium."""

import json

import pytest
from playwright.sync_api import expect

from compliance.models import ErasureRequest, RequestLog
from compliance.services.erasure import receipt_verify
from compliance.services.request_log import ERASED_SUBJECT
from portal.roles import Role
from tests.e2e.test_browser import GENERATION_TIMEOUT_MS, generate, log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def alice_with_history(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)
    log_in(page, asgi_server, "alice")
    page.goto(f"{asgi_server}/text/")
    generate(page, asgi_server, "Is the ward round at nine?", max_tokens=4)
    expect(page.locator("#status")).to_contain_text("Done", timeout=GENERATION_TIMEOUT_MS)
    page.goto(f"{asgi_server}/me/data/")
    return page


def test_the_export_downloads_the_persons_log_metadata(alice_with_history):
    page = alice_with_history
    with page.expect_download() as download:
        page.locator("#export-link").click()
    document = json.loads(open(download.value.path()).read())
    assert document["type"] == "custos.subject-export/1"
    assert len(document["stores"]["request_logs"]) == 1


def test_a_wrong_password_erases_nothing(alice_with_history):
    page = alice_with_history
    page.get_by_label("Your password, to confirm").fill("not my password")
    page.get_by_role("button", name="Delete my data").click()
    expect(page.locator(".alert")).to_contain_text("nothing was deleted")
    assert not ErasureRequest.objects.exists()


def test_erasure_completes_with_a_signed_receipt(alice_with_history):
    from tests.conftest import PASSWORD

    page = alice_with_history
    page.get_by_label("Your password, to confirm").fill(PASSWORD)
    page.get_by_role("button", name="Delete my data").click()
    expect(page.locator(".notice")).to_contain_text("being deleted")
    for _ in range(50):
        page.reload()
        if page.locator("#erasure-requests .badge.ok").count():
            break
        page.wait_for_timeout(100)
    expect(page.locator("#erasure-requests .badge")).to_have_text("completed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Signed receipt").click()
    assert receipt_verify(json.loads(open(download.value.path()).read()))
    assert RequestLog.objects.get().subject == ERASED_SUBJECT
