"""Take the screenshots of the portal that the documentation shows, from a running server.

Pictures of the UI go stale as soon as a template or the stylesheet changes; this script makes
them again in one command instead of by hand, always at the same size and with the same steps:
the login page, then, signed in as the seeded `demo-user`, the home page, the text page after
a finished generation, the user's history and the API docs (Swagger UI).

Usage (the server must be running, migrated and seeded with `manage.py seed_demo`):

    .venv/bin/python docs/screenshots.py [BASE_URL]     # default http://127.0.0.1:8000

The password comes from var/demo-credentials.json, written by seed_demo. There is no browser
download offline: the script drives the system's Chromium (/usr/bin/chromium, or $CUSTOS_CHROMIUM).
"""

import json
import re
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.chromium import chromium_launch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "screenshots"
CREDENTIALS = ROOT / "var" / "demo-credentials.json"
USERNAME = "demo-user"
PROMPT = "Summarise the discharge note in two sentences."
VIEWPORT = {"width": 1280, "height": 800}


def main(base_url: str) -> None:
    base_url = base_url.rstrip("/")
    password = json.loads(CREDENTIALS.read_text())[USERNAME]["password"]
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(30_000)
        page = context.new_page()

        page.goto(f"{base_url}/login/")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        shoot(page, "login")

        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        shoot(page, "home")

        page.goto(f"{base_url}/text/")
        page.locator("#model").select_option("tiny-chat")
        page.locator("#max-tokens").fill("12")
        page.locator("#temperature").fill("0")
        page.locator("#prompt").fill(PROMPT)
        page.get_by_role("button", name="Generate").click()
        expect(page.locator("#status")).to_have_text(re.compile(r"^(Done|Refused)"))
        if not page.locator("#status").inner_text().startswith("Done"):
            sys.exit(f"The generation was refused: {page.locator('#error').inner_text()}")
        shoot(page, "text")

        page.goto(f"{base_url}/history/")
        expect(page.get_by_role("heading", name="Your history")).to_be_visible()
        shoot(page, "history")

        page.goto(f"{base_url}/api/docs/")
        # Swagger UI renders client-side, after fetching the schema: wait for its operations.
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Custos API")
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
        shoot(page, "api-docs")

        browser.close()


def shoot(page, name: str) -> None:
    path = OUT_DIR / f"{name}.png"
    page.screenshot(path=path)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
