from pathlib import Path

import pytest
import soundfile
import torch
from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

from inference.pipeline.engine import Handle
from inference.pipeline.preprocess.audio import PreparedTranscription
from inference.registry import model_get
from inference.tasks.transcription import TranscriptionRunner

AUDIO = Path(__file__).resolve().parents[2] / "data" / "audio"


@pytest.fixture(scope="module")
def runner():
    return TranscriptionRunner(model_get("tiny-whisper"))


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    """Log-mel features of the speech sample, as Whisper's own feature extractor makes them."""
    extractor = WhisperFeatureExtractor.from_pretrained(
        model_get("tiny-whisper").path, local_files_only=True
    )
    waveform, rate = soundfile.read(AUDIO / "speech-en-16k.wav", dtype="float32")
    return extractor(waveform, sampling_rate=rate, return_tensors="pt")["input_features"][0]


def transcribe(runner, *prepared) -> list:
    handles = [Handle(prepared=p) for p in prepared]
    with torch.inference_mode():
        runner.step(handles)
    return [h.wait(1) for h in handles]


def test_loads_whisper_with_its_tokenizer_and_an_80_mel_feature_extractor(runner):
    path = model_get("tiny-whisper").path
    extractor = WhisperFeatureExtractor.from_pretrained(path, local_files_only=True)
    assert isinstance(runner.model, WhisperForConditionalGeneration)
    assert extractor.feature_size == runner.model.config.num_mel_bins == 80
    assert len(AutoTokenizer.from_pretrained(path, local_files_only=True)) == (
        runner.model.config.vocab_size
    )


def test_transcribes_into_text_token_ids_that_the_tokenizer_decodes(runner, features):
    output = transcribe(runner, PreparedTranscription(features=features, max_new_tokens=8))[0]
    tokenizer = AutoTokenizer.from_pretrained(model_get("tiny-whisper").path, local_files_only=True)
    assert 0 < len(output.token_ids) <= 8
    assert not set(output.token_ids) & set(tokenizer.all_special_ids)
    text = tokenizer.decode(list(output.token_ids), skip_special_tokens=True)
    assert text and tokenizer.decode(list(output.token_ids)) == text  # meaningless, but text


def test_each_request_stops_at_its_own_max_new_tokens(runner, features):
    alone = transcribe(runner, PreparedTranscription(features=features, max_new_tokens=3))[0]
    short, long = transcribe(
        runner,
        PreparedTranscription(features=features, max_new_tokens=3),
        PreparedTranscription(features=features, max_new_tokens=9),
    )
    assert short.token_ids == alone.token_ids and short.finish_reason == "length"
    assert long.token_ids[:3] == short.token_ids and len(long.token_ids) == 9


def test_end_of_text_finishes_a_transcript_with_stop(runner, features):
    first = transcribe(runner, PreparedTranscription(features=features, max_new_tokens=4))[0]
    original = runner.eos_token_id
    runner.eos_token_id = first.token_ids[0]  # pretend the first token ends the text
    try:
        output = transcribe(runner, PreparedTranscription(features=features, max_new_tokens=4))[0]
    finally:
        runner.eos_token_id = original
    assert output.finish_reason == "stop" and output.token_ids == ()
