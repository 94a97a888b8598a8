"""Preprocessing throughput per modality: Custos's stages 1-2 against the bare library calls.

Image: Pillow decoding plus transformers' ViT image processor, against `validate_image` plus
`preprocess_image` (magic bytes, header limits, conversion, EXIF, resize, normalize on the
device). Audio: soundfile plus torchaudio (resample, log-mel), against `validate_audio` plus
`preprocess_transcription`. Run by bench/run.py in its scratch var/; prints one JSON object.
"""

import io
import json
import os
import sys
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import torch  # noqa: E402
import torchaudio  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import ViTImageProcessor  # noqa: E402

from inference.pipeline.preprocess.audio import (  # noqa: E402
    feature_extractor_config,
    preprocess_transcription,
)
from inference.pipeline.preprocess.image import (  # noqa: E402
    image_processor_config,
    preprocess_image,
)
from inference.pipeline.validate.audio import validate_audio  # noqa: E402
from inference.pipeline.validate.image import validate_image  # noqa: E402
from inference.registry import model_device, model_get  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def _rate(function, items: list, rounds: int = 3) -> float:
    """Items per second, the best of a few rounds (the machine is shared)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            function(item)
        best = min(best, time.perf_counter() - started)
    return len(items) / best


def _photo_jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def images() -> dict:
    spec = model_get("tiny-vit")
    config = image_processor_config(spec.path)
    processor = ViTImageProcessor(**config)
    device = model_device(spec)
    files = [_photo_jpeg(seed) for seed in range(40)]

    def bare(data: bytes):
        picture = Image.open(io.BytesIO(data)).convert("RGB")
        return processor(images=picture, return_tensors="pt")["pixel_values"].to(device)

    def custos(data: bytes):
        image = validate_image(
            data, declared_type="image/jpeg", max_bytes=2**24, max_pixels=40_000_000
        )
        return preprocess_image(image, processor=config, device=device)

    return {"bare": _rate(bare, files), "custos": _rate(custos, files), "item": "640x480 JPEG"}


def audio() -> dict:
    spec = model_get("tiny-whisper")
    config = feature_extractor_config(spec.path)
    device = model_device(spec)
    files = [(ROOT / "tests" / "data" / "audio" / "speech-en-44k-stereo.mp3").read_bytes()] * 10
    rate = config["sampling_rate"]
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=rate,
        n_fft=config["n_fft"],
        hop_length=config["hop_length"],
        n_mels=config["feature_size"],
        f_max=8000.0,
        norm="slaney",
        mel_scale="slaney",
    ).to(device)

    window = config["chunk_length"] * rate  # Whisper reads 30 s: both sides pad to it

    def bare(data: bytes):
        samples, source_rate = soundfile.read(io.BytesIO(data), dtype="float32")
        waveform = torch.from_numpy(samples.mean(axis=1)).to(device)
        waveform = torchaudio.functional.resample(waveform, source_rate, rate)[:window]
        waveform = torch.nn.functional.pad(waveform, (0, window - len(waveform)))
        return mel(waveform).clamp(min=1e-10).log10()

    def custos(data: bytes):
        validated = validate_audio(
            data, declared_type="audio/mpeg", max_bytes=2**24, max_duration_s=600
        )
        return preprocess_transcription(
            validated, feature_extractor=config, device=device, max_new_tokens=16
        )

    return {
        "bare": _rate(bare, files),
        "custos": _rate(custos, files),
        "item": "6 s 44.1 kHz stereo MP3 to 16 kHz log-mel",
    }


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    print(json.dumps({"image": images(), "audio": audio()}))
