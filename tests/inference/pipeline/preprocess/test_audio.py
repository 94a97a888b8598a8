import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from inference.pipeline.preprocess.audio import (
    PreparedSpeech,
    PreparedTranscription,
    audio_waveform,
    feature_extractor_config,
    log_mel_features,
    preprocess_speech,
    preprocess_transcription,
)
from inference.pipeline.validate.audio import ValidatedAudio, validate_audio

AUDIO = Path(__file__).parents[3] / "data" / "audio"
SAMPLES = [
    "speech-en-16k.wav",
    "speech-en-16k.flac",
    "speech-en-16k.ogg",
    "speech-en-44k-stereo.mp3",
    "silence-16k.wav",
]
CPU = torch.device("cpu")
DEVICES = [
    pytest.param(CPU, id="cpu"),
    pytest.param(
        torch.device("cuda"),
        id="cuda",
        marks=pytest.mark.gpu,  # deselected without CUDA (tests/conftest.py)
    ),
]
TOLERANCE = 1e-3


def _audio(name: str) -> ValidatedAudio:
    data = (AUDIO / name).read_bytes()
    return validate_audio(data, declared_type=None, max_bytes=2**24, max_duration_s=60.0)


def _audio_of(samples: np.ndarray, *, sample_rate: int) -> ValidatedAudio:
    return ValidatedAudio(
        samples=samples.astype(np.float32),
        sample_rate=sample_rate,
        channels=samples.shape[1],
        duration_s=len(samples) / sample_rate,
        format="WAV",
        size_bytes=samples.nbytes,
    )


@pytest.fixture(scope="module")
def whisper_extractor() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=80)


@pytest.fixture(scope="module")
def whisper_config(whisper_extractor) -> dict:
    return whisper_extractor.to_dict()


def _reference(extractor: WhisperFeatureExtractor, waveform: torch.Tensor) -> torch.Tensor:
    features = extractor(waveform.cpu().numpy(), sampling_rate=16_000, return_tensors="pt")
    return features.input_features[0]


def test_a_stereo_mp3_becomes_a_mono_float32_waveform():
    waveform = audio_waveform(_audio("speech-en-44k-stereo.mp3"), sample_rate=16_000, device=CPU)
    assert waveform.ndim == 1 and waveform.dtype == torch.float32


def test_mono_is_the_mean_of_the_channels():
    samples = np.stack([np.full(100, 0.1), np.full(100, 0.3)], axis=1)
    waveform = audio_waveform(
        _audio_of(samples, sample_rate=16_000), sample_rate=16_000, device=CPU
    )
    assert torch.allclose(waveform, torch.full((100,), 0.2))


def test_the_mp3_is_resampled_from_44_1_to_16_khz():
    audio = _audio("speech-en-44k-stereo.mp3")
    waveform = audio_waveform(audio, sample_rate=16_000, device=CPU)
    assert len(waveform) == math.ceil(len(audio.samples) * 16_000 / 44_100)


def test_resampling_keeps_the_pitch():
    seconds, tone_hz = 1.0, 440.0
    time = np.arange(int(44_100 * seconds)) / 44_100
    samples = np.sin(2 * np.pi * tone_hz * time)[:, None]
    waveform = audio_waveform(
        _audio_of(samples, sample_rate=44_100), sample_rate=16_000, device=CPU
    )
    spectrum = torch.fft.rfft(waveform).abs()
    assert spectrum.argmax().item() / seconds == pytest.approx(tone_hz, abs=1.0)


def test_audio_at_the_models_rate_is_not_resampled():
    audio = _audio("speech-en-16k.flac")
    waveform = audio_waveform(audio, sample_rate=16_000, device=CPU)
    assert torch.equal(waveform, torch.from_numpy(audio.samples[:, 0]))


@pytest.mark.parametrize("device", DEVICES)
def test_the_waveform_is_on_the_requested_device(device):
    waveform = audio_waveform(_audio("speech-en-44k-stereo.mp3"), sample_rate=16_000, device=device)
    assert waveform.device.type == device.type


def test_whisper_features_are_80_mels_by_3000_frames(whisper_config):
    waveform = audio_waveform(_audio("speech-en-16k.wav"), sample_rate=16_000, device=CPU)
    features = log_mel_features(waveform, feature_extractor=whisper_config, device=CPU)
    assert features.shape == (80, 3000) and features.dtype == torch.float32


@pytest.mark.parametrize("name", SAMPLES)
def test_features_match_transformers_whisper_extractor(name, whisper_extractor, whisper_config):
    waveform = audio_waveform(_audio(name), sample_rate=16_000, device=CPU)
    features = log_mel_features(waveform, feature_extractor=whisper_config, device=CPU)
    difference = (features - _reference(whisper_extractor, waveform)).abs().max().item()
    assert difference < TOLERANCE


def test_audio_longer_than_the_window_is_cut_like_transformers_does(
    whisper_extractor, whisper_config
):
    speech = audio_waveform(_audio("speech-en-16k.wav"), sample_rate=16_000, device=CPU)
    waveform = speech.repeat(6)  # about 37 s, past Whisper's 30 s window
    features = log_mel_features(waveform, feature_extractor=whisper_config, device=CPU)
    difference = (features - _reference(whisper_extractor, waveform)).abs().max().item()
    assert features.shape == (80, 3000) and difference < TOLERANCE


@pytest.mark.parametrize("device", DEVICES)
def test_features_are_on_the_requested_device(device, whisper_config):
    waveform = audio_waveform(_audio("speech-en-16k.ogg"), sample_rate=16_000, device=device)
    features = log_mel_features(waveform, feature_extractor=whisper_config, device=device)
    assert features.device.type == device.type


def test_the_config_is_read_from_the_model_folder(tmp_path, whisper_extractor, whisper_config):
    whisper_extractor.save_pretrained(tmp_path)
    config = feature_extractor_config(tmp_path)
    keys = ["feature_size", "sampling_rate", "n_fft", "hop_length", "chunk_length"]
    assert {key: config[key] for key in keys} == {key: whisper_config[key] for key in keys}


def test_transcription_is_prepared_as_whisper_features(whisper_config):
    prepared = preprocess_transcription(
        _audio("speech-en-44k-stereo.mp3"),
        feature_extractor=whisper_config,
        device=CPU,
        max_new_tokens=32,
    )
    assert isinstance(prepared, PreparedTranscription)
    assert prepared.features.shape == (80, 3000) and prepared.max_new_tokens == 32


def test_speech_detection_is_prepared_as_a_16_khz_mono_waveform():
    prepared = preprocess_speech(_audio("speech-en-44k-stereo.mp3"), device=CPU)
    assert isinstance(prepared, PreparedSpeech) and prepared.sample_rate == 16_000
    assert prepared.waveform.ndim == 1
    assert len(prepared.waveform) / 16_000 == pytest.approx(6.24, abs=0.01)
