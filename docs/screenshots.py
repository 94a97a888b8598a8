"""Take the screenshots of the portal that the documentation shows, from a running server.

Pictures of the UI go stale as soon as a template or the stylesheet changes; this script makes
them again in one command instead of by hand, always at the same size and with the same steps:
the login page, then, signed in as the seeded `demo-user`, the home page, the text page after
a finished generation, the image classification page with a picture's labels, the image
generation page after a finished generation, the audio page with the results for a real speech
recording (tests/data/audio/speech-en-16k.wav), the user's history, *My data* after the user
erased their data (so run it on a demo server) and the API docs (Swagger UI).

Usage (the server must be running, migrated and seeded with `manage.py seed_demo`):

    .venv/bin/python docs/screenshots.py [BASE_URL]     # default http://127.0.0.1:8000

The password comes from var/demo-credentials.json, written by seed_demo. There is no browser
download offline: the script drives the system's Chromium (/usr/bin/chromium, or $CUSTOS_CHROMIUM).
"""

import json
import re
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.chromium import chromium_launch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "screenshots"
CREDENTIALS = ROOT / "var" / "demo-credentials.json"
USERNAME = "demo-user"
PROMPT = "Summarise the discharge note in two sentences."
IMAGE_PROMPT = "A quiet harbour at dawn, in watercolour"
SPEECH = ROOT / "tests" / "data" / "audio" / "speech-en-16k.wav"
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

        with tempfile.TemporaryDirectory() as folder:
            picture = sample_picture(Path(folder) / "harbour.png")
            page.goto(f"{base_url}/images/classify/")
            page.locator("#file").set_input_files(picture)
            expect(page.locator("#preview-image")).to_be_visible()
            page.get_by_role("button", name="Classify").click()
            expect_done(page)
            expect(page.locator("#labels li").first).to_be_visible()
            shoot(page, "classify")

        page.goto(f"{base_url}/images/generate/")
        page.locator("#prompt").fill(IMAGE_PROMPT)
        page.locator("#n").select_option("4")
        page.locator("#seed").fill("7")
        page.get_by_role("button", name="Generate").click()
        expect_done(page)
        expect(page.locator("#progress-label")).to_have_text("Step 4 of 4")
        expect(page.locator("#gallery img")).to_have_count(4)
        shoot(page, "generate", full_page=True)

        page.goto(f"{base_url}/audio/")
        page.locator("#file").set_input_files(SPEECH)
        expect(page.locator("#plots")).to_be_visible()
        page.get_by_role("button", name="Transcribe and detect speech").click()
        expect_done(page)
        expect(page.locator("#segments tbody tr").first).to_be_visible()
        shoot(page, "audio", full_page=True)

        page.goto(f"{base_url}/history/")
        expect(page.get_by_role("heading", name="Your history")).to_be_visible()
        shoot(page, "history")

        page.goto(f"{base_url}/me/data/")
        page.get_by_label("Your password, to confirm").fill(password)
        page.get_by_role("button", name="Delete my data").click()
        for _ in range(100):  # the erasure runs in the background: reload until it is done
            if page.locator("#erasure-requests .badge.ok").count():
                break
            page.wait_for_timeout(100)
            page.reload()
        expect(page.locator("#erasure-requests .badge").first).to_have_text("completed")
        shoot(page, "my-data")

        page.goto(f"{base_url}/api/docs/")
        # Swagger UI renders client-side, after fetching the schema: wait for its operations.
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Custos API")
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
        shoot(page, "api-docs")

        browser.close()


def expect_done(page) -> None:
    """Wait for a media page's status line to end; stop with its error if it was not Done."""
    status = page.locator("#status")
    expect(status).to_have_text(re.compile(r"^(Done|Refused|Failed|Partly|Connection)"))
    if not status.inner_text().startswith("Done"):
        sys.exit(f"{page.url}: {status.inner_text()}: {page.locator('#error').inner_text()}")


def sample_picture(path: Path) -> Path:
    """A small drawn landscape to classify (the repository keeps no photographs)."""
    image = Image.new("RGB", (640, 420))
    draw = ImageDraw.Draw(image)
    for y in range(420):  # the sky, from deep blue down to a warm horizon
        t = y / 419
        draw.line(
            [(0, y), (640, y)], fill=(int(40 + 210 * t), int(90 + 120 * t), int(170 + 20 * t))
        )
    draw.ellipse((440, 70, 540, 170), fill=(255, 214, 102))
    draw.polygon(
        [(0, 420), (0, 270), (170, 190), (330, 280), (470, 215), (640, 290), (640, 420)],
        fill=(61, 122, 74),
    )
    draw.polygon([(0, 420), (0, 340), (260, 300), (640, 360), (640, 420)], fill=(38, 92, 56))
    image.save(path)
    return path


def shoot(page, name: str, *, full_page: bool = False) -> None:
    path = OUT_DIR / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
