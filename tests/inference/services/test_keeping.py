"""Stages 4-5 through the real API: the output cache, the archive, residency and zero
retention, driven by the official `openai` client against a live server."""

import io
import json
import uuid
from pathlib import Path

import numpy as np
import openai
import pytest
import soundfile
from django.conf import settings

from compliance.models import ArchiveEntry, CacheEntry, ContentRule, RequestLog
from compliance.services.archive import archive_export
from compliance.services.policy import tenant_policy_update
from inference.models import Job
from tests.conftest import raw_request
from tests.inference.api.test_media import multipart, wait_job

PROMPT = "Summarise the discharge letter for the ward round."
CHAT = {"model": "tiny-chat", "max_tokens": 16}


@pytest.fixture
def client(asgi_server, api_token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_token, max_retries=0)


@pytest.fixture
def caching(tenant):
    return tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"cache_models": ["*"]})


@pytest.fixture
def archiving(tenant):
    return tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"archive_enabled": True}
    )


def chat(client, content=PROMPT, **fields):
    raw = client.chat.completions.with_raw_response.create(
        messages=[{"role": "user", "content": content}], **{**CHAT, **fields}
    )
    return raw.headers["x-cache"], raw.parse()


def test_a_repeated_greedy_request_is_answered_from_the_cache(client, caching, model_calls):
    first_outcome, first = chat(client, temperature=0)
    steps = model_calls()
    second_outcome, second = chat(client, temperature=0)
    assert (first_outcome, second_outcome) == ("miss", "hit")
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage == first.usage
    assert model_calls() == steps  # the hit never reached the pool
    assert list(RequestLog.objects.order_by("created_at").values_list("cache", flat=True)) == [
        "miss",
        "hit",
    ]


def test_a_hit_streams_the_same_text(client, caching):
    _, whole = chat(client, temperature=0)
    stream = client.chat.completions.create(
        messages=[{"role": "user", "content": PROMPT}], temperature=0, stream=True, **CHAT
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == whole.choices[0].message.content


def test_a_seed_makes_sampling_cacheable(client, caching):
    assert chat(client, temperature=1.0, seed=3)[0] == "miss"
    assert chat(client, temperature=1.0, seed=3)[0] == "hit"
    assert chat(client, temperature=1.0, seed=4)[0] == "miss"


def test_sampling_without_a_seed_bypasses_the_cache(client, caching):
    assert chat(client, temperature=1.0)[0] == "bypass"
    assert not CacheEntry.objects.exists()


def test_store_false_bypasses_the_cache(client, caching):
    assert chat(client, temperature=0, store=False)[0] == "bypass"


def test_a_tenant_that_caches_nothing_bypasses(client):
    assert chat(client, temperature=0)[0] == "bypass"


def test_personal_data_in_the_prompt_is_served_but_never_kept(client, caching, archiving):
    outcome, reply = chat(client, "Write to jan.jansen@example.org about the scan", temperature=0)
    assert outcome == "bypass" and reply.choices[0].message.content is not None
    assert not CacheEntry.objects.exists() and not ArchiveEntry.objects.exists()
    assert not RequestLog.objects.get().archived


def test_embeddings_are_cached_per_input(client, caching):
    ask = dict(model="minilm-embed", input=["a ward round", "a discharge"])
    first = client.embeddings.with_raw_response.create(**ask)
    second = client.embeddings.with_raw_response.create(**ask)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    vectors = [item.embedding for item in second.parse().data]
    assert vectors == [item.embedding for item in first.parse().data]


def _speech_wav() -> bytes:
    audio = Path(__file__).resolve().parents[2] / "data" / "audio" / "speech-en-16k.wav"
    return audio.read_bytes()


def _transcribe(client):
    raw = client.audio.transcriptions.with_raw_response.create(
        model="tiny-whisper", file=("speech.wav", _speech_wav(), "audio/wav")
    )
    return raw.headers["x-cache"], raw


def test_a_transcript_is_cached_by_the_audio_it_came_from(client, caching, model_calls):
    assert _transcribe(client)[0] == "miss"
    steps = model_calls()
    assert _transcribe(client)[0] == "hit"
    assert model_calls() == steps


def test_a_sensitive_transcript_is_delivered_but_not_kept(client, tenant, caching, archiving):
    ContentRule.objects.create(
        tenant=tenant, name="any", kind="pattern", value=r"\S", action="sensitive"
    )
    outcome, raw = _transcribe(client)
    assert raw.status_code == 200 and outcome == "miss"
    assert not CacheEntry.objects.exists() and not ArchiveEntry.objects.exists()


def test_a_transcript_that_a_block_rule_matches_is_withheld(client, tenant):
    ContentRule.objects.create(
        tenant=tenant, name="any", kind="pattern", value=r"\S", action="block"
    )
    with pytest.raises(openai.BadRequestError) as refused:
        _transcribe(client)
    assert refused.value.code == "content_policy_violation"
    row = RequestLog.objects.get()
    assert (row.status_code, row.error_code) == (400, "content_policy_violation")


def test_an_exchange_is_archived_sealed_under_its_subject(client, archiving):
    _, reply = chat(client, temperature=0, user="patient-7")
    entry = ArchiveEntry.objects.get()
    assert PROMPT.encode() not in bytes(entry.sealed)
    assert RequestLog.objects.get().archived
    exchange = archive_export(entry.subject)[0]["exchange"]
    assert exchange["input"]["messages"][0]["content"] == PROMPT
    assert exchange["output"]["text"] == reply.choices[0].message.content


def test_store_false_is_not_archived(client, archiving):
    chat(client, temperature=0, store=False)
    assert not ArchiveEntry.objects.exists()


def test_residency_refuses_before_any_model(client, tenant, model_calls):
    tenant_policy_update(
        actor_id=None, tenant_id=tenant.id, changes={"allowed_regions": ["eu-west"]}
    )
    with pytest.raises(openai.PermissionDeniedError) as refused:
        chat(client, temperature=0)
    assert refused.value.code == "residency_violation"
    assert model_calls() == 0
    row = RequestLog.objects.get()
    assert (row.error_code, row.region) == ("residency_violation", settings.PORTAL_REGION)


def test_a_tenant_allowed_in_the_pools_region_is_served(client, tenant):
    tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"allowed_regions": ["local"]})
    assert chat(client, temperature=0)[1].choices


