import sys
from pathlib import Path

import pytest
import soundfile
import torch

from inference.pipeline.engine import Handle
from inference.pipeline.preprocess.audio import PreparedSpeech
from inference.registry import model_get
from inference.tasks.speech_detection import MODEL_FILE, SpeechDetectionRunner, _silero

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"


@pytest.fixture(scope="module")
def runner():
    return SpeechDetectionRunner(model_get("silero-vad"))


def waveform(name: str) -> torch.Tensor:
    samples, rate = soundfile.read(AUDIO / name, dtype="float32")
    assert rate == 16_000
    return torch.from_numpy(samples)


def detect(runner, *waveforms) -> list[tuple]:
    handles = [Handle(prepared=PreparedSpeech(waveform=w)) for w in waveforms]
    with torch.inference_mode():
        runner.step(handles)
    return [h.wait(1).segments for h in handles]


def test_loads_the_model_the_silero_vad_package_ships(runner):
    path = model_get("silero-vad").path / MODEL_FILE
    assert path.resolve().parent.parent.name == "silero_vad"  # the package's own data folder
    assert isinstance(runner.model, torch.jit.ScriptModule)
    assert runner.weight_bytes > 0


def test_finds_the_two_spoken_sentences_and_nothing_in_silence(runner):
    speech, silence = detect(runner, waveform("speech-en-16k.wav"), waveform("silence-16k.wav"))
    assert [pytest.approx(s, abs=0.2) for s in speech] == [(0.0, 3.0), (3.4, 6.0)]
    assert silence == ()


def test_batched_segments_are_what_get_speech_timestamps_finds_alone(runner):
    init_jit_model, _ = _silero()
    from silero_vad import get_speech_timestamps

    reference = init_jit_model(str(model_get("silero-vad").path / MODEL_FILE))
    speech = waveform("speech-en-16k.wav")
    recordings = [speech, speech[:20_000], waveform("silence-16k.wav")]
    expected = [
        tuple(
            (s["start"], s["end"]) for s in get_speech_timestamps(w, reference, return_seconds=True)
        )
        for w in recordings
    ]
    assert detect(runner, *recordings) == expected


def test_importing_silero_leaves_torch_thread_count_alone(monkeypatch):
    """Importing silero_vad sets torch to one thread for the process; _silero undoes it."""
    for name in [m for m in sys.modules if m.split(".")[0] == "silero_vad"]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh here, restored after
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        _silero()
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
