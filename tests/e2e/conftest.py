"""A real Chromium for the browser tests, driven through Playwright's sync API.

There is no browser download here (no network): the tests use the system's Chromium and fail,
not skip, when it is missing, so CI can never pass by running none of them.

Playwright's sync API keeps its own asyncio loop marked as running in the test's thread for as
long as the browser is open, and Django then refuses every ORM call from that thread (fixtures
creating users, the transactional flush) as "async unsafe". Nothing async really runs there
while a test does, so the browser fixture allows it, for this module only: the browser is
module-scoped, the test database is created before it starts, and both the loop and the
permission end when the module's tests are done.
"""

import pytest

from tests.e2e.chromium import CHROMIUM, chromium_launch


@pytest.fixture(scope="module")
def browser(django_db_setup):
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set "
            "CUSTOS_CHROMIUM to its path); `playwright install` cannot download one offline.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = chromium_launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh context (no cookies) and page per test; fails fast instead of hanging."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
