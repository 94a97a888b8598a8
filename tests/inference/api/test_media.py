"""Image generation and transcription through the official `openai` client; image
classification and speech detection as jobs; bad files refused before any model runs."""

import base64
import io
import json
import time
import uuid
from pathlib import Path

import openai
import pytest
from PIL import Image

from compliance.models import RequestLog
from inference.models import Job
from tests.conftest import raw_request

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"


@pytest.fixture
def client(asgi_server, api_token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_token, max_retries=0)


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand, so tests control every byte of the file part."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    for name, (filename, content_type, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_job(asgi_server, token: str, fields: dict, files: dict):
    body, content_type = multipart(fields, files)
    return raw_request(
        asgi_server,
        "POST",
        "/api/v1/jobs/",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )


def wait_job(asgi_server, token: str, job_id: str) -> dict:
    for _ in range(400):
        job = raw_request(
            asgi_server,
            "GET",
            f"/api/v1/jobs/{job_id}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def png_bytes(size=(48, 40), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_are_generated_as_png_and_logged_with_their_measures(client):
    result = client.images.generate(
        model="tiny-sd",
        prompt="A lighthouse at dusk",
        n=2,
        size="32x32",
        response_format="b64_json",
    )
    images = [Image.open(io.BytesIO(base64.b64decode(item.b64_json))) for item in result.data]
    assert [(image.format, image.size) for image in images] == [("PNG", (32, 32))] * 2
    row = RequestLog.objects.get(endpoint="/v1/images/generations")
    assert (row.modality, row.pixels, row.denoising_steps) == ("image", 2 * 32 * 32, 4)


def test_media_responses_say_where_the_data_was_served(client):
    raw = client.images.with_raw_response.generate(model="tiny-sd", prompt="A lighthouse")
    assert raw.headers["x-data-region"] == "local" and len(raw.headers["x-request-id"]) == 32


def test_a_seed_makes_the_same_image(client):
    ask = dict(model="tiny-sd", prompt="A lighthouse", size="32x32", extra_body={"seed": 3})
    first = client.images.generate(**ask).data[0].b64_json
    assert client.images.generate(**ask).data[0].b64_json == first


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"size": "1024x1024"}, "size"),
        ({"response_format": "url"}, "response_format"),
        ({"n": 9}, "n"),
    ],
)
def test_image_parameters_the_model_cannot_honour_are_refused(client, model_calls, extra, param):
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="tiny-sd", prompt="A lighthouse", **extra)
    assert raised.value.code == "invalid_request" and raised.value.param == param
    assert model_calls() == 0


@pytest.mark.parametrize(
    "name",
    ["speech-en-16k.wav", "speech-en-16k.flac", "speech-en-16k.ogg", "speech-en-44k-stereo.mp3"],
)
def test_transcription_reads_each_format(client, name):
    with open(AUDIO / name, "rb") as file:
        result = client.audio.transcriptions.create(model="tiny-whisper", file=file)
    assert isinstance(result.text, str)
    row = RequestLog.objects.get(endpoint="/v1/audio/transcriptions")
    assert row.modality == "audio" and 5.5 < row.audio_seconds < 6.5


def test_transcription_as_text_and_verbose_json(client):
    with open(AUDIO / "speech-en-16k.wav", "rb") as file:
        text = client.audio.transcriptions.create(
            model="tiny-whisper", file=file, response_format="text"
        )
    assert isinstance(text, str)
    with open(AUDIO / "speech-en-16k.wav", "rb") as file:
        verbose = client.audio.transcriptions.create(
            model="tiny-whisper", file=file, response_format="verbose_json"
        )
    assert 5.5 < verbose.duration < 6.5


def test_an_mp3_named_wav_is_refused_before_any_model(client, model_calls):
    data = (AUDIO / "speech-en-44k-stereo.mp3").read_bytes()
    with pytest.raises(openai.APIStatusError) as raised:
        client.audio.transcriptions.create(
            model="tiny-whisper", file=("speech.wav", data, "audio/wav")
        )
    assert raised.value.status_code == 415 and raised.value.code == "unsupported_media_type"
    assert model_calls() == 0
    assert list(RequestLog.objects.values_list("error_code", flat=True)) == [
        "unsupported_media_type"
    ]


def test_an_empty_wav_is_invalid_audio(client, model_calls):
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.transcriptions.create(model="tiny-whisper", file=("a.wav", b"", "audio/wav"))
    assert raised.value.code == "invalid_audio" and model_calls() == 0


