"""Audio preprocessing: validated recordings become mono waveforms at the model's rate and
log-mel spectrograms, computed with torchaudio on the model's device.

The spectrogram follows Whisper's feature extractor step for step (transformers'
WhisperFeatureExtractor, whose settings the model ships in preprocessor_config.json): a model
fed features made any other way hears a different signal.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torchaudio

from inference.pipeline.validate.audio import ValidatedAudio


@dataclass(frozen=True)
class PreparedTranscription:
    """Stage 2's value for transcription: log-mel features padded or cut to the model's window."""

    features: torch.Tensor  # (n_mels, frames) float, on the model's device
    max_new_tokens: int = 128


@dataclass(frozen=True)
class PreparedSpeech:
    """Stage 2's value for speech detection: the waveform itself."""

    waveform: torch.Tensor  # (samples,) float32 mono at the model's rate, on its device
    sample_rate: int = 16_000


@lru_cache(maxsize=32)
def feature_extractor_config(path: Path) -> dict:
    """The feature extractor settings a model folder ships (preprocessor_config.json), read
    once (read-only)."""
    return json.loads((Path(path) / "preprocessor_config.json").read_text())


def audio_waveform(
    audio: ValidatedAudio, *, sample_rate: int, device: torch.device
) -> torch.Tensor:
    """Mono (the mean of the channels) at sample_rate, float32, 1-D, on device."""
    waveform = torch.from_numpy(audio.samples).to(device).mean(dim=1)
    if audio.sample_rate == sample_rate:
        return waveform
    return _resampler(audio.sample_rate, sample_rate, device)(waveform)


# NOTE: both transforms build their kernels or filter banks when made; made once per setting,
# they are shared by every request (they hold no request data).
@lru_cache(maxsize=32)
def _resampler(source_rate: int, target_rate: int, device: torch.device):
    return torchaudio.transforms.Resample(source_rate, target_rate).to(device)


@lru_cache(maxsize=8)
def _mel(sampling_rate: int, n_fft: int, hop_length: int, n_mels: int, device: torch.device):
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sampling_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        f_max=8000.0,  # NOTE: WhisperFeatureExtractor fixes it, whatever the sampling rate
        power=2.0,
        norm="slaney",
        mel_scale="slaney",
    ).to(device)


def log_mel_features(
    waveform: torch.Tensor, *, feature_extractor: dict, device: torch.device
) -> torch.Tensor:
    """Whisper's log-mel spectrogram of the waveform padded or cut to the model's window."""
    sampling_rate = feature_extractor["sampling_rate"]
    n_samples = feature_extractor["chunk_length"] * sampling_rate
    waveform = waveform.to(device=device, dtype=torch.float32)[:n_samples]
    waveform = torch.nn.functional.pad(waveform, (0, n_samples - len(waveform)))
    mel = _mel(
        sampling_rate,
        feature_extractor["n_fft"],
        feature_extractor["hop_length"],
        feature_extractor["feature_size"],
        device,
    )
    log_spec = mel(waveform)[:, :-1].clamp(min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def preprocess_transcription(
    audio: ValidatedAudio, *, feature_extractor: dict, device: torch.device, max_new_tokens: int
) -> PreparedTranscription:
    waveform = audio_waveform(audio, sample_rate=feature_extractor["sampling_rate"], device=device)
    features = log_mel_features(waveform, feature_extractor=feature_extractor, device=device)
    return PreparedTranscription(features=features, max_new_tokens=max_new_tokens)


def preprocess_speech(
    audio: ValidatedAudio, *, device: torch.device, sample_rate: int = 16_000
) -> PreparedSpeech:
    waveform = audio_waveform(audio, sample_rate=sample_rate, device=device)
    return PreparedSpeech(waveform=waveform, sample_rate=sample_rate)
