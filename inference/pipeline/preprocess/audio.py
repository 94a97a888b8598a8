"""Audio preprocessing: validated recordings become mono waveforms at the model's rate and
log-mel spectrograms, computed with torchaudio on the model's device."""

from dataclasses import dataclass

import torch


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