def test_image_classification_job_gives_top_labels(asgi_server, api_token):
    created = post_job(
        asgi_server,
        api_token,
        {"task": "image-classification", "model": "tiny-vit", "top_k": 3},
        {"file": ("scan.png", "image/png", png_bytes())},
    )
    assert created.status == 202, created.body
    job = wait_job(asgi_server, api_token, created.json()["id"])
    labels = job["result"]["labels"]
    assert job["status"] == "succeeded" and len(labels) == 3
    scores = [label["score"] for label in labels]
    assert scores == sorted(scores, reverse=True)
    row = RequestLog.objects.get(endpoint="/api/v1/jobs/", status_code=200)
    assert row.pixels == 48 * 40


def test_speech_detection_job_finds_the_two_sentences(asgi_server, api_token):
    data = (AUDIO / "speech-en-16k.wav").read_bytes()
    created = post_job(
        asgi_server,
        api_token,
        {"task": "speech-detection", "model": "silero-vad"},
        {"file": ("speech.wav", "audio/wav", data)},
    )
    job = wait_job(asgi_server, api_token, created.json()["id"])
    segments = job["result"]["segments"]
    assert len(segments) == 2
    assert segments[0]["start_s"] < 0.5 and 2.5 < segments[0]["end_s"] < 3.5
    assert 3.0 < segments[1]["start_s"] < 4.0


def test_a_gif_named_png_is_never_stored_as_a_job(asgi_server, api_token, model_calls):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    response = post_job(
        asgi_server,
        api_token,
        {"task": "image-classification", "model": "tiny-vit"},
        {"file": ("scan.png", "image/png", buffer.getvalue())},
    )
    assert response.status == 415 and response.error_code == "unsupported_media_type"
    assert not Job.objects.exists() and model_calls() == 0
    assert json.dumps(list(RequestLog.objects.values_list("error_code", flat=True))) == (
        '["unsupported_media_type"]'
    )


def _bad_files() -> dict:
    """The bad files of the image and audio issue, each with the task it is sent to and the
    code it must get. (FLAC stores integers only, so NaN samples travel in a float WAV.)"""
    import numpy as np

    from tests.malformed import encoded, pcm_wav, png_claiming, written

    good_png = png_bytes()
    nan = np.zeros(1600, dtype=np.float32)
    nan[100] = np.nan
    return {
        "truncated PNG": ("image-classification", "image/png", good_png[:60], "invalid_image"),
        "30,000 x 30,000 PNG header": (
            "image-classification",
            "image/png",
            png_claiming(30_000, 30_000),
            "image_too_large",
        ),
        "GIF named .png": (
            "image-classification",
            "image/png",
            encoded(Image.new("RGB", (8, 8)), "GIF"),
            "unsupported_media_type",
        ),
        "HTML named .jpg": (
            "image-classification",
            "image/jpeg",
            b"<!doctype html><p>hi</p>",
            "unsupported_media_type",
        ),
        "zero-length WAV": (
            "transcription",
            "audio/wav",
            pcm_wav(claimed_bytes=0, pcm=b""),
            "invalid_audio",
        ),
        "WAV claiming ten hours": (
            "transcription",
            "audio/wav",
            pcm_wav(claimed_bytes=10 * 3600 * 32_000, pcm=b"\x00\x00" * 1600),
            "audio_too_long",
        ),
        "NaN samples": (
            "speech-detection",
            "audio/wav",
            written(nan, subtype="FLOAT"),
            "invalid_audio",
        ),
        "MP3 named .wav": (
            "speech-detection",
            "audio/wav",
            (AUDIO / "speech-en-44k-stereo.mp3").read_bytes(),
            "unsupported_media_type",
        ),
    }


MODEL_OF_TASK = {
    "image-classification": "tiny-vit",
    "transcription": "tiny-whisper",
    "speech-detection": "silero-vad",
}


@pytest.mark.parametrize("case", list(_bad_files()))
def test_each_bad_file_gets_its_code_reaches_no_model_and_stores_only_a_log_row(
    case, asgi_server, api_token, model_calls
):
    task, content_type, data, code = _bad_files()[case]
    response = post_job(
        asgi_server,
        api_token,
        {"task": task, "model": MODEL_OF_TASK[task]},
        {"file": ("upload", content_type, data)},
    )
    assert response.error_code == code, response.body
    assert model_calls() == 0 and not Job.objects.exists()
    rows = list(RequestLog.objects.values_list("status_code", "error_code"))
    assert rows == [(response.status, code)]