def test_zero_retention_refuses_a_request_to_store(client, tenant, model_calls):
    tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"zero_retention": True})
    with pytest.raises(openai.ConflictError) as refused:
        chat(client, temperature=0, store=True)
    assert refused.value.code == "retention_conflict"
    assert model_calls() == 0


def test_zero_retention_drops_a_jobs_content_once_delivered(asgi_server, api_token, tenant):
    tenant_policy_update(actor_id=None, tenant_id=tenant.id, changes={"zero_retention": True})
    job = _text_job(asgi_server, api_token, PROMPT)
    assert job["result"]["text"] is not None
    stored = Job.objects.get()
    assert stored.input_sealed is None and stored.result_sealed is None


def _text_job(asgi_server, token: str, prompt: str) -> dict:
    body = {
        "task": "text-generation",
        "model": "tiny-chat",
        "input": {"prompt": prompt, "max_tokens": 4},
    }
    created = raw_request(
        asgi_server,
        "POST",
        "/api/v1/jobs/",
        body=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert created.status == 202
    return wait_job(asgi_server, token, created.json()["id"])


def _with_comment(wav: bytes, comment: str) -> bytes:
    """The WAV with a LIST/INFO comment chunk appended (and the RIFF size updated)."""
    text = comment.encode() + b"\0"
    text += b"\0" * (len(text) % 2)
    info = b"INFO" + b"ICMT" + len(text).to_bytes(4, "little") + text
    riff = wav[12:] + b"LIST" + len(info).to_bytes(4, "little") + info
    return b"RIFF" + (len(riff) + 4).to_bytes(4, "little") + b"WAVE" + riff


def _files_under(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def test_a_canary_never_reaches_the_disk_or_the_logs(
    asgi_server, api_token, client, tenant, caching, archiving, caplog, settings, tmp_path
):
    """With caching and archiving on, the canary goes through chat, a job and an upload
    bigger than Django's in-memory default; its bytes appear in no file and no log line."""
    caplog.set_level("DEBUG")
    uploads = tmp_path / "uploads"
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads)
    canary = f"canary-{uuid.uuid4().hex}"
    chat(client, f"The patient {canary} reports pain", temperature=0)
    chat(client, f"The patient {canary} reports pain", temperature=0)
    _text_job(asgi_server, api_token, canary)
    samples = np.zeros(16_000 * 90, dtype=np.int16)  # 2.9 MB: over the 2.5 MB spooling default
    wav = io.BytesIO()
    soundfile.write(wav, samples, 16_000, format="WAV", subtype="PCM_16")
    data = _with_comment(wav.getvalue(), canary)
    form, content_type = multipart(
        {"model": "tiny-whisper"}, {"file": ("a.wav", "audio/wav", data)}
    )
    transcribed = raw_request(
        asgi_server,
        "POST",
        "/v1/audio/transcriptions",
        body=form,
        headers={"Authorization": f"Bearer {api_token}", "Content-Type": content_type},
    )
    assert transcribed.status == 200
    assert ArchiveEntry.objects.count() >= 2 and CacheEntry.objects.exists()
    needle = canary.encode()
    leaked = [
        str(path) for path in _files_under(Path(settings.VAR_DIR)) if needle in path.read_bytes()
    ]
    assert leaked == []
    assert not uploads.exists() or not any(uploads.iterdir())
    assert canary not in caplog.text
