"""The stage order for image and audio requests; each answers once (no token stream).

Image generation reports its progress per denoising step through `on_progress`, which the
websocket consumer forwards to the browser.
"""

from collections.abc import Awaitable, Callable

from inference.pipeline.postprocess import (
    Delivery,
    postprocess_classification,
    postprocess_images,
    postprocess_segments,
    postprocess_transcription,
)
from inference.pipeline.preprocess.audio import (
    feature_extractor_config,
    preprocess_speech,
    preprocess_transcription,
)
from inference.pipeline.preprocess.image import image_processor_config, preprocess_image
from inference.pipeline.preprocess.text import preprocess_image_generation
from inference.pipeline.validate import Caller
from inference.pipeline.validate.media import (
    FilePayload,
    ImageGenerationPayload,
    ValidatedAudioRequest,
    ValidatedImageRequest,
    validate_image_classification,
    validate_image_generation,
    validate_speech_detection,
    validate_transcription,
)
from inference.registry import model_device, model_tokenizer
from inference.services import run_once

MAX_TRANSCRIPT_TOKENS = 224  # Whisper's own decoder limit is 448 including the prompt


def _prepare_image(request: ValidatedImageRequest):
    return preprocess_image(
        request.image,
        processor=image_processor_config(request.model.path),
        device=model_device(request.model),
        top_k=request.top_k,
    )


def _prepare_transcription(request: ValidatedAudioRequest):
    return preprocess_transcription(
        request.audio,
        feature_extractor=feature_extractor_config(request.model.path),
        device=model_device(request.model),
        max_new_tokens=MAX_TRANSCRIPT_TOKENS,
    )


def _prepare_speech(request: ValidatedAudioRequest):
    return preprocess_speech(request.audio, device=model_device(request.model))


def _audio_measures(request, delivery) -> dict:
    return {"audio_seconds": request.audio.duration_s}


async def image_classify(*, caller: Caller, payload: FilePayload) -> Delivery:
    return await run_once(
        caller=caller,
        payload=payload,
        validate=validate_image_classification,
        preprocess=_prepare_image,
        postprocess=lambda request, output: postprocess_classification(output),
        measures=lambda request, delivery: {"pixels": request.image.width * request.image.height},
    )


async def image_generate(
    *,
    caller: Caller,
    payload: ImageGenerationPayload,
    on_progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> Delivery:
    return await run_once(
        caller=caller,
        payload=payload,
        validate=validate_image_generation,
        preprocess=preprocess_image_generation,
        postprocess=lambda request, output: postprocess_images(output),
        measures=lambda request, delivery: {
            "pixels": request.n * request.height * request.width,
            "denoising_steps": request.steps,
        },
        on_progress=on_progress,
    )


async def transcribe(*, caller: Caller, payload: FilePayload) -> Delivery:
    return await run_once(
        caller=caller,
        payload=payload,
        validate=validate_transcription,
        preprocess=_prepare_transcription,
        postprocess=lambda request, output: postprocess_transcription(
            output, tokenizer=model_tokenizer(request.model), duration_s=request.audio.duration_s
        ),
        measures=_audio_measures,
    )


async def speech_detect(*, caller: Caller, payload: FilePayload) -> Delivery:
    return await run_once(
        caller=caller,
        payload=payload,
        validate=validate_speech_detection,
        preprocess=_prepare_speech,
        postprocess=lambda request, output: postprocess_segments(
            output, duration_s=request.audio.duration_s
        ),
        measures=_audio_measures,
    )
