"""The optional image guard of stage 1 (inputs) and stage 4 (generated images).

A tenant may name an image-classification model of the catalogue as its guard (none by
default); every image a request brings, and every image a model makes for it, is classified by
that model's pool before anything else happens to it, and compliance decides from the labels:
block (content_policy_violation) or sensitive (served, never cached or archived). A guard that
is named but not served here refuses the request: the check fails closed.
"""

import asyncio
from dataclasses import replace

from django.conf import settings

from compliance.services.content_policy import image_guard_verdict
from inference.pipeline.engine import pool_get
from inference.pipeline.postprocess import Delivery
from inference.pipeline.preprocess.image import image_processor_config, preprocess_image
from inference.pipeline.validate.image import ValidatedImage, validate_image
from inference.registry import ModelSpec, model_available, model_device, model_get
from portal.db import in_thread
from portal.errors import ApiError

ALL_LABELS = 10_000  # top k: the runner gives every label the model has, at most this many


def _guard_spec(name: str) -> ModelSpec:
    try:
        return model_available(model_get(name, task="image-classification"))
    except ApiError:
        raise ApiError(
            "service_unavailable",
            "This organisation's image guard model is not served here; no image is processed "
            "until it is.",
        ) from None


async def _labels(spec: ModelSpec, image: ValidatedImage) -> tuple[tuple[str, float], ...]:
    prepared = await in_thread(preprocess_image)(
        image,
        processor=image_processor_config(spec.path),
        device=model_device(spec),
        top_k=ALL_LABELS,
    )
    handle = pool_get(spec.name).submit(prepared, loop=asyncio.get_running_loop())
    labels: tuple[tuple[str, float], ...] = ()
    async for output in handle.events():
        labels = output.labels
    return labels


async def _guard(request, images: list[ValidatedImage]):
    """The request, marked sensitive if the guard saw a sensitive label; raises on block."""
    policy = request.policy
    spec = _guard_spec(policy.image_guard_model)
    sensitive = False
    for image in images:
        verdict = image_guard_verdict(policy=policy, labels=await _labels(spec, image))
        sensitive = sensitive or verdict.sensitive
    return replace(request, sensitive=True) if sensitive else request


async def guard_input(request):
    """Stage 1: the picture a request brings (image classification)."""
    image = getattr(request, "image", None)
    if image is None or not request.policy.image_guard_model:
        return request
    return await _guard(request, [image])


async def guard_output(request, delivery: Delivery):
    """Stage 4: the pictures a model made, before anyone sees them."""
    if not delivery.images_png or not request.policy.image_guard_model:
        return request
    images = [
        validate_image(
            png,
            declared_type="image/png",
            max_bytes=settings.MAX_IMAGE_BYTES,
            max_pixels=settings.MAX_IMAGE_PIXELS,
        )
        for png in delivery.images_png
    ]
    return await _guard(request, images)
