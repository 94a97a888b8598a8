"""The image and audio pages as a person uses them: a real Chromium against the live server.

Each page calls the real default models through the same doors as any client: classification,
transcription and speech detection through the native jobs API (session and CSRF), generation
over the /ws/images/ websocket. The audio page draws its pictures in the browser, so the
checks read the canvases' pixels back.
"""

import json
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from portal.roles import Role
from tests.e2e.test_browser import log_in

pytestmark = pytest.mark.e2e

SPEECH = "tests/data/audio/speech-en-16k.wav"
FINISHED = re.compile(r"^(Done|Refused|Failed|Partly|Connection)")
RESULT_TIMEOUT_MS = 30_000

# Reads a canvas back: its size, how many colours it holds, and how many of its pixels are the
# waveform's blue or the green tint of a speech segment over the plot's background.
CANVAS_PIXELS = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let wave = 0, speech = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (r === 31 && g === 95 && b === 191) { wave += 1; }
    if (g - r > 10 && g - b > 3 && r > 150) { speech += 1; }
  }
  return {width: canvas.width, height: canvas.height, pixels: data.length / 4,
          colours: colours.size, wave: wave, speech: speech};
}"""


@pytest.fixture
def signed_in(page, asgi_server, make_user) -> Page:
    make_user("alice", Role.END_USER)
    log_in(page, asgi_server, "alice")
    expect(page).to_have_url(f"{asgi_server}/")
    return page


@pytest.fixture
def picture(tmp_path):
    image = Image.new("RGB", (96, 64), (135, 181, 229))
    ImageDraw.Draw(image).polygon([(0, 64), (0, 40), (48, 20), (96, 44), (96, 64)], fill="green")
    path = tmp_path / "landscape.png"
    image.save(path)
    return path


def finished(page: Page) -> str:
    status = page.locator("#status")
    expect(status).to_have_text(FINISHED, timeout=RESULT_TIMEOUT_MS)
    return status.inner_text()


def test_classification_previews_the_image_then_shows_labels(signed_in, asgi_server, picture):
    page = signed_in
    page.goto(f"{asgi_server}/images/classify/")

    page.locator("#file").set_input_files(picture)

    preview = page.locator("#preview-image")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    expect(page.locator("#preview-caption")).to_contain_text("96×64 px")
    expect(page.locator("#labels li")).to_have_count(0)

    page.get_by_role("button", name="Classify").click()

    assert finished(page).startswith("Done")
    rows = page.locator("#labels li")
    expect(rows).to_have_count(5)  # the form's default top_k
    widths = rows.locator(".bar-fill").evaluate_all("els => els.map(e => e.style.width)")
    assert all(re.fullmatch(r"\d+(\.\d)?%", width) for width in widths)
    assert sum(float(width[:-1]) for width in widths) > 0
    expect(rows.first.locator(".bar-value")).to_have_text(re.compile(r"^\d+\.\d %$"))
    expect(page.locator("#model-note")).to_contain_text("tiny-vit has random weights")
    expect(page.locator("#error")).to_be_hidden()


def test_a_gif_named_png_is_refused_in_plain_words(signed_in, asgi_server, tmp_path):
    page = signed_in
    fake = tmp_path / "scan.png"
    Image.new("RGB", (8, 8), "red").save(fake, format="GIF")
    page.goto(f"{asgi_server}/images/classify/")

    page.locator("#file").set_input_files(fake)
    page.get_by_role("button", name="Classify").click()

    assert finished(page) == "Refused · unsupported_media_type"
    expect(page.get_by_role("alert")).to_have_text("The file is not a PNG, JPEG or WebP image.")
    expect(page.locator("#labels li")).to_have_count(0)
    expect(page.get_by_role("button", name="Classify")).to_be_enabled()


def test_generation_shows_every_step_then_the_images(signed_in, asgi_server):
    page = signed_in
    page.goto(f"{asgi_server}/images/generate/")
    progress: list[dict] = []

    def watch(socket) -> None:
        def received(payload: str) -> None:
            message = json.loads(payload)
            if message["type"] == "progress":
                progress.append(message)

        socket.on("framereceived", received)

    page.on("websocket", watch)

    page.locator("#prompt").fill("A lighthouse on a cliff")
    page.locator("#n").select_option("2")
    page.locator("#steps").fill("4")
    page.locator("#seed").fill("7")
    page.get_by_role("button", name="Generate").click()

    assert finished(page) == "Done · 2 images"
    expect(page.locator("#progress-label")).to_have_text("Step 4 of 4")
    assert page.locator("#progress").evaluate("p => [p.value, p.max]") == [4, 4]
    assert [(m["step"], m["total"]) for m in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    images = page.locator("#gallery img")
    expect(images).to_have_count(2)
    expect(images.first).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    natural, shown = images.first.evaluate("i => [i.naturalWidth, i.clientWidth]")
    assert natural == 32 and shown >= 4 * natural
    assert images.first.evaluate("i => getComputedStyle(i).imageRendering") == "pixelated"
    links = page.get_by_role("link", name="Download PNG")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("download", re.compile(r"\.png$"))


def test_audio_page_draws_the_recording_then_shows_transcript_and_segments(signed_in, asgi_server):
    page = signed_in
    page.goto(f"{asgi_server}/audio/")

    page.locator("#file").set_input_files(SPEECH)

    expect(page.locator("#plots")).to_be_visible()
    expect(page.locator("#audio-info")).to_contain_text("6.24 s")
    wave = page.evaluate(CANVAS_PIXELS, "waveform")
    spectrum = page.evaluate(CANVAS_PIXELS, "spectrogram")
    assert wave["width"] > 500 and wave["wave"] > wave["pixels"] // 50
    assert wave["speech"] == 0  # nothing is shaded before speech detection has run
    assert spectrum["width"] > 500 and spectrum["colours"] > 100

    page.get_by_role("button", name="Transcribe and detect speech").click()

    assert finished(page).startswith("Done")
    expect(page.locator("#transcript")).to_be_visible()
    expect(page.locator("#transcript")).not_to_be_empty()
    expect(page.locator("#model-note")).to_contain_text("tiny-whisper has random weights")
    rows = page.locator("#segments tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator("td").nth(1)).to_have_text(re.compile(r"^\d+\.\d\d s$"))
    expect(page.locator("#segments-summary")).to_contain_text("2 segments")
    assert page.evaluate(CANVAS_PIXELS, "waveform")["speech"] > wave["pixels"] // 10
    expect(page.locator("#error")).to_be_hidden()


def test_an_empty_recording_is_refused_in_plain_words(signed_in, asgi_server, tmp_path):
    page = signed_in
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    page.goto(f"{asgi_server}/audio/")

    page.locator("#file").set_input_files(empty)
    page.get_by_role("button", name="Transcribe and detect speech").click()

    assert finished(page) == "Refused · invalid_audio"
    expect(page.get_by_role("alert")).to_have_text("The audio file is empty.")
    expect(page.locator("#plots")).to_be_hidden()
    expect(page.locator("#segments tbody tr")).to_have_count(0)
    expect(page.locator("#transcript")).to_be_hidden()
