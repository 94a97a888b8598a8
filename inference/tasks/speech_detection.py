"""Speech detection runner: Silero VAD over every recording of a batch at once.

Silero reads 32 ms windows one after another, carrying its state from one to the next. The
recordings of a batch are zero-padded to one length and their windows fed together as rows
(each row keeps its own state; padding only follows a recording's end, so it changes none of
its probabilities); each recording's probabilities then become segments through the
package's own get_speech_timestamps_from_probs, as get_speech_timestamps would compute them.
"""

import math
import time

import torch

from inference.pipeline.engine import Handle, ModelOutput
from inference.registry import ModelSpec
from inference.tasks.base import Runner, weight_bytes

WINDOW_SAMPLES = {16_000: 512, 8_000: 256}  # what Silero reads per step at each rate
MODEL_FILE = "silero_vad.jit"


def _silero():
    """The package's loader and its probabilities-to-segments step."""
    # NOTE: importing silero_vad sets torch to one thread for the whole process; undo that.
    threads = torch.get_num_threads()
    from silero_vad.utils_vad import get_speech_timestamps_from_probs, init_jit_model

    torch.set_num_threads(threads)
    return init_jit_model, get_speech_timestamps_from_probs


class SpeechDetectionRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.dtype = torch.float32  # the TorchScript model runs in float32 only
        init_jit_model, self._timestamps = _silero()
        self.model = init_jit_model(str(spec.path / MODEL_FILE), device=self.device)
        self.weight_bytes = weight_bytes(self.model)

    def step(self, batch: list[Handle]) -> None:
        started = time.monotonic()
        rates = {h.prepared.sample_rate for h in batch}
        segments = {}
        for rate in rates:  # one model call takes one rate; stage 2 makes it the model's
            handles = [h for h in batch if h.prepared.sample_rate == rate]
            waveforms = [h.prepared.waveform.flatten() for h in handles]
            for handle, probs in zip(handles, self._probabilities(waveforms, rate), strict=True):
                segments[handle] = self._segments(probs, handle.prepared)
        execute_ms = (time.monotonic() - started) * 1000
        for handle in batch:
            handle.finish(
                ModelOutput(
                    segments=segments[handle], queue_ms=handle.queue_ms, execute_ms=execute_ms
                )
            )

    def _probabilities(self, waveforms: list[torch.Tensor], rate: int) -> list[list[float]]:
        """Each recording's speech probability per window, all rows stepped together."""
        window = WINDOW_SAMPLES[rate]
        counts = [math.ceil(w.numel() / window) for w in waveforms]
        audio = torch.zeros((len(waveforms), max(counts) * window), device=self.device)
        for row, waveform in enumerate(waveforms):
            audio[row, : waveform.numel()] = waveform.to(self.device, torch.float32)
        self.model.reset_states()
        probs = [self.model(chunk, rate) for chunk in audio.split(window, dim=1)]
        table = torch.cat(probs, dim=1).tolist() if probs else [[] for _ in waveforms]
        return [row[:count] for row, count in zip(table, counts, strict=True)]

    def _segments(self, probs: list[float], prepared) -> tuple[tuple[float, float], ...]:
        if not probs:
            return ()
        found = self._timestamps(
            probs,
            sampling_rate=prepared.sample_rate,
            return_seconds=True,
            audio_length_samples=prepared.waveform.numel(),
        )
        return tuple((float(s["start"]), float(s["end"])) for s in found)
