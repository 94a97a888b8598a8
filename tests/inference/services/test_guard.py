"""The optional image guard, with tiny-vit as the tenant's guard model, over the live API:
images coming in (classification jobs) and going out (generation) are checked."""

import json

import openai
import pytest

from compliance.models import ArchiveEntry, CacheEntry, RequestLog
from compliance.services.policy import tenant_policy_update
from inference.management.commands.build_default_models import VIT_LABELS
from tests.inference.api.test_media import png_bytes, post_job, wait_job


def guard(tenant, action: str | None, *, threshold: float = 0.0, model: str = "tiny-vit"):
    """Every label of the guard counts (threshold 0), with this action; None: none guarded."""
    labels = {label: action for label in VIT_LABELS} if action else {}
    tenant_policy_update(
        actor_id=None,
        tenant_id=tenant.id,
        changes={
            "image_guard_model": model,
            "image_guard_labels": labels,
            "image_guard_threshold": threshold,
            "cache_models": ["*"],
            "archive_enabled": True,
        },
    )


def classify(asgi_server, token) -> dict:
    created = post_job(
        asgi_server,
        token,
        {"task": "image-classification", "model": "tiny-vit"},
        {"file": ("scan.png", "image/png", png_bytes())},
    )
    if created.status != 202:
        return created.json()
    return wait_job(asgi_server, token, created.json()["id"])


@pytest.fixture
def client(asgi_server, api_token) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=api_token, max_retries=0)


def test_a_blocked_label_refuses_the_picture_before_the_model(asgi_server, api_token, tenant):
    guard(tenant, "block")
    refused = classify(asgi_server, api_token)
    assert refused["error"]["code"] == "content_policy_violation"
    row = RequestLog.objects.get()
    assert (row.status_code, row.error_code) == (400, "content_policy_violation")


def test_a_sensitive_label_is_served_but_never_kept(asgi_server, api_token, tenant):
    guard(tenant, "sensitive")
    job = classify(asgi_server, api_token)
    assert job["status"] == "succeeded" and job["result"]["labels"]
    assert not CacheEntry.objects.exists() and not ArchiveEntry.objects.exists()


def test_below_the_threshold_nothing_counts(asgi_server, api_token, tenant):
    guard(tenant, "block", threshold=1.0)
    assert classify(asgi_server, api_token)["status"] == "succeeded"
    assert ArchiveEntry.objects.count() == 1


def test_generated_images_are_checked_before_delivery(client, tenant):
    guard(tenant, "block")
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="tiny-sd", prompt="A lighthouse", extra_body={"seed": 1})
    assert refused.value.code == "content_policy_violation"


def test_a_sensitive_generated_image_is_not_cached(client, tenant):
    guard(tenant, "sensitive")
    raw = client.images.with_raw_response.generate(
        model="tiny-sd", prompt="A lighthouse", extra_body={"seed": 1}
    )
    assert raw.headers["x-cache"] == "miss"
    assert not CacheEntry.objects.exists() and not ArchiveEntry.objects.exists()


def test_a_guard_that_is_not_served_fails_closed(asgi_server, api_token, tenant, model_calls):
    guard(tenant, "block", model="no-such-guard")
    refused = classify(asgi_server, api_token)
    assert refused["error"]["code"] == "service_unavailable"
    assert model_calls() == 0
    assert json.dumps(refused).count("no-such-guard") == 0
