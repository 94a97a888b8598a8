"""Subject rights over the live API: erasure across text, image and audio with the archive
and the cache on, export, and the receipt's public key."""

import io
import json
import time
from pathlib import Path

import openai
import pytest
from PIL import Image

from compliance.models import ArchiveEntry, CacheEntry, ErasureRequest, RequestLog
from compliance.services.erasure import receipt_verify
from compliance.services.policy import tenant_policy_update
from compliance.services.request_log import ERASED_SUBJECT
from compliance.services.subjects import subject_pseudonym_find, subject_reference
from compliance.stores import store_list
from inference.models import Job
from tests.conftest import raw_request
from tests.inference.api.test_media import post_job, wait_job

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio" / "speech-en-16k.wav"
PATIENT = "patient-9"


@pytest.fixture
def keeping(tenant):
    return tenant_policy_update(
        actor_id=None,
        tenant_id=tenant.id,
        changes={"cache_models": ["*"], "archive_enabled": True},
    )


def _auth(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def _post(asgi_server, token, path, body: dict):
    return raw_request(
        asgi_server,
        "POST",
        path,
        body=json.dumps(body).encode(),
        headers=_auth(token, **{"Content-Type": "application/json"}),
    )


def _wait_erasure(asgi_server, token, erasure_id) -> dict:
    for _ in range(400):
        state = raw_request(
            asgi_server, "GET", f"/api/v1/me/erasure/{erasure_id}", headers=_auth(token)
        ).json()
        if state["status"] in ("completed", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError("erasure did not finish")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _use_every_modality(asgi_server, token):
    """Text (chat, archived and cached), a text job, an image and an audio job, for PATIENT."""
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=token, max_retries=0)
    for _ in range(2):  # a miss, then a hit
        client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": "The scan of the left knee"}],
            max_tokens=4,
            temperature=0,
            user=PATIENT,
        )
    text_job = _post(
        asgi_server,
        token,
        "/api/v1/jobs/",
        {
            "task": "text-generation",
            "model": "tiny-chat",
            "input": {"prompt": "Hi", "user": PATIENT},
        },
    )
    image_job = post_job(
        asgi_server,
        token,
        {"task": "image-classification", "model": "tiny-vit", "user": PATIENT},
        {"file": ("knee.png", "image/png", _png())},
    )
    audio_job = post_job(
        asgi_server,
        token,
        {"task": "transcription", "model": "tiny-whisper", "user": PATIENT},
        {"file": ("note.wav", "audio/wav", AUDIO.read_bytes())},
    )
    for created in (text_job, image_job, audio_job):
        assert wait_job(asgi_server, token, created.json()["id"])["status"] == "succeeded"


def test_erasure_across_every_modality_leaves_nothing(asgi_server, api_user, api_token, keeping):
    _use_every_modality(asgi_server, api_token)
    reference = subject_reference(user_id=api_user.id, end_user=PATIENT)
    subject = subject_pseudonym_find(tenant_id=api_user.tenant_id, reference=reference)
    assert Job.objects.filter(subject=subject).count() == 3
    assert ArchiveEntry.objects.filter(subject=subject).count() == 5
    assert CacheEntry.objects.filter(subject=subject).exists()

    created = _post(asgi_server, api_token, "/api/v1/me/erasure", {"user": PATIENT})
    assert created.status == 202 and created.headers["location"].endswith(created.json()["id"])
    state = _wait_erasure(asgi_server, api_token, created.json()["id"])

    assert state["status"] == "completed"
    assert {store.name: store.count(subject) for store in store_list()} == {
        store.name: 0 for store in store_list()
    }
    assert subject_pseudonym_find(tenant_id=api_user.tenant_id, reference=reference) is None
    assert RequestLog.objects.filter(subject=ERASED_SUBJECT).count() >= 5
    assert receipt_verify(state["receipt"])
    assert state["receipt"]["receipt"]["stores"]


def test_erasing_an_end_user_leaves_the_accounts_own_data(asgi_server, api_user, api_token):
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_token, max_retries=0)
    client.completions.create(model="tiny-chat", prompt="own", max_tokens=2)
    client.completions.create(model="tiny-chat", prompt="theirs", max_tokens=2, user=PATIENT)
    created = _post(asgi_server, api_token, "/api/v1/me/erasure", {"user": PATIENT})
    _wait_erasure(asgi_server, api_token, created.json()["id"])
    own = subject_pseudonym_find(
        tenant_id=api_user.tenant_id, reference=subject_reference(user_id=api_user.id)
    )
    assert RequestLog.objects.filter(subject=own).count() == 1


def test_someone_elses_erasure_request_is_not_found(asgi_server, make_user, api_token):
    other = make_user("bob")
    erasure = ErasureRequest.objects.create(
        tenant=other.tenant,
        subject="x" * 32,
        channel="self",
        requested_by_id=other.id,
        received_at="2026-01-01T00:00:00Z",
        deadline_at="2026-01-31T00:00:00Z",
    )
    response = raw_request(
        asgi_server, "GET", f"/api/v1/me/erasure/{erasure.id}", headers=_auth(api_token)
    )
    assert response.status == 404 and response.error_code == "not_found"


def test_export_holds_jobs_archive_and_log_metadata(asgi_server, api_token, keeping):
    _use_every_modality(asgi_server, api_token)
    response = raw_request(
        asgi_server, "GET", f"/api/v1/me/export?user={PATIENT}", headers=_auth(api_token)
    )
    document = response.json()
    assert response.status == 200 and "attachment" in response.headers["content-disposition"]
    assert document["type"] == "custos.subject-export/1"
    stores = document["stores"]
    assert {job["task"] for job in stores["jobs"]} == {
        "text-generation",
        "image-classification",
        "transcription",
    }
    assert all(job["result"] is not None for job in stores["jobs"])
    prompts = [entry["exchange"]["input"].get("messages") for entry in stores["archive"]]
    assert [{"role": "user", "content": "The scan of the left knee"}] in prompts
    assert len(stores["request_logs"]) == 5
    assert "prompt" not in stores["request_logs"][0]


def test_the_public_key_is_served_to_anyone(asgi_server):
    response = raw_request(asgi_server, "GET", "/api/v1/receipts/public-key")
    assert response.status == 200
    assert response.json()["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
