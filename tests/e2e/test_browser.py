"""The portal as a person uses it: a real Chromium against a real uvicorn serving the app.

Each test logs in through the login form, so it covers the session cookie, CSRF, the strict CSP
(static scripts only) and, on the text page, the websocket that streams tokens.
"""

import json
import re

import pytest
from playwright.sync_api import Page, expect

from portal.roles import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

# Seconds are plenty for the tiny CPU model; the cap only keeps a hang from stalling CI.
GENERATION_TIMEOUT_MS = 30_000


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def generate(page: Page, base_url: str, prompt: str, *, max_tokens: int) -> None:
    """Fill the text page's form and press Generate (the page must be the text page)."""
    page.locator("#model").select_option("tiny-chat")
    page.locator("#max-tokens").fill(str(max_tokens))
    page.locator("#temperature").fill("0")
    page.locator("#prompt").fill(prompt)
    page.get_by_role("button", name="Generate").click()


def test_login_with_the_right_password_lands_on_home(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)

    log_in(page, asgi_server, "alice")

    expect(page).to_have_url(f"{asgi_server}/")
    expect(page.locator("h1")).to_have_text("Welcome, alice")
    expect(page.locator(".topbar .who")).to_contain_text("alice")


def test_login_with_a_wrong_password_shows_an_error(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)

    log_in(page, asgi_server, "alice", password="not the password")

    expect(page).to_have_url(f"{asgi_server}/login/")
    expect(page.get_by_role("alert")).to_have_text(
        "Your username and password did not match. Please try again."
    )
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_text_page_streams_a_generation_over_the_websocket(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)
    log_in(page, asgi_server, "alice")
    page.goto(f"{asgi_server}/text/")
    sockets: list[str] = []
    messages: list[dict] = []

    def watch(socket) -> None:
        sockets.append(socket.url)
        socket.on("framereceived", lambda payload: messages.append(json.loads(payload)))

    page.on("websocket", watch)

    generate(page, asgi_server, "Write one short sentence about the sea.", max_tokens=24)

    status = page.locator("#status")
    expect(status).to_have_text(re.compile(r"^Done"), timeout=GENERATION_TIMEOUT_MS)
    expect(status).to_have_text(re.compile(r"^Done · \d+ tokens · (length|stop)$"))
    assert sockets == [asgi_server.replace("http://", "ws://") + "/ws/text/"]
    streamed = "".join(m["text"] for m in messages if m["type"] == "token")
    # The default tiny-chat has random weights (greedy decoding may give only newlines), so the
    # check is that the page shows exactly what arrived, token by token, and not nothing.
    assert [m["type"] for m in messages][0] == "start"
    assert [m["type"] for m in messages][-1] == "done"
    assert len([m for m in messages if m["type"] == "token"]) > 1
    assert streamed
    assert page.locator("#output").text_content() == streamed
    expect(page.locator("#error")).to_be_hidden()
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()


def test_a_refusal_is_shown_in_plain_words(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)
    log_in(page, asgi_server, "alice")
    page.goto(f"{asgi_server}/text/")

    # The form allows at most 512, the model's whole context: with any prompt it cannot fit.
    generate(page, asgi_server, "Hello there.", max_tokens=512)

    expect(page.locator("#status")).to_have_text(
        "Refused · context_length_exceeded", timeout=GENERATION_TIMEOUT_MS
    )
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("This model's context is 512 tokens")
    expect(page.locator("#output")).to_be_empty()
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()


def test_history_shows_the_request_without_its_prompt(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)
    log_in(page, asgi_server, "alice")
    page.goto(f"{asgi_server}/text/")
    prompt = "Tell me about the lighthouse keeper Quillon Marsh."
    generate(page, asgi_server, prompt, max_tokens=8)
    done = re.compile(r"^Done")
    expect(page.locator("#status")).to_have_text(done, timeout=GENERATION_TIMEOUT_MS)
    output = page.locator("#output").text_content().strip()

    page.goto(f"{asgi_server}/history/")

    rows = page.locator("#request-history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(1)).to_have_text("ws/text")
    expect(rows.first.locator("td").nth(2)).to_have_text("tiny-chat")
    expect(rows.first.locator("td").nth(3)).to_have_text("200")
    html = page.content()
    assert "Quillon" not in html
    assert not output or output not in html


def test_log_out_returns_to_login_and_closes_the_session(page, asgi_server, make_user):
    make_user("alice", Role.END_USER)
    log_in(page, asgi_server, "alice")
    expect(page).to_have_url(f"{asgi_server}/")

    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(f"{asgi_server}/login/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto(f"{asgi_server}/text/")
    expect(page).to_have_url(f"{asgi_server}/login/?next=/text/")


def test_an_auditor_may_not_open_the_text_page(page, asgi_server, make_user):
    make_user("audrey", Role.AUDITOR)
    log_in(page, asgi_server, "audrey")
    expect(page).to_have_url(f"{asgi_server}/")

    response = page.goto(f"{asgi_server}/text/")

    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.locator("#text-form")).to_have_count(0)
