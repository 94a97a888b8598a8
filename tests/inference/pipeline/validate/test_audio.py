from pathlib import Path

import numpy as np
import pytest
import soundfile

from inference.pipeline.validate.audio import validate_audio
from portal.errors import ApiError
from tests.malformed import pcm_wav, written

AUDIO = Path(__file__).parents[3] / "data" / "audio"
TEN_HOURS_S = 10 * 3600


def _sample(name: str) -> bytes:
    return (AUDIO / name).read_bytes()


def _validate(data: bytes, *, declared_type=None, max_bytes=10 * 2**20, max_duration_s=60.0):
    return validate_audio(
        data, declared_type=declared_type, max_bytes=max_bytes, max_duration_s=max_duration_s
    )


def _error_code(data: bytes, **limits) -> str:
    with pytest.raises(ApiError) as caught:
        _validate(data, **limits)
    return caught.value.code


def _flac_claiming(total_frames: int) -> bytes:
    """The sample FLAC with STREAMINFO's 36-bit total sample count replaced."""
    data = bytearray(_sample("speech-en-16k.flac"))
    start = 4 + 4 + 10  # "fLaC", the block header, then rate/channels/bits share 8 bytes
    packed = int.from_bytes(data[start : start + 8], "big")
    packed = packed & ~(2**36 - 1) | total_frames
    data[start : start + 8] = packed.to_bytes(8, "big")
    return bytes(data)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any sample is decoded."""

    def read(*args, **kwargs):
        raise AssertionError("samples were decoded")

    monkeypatch.setattr(soundfile.SoundFile, "read", read)


@pytest.mark.parametrize(
    "name, format, sample_rate, channels, duration_s",
    [
        ("speech-en-16k.wav", "WAV", 16_000, 1, 6.24),
        ("speech-en-16k.flac", "FLAC", 16_000, 1, 6.24),
        ("speech-en-16k.ogg", "OGG", 16_000, 1, 6.24),
        ("speech-en-44k-stereo.mp3", "MP3", 44_100, 2, 6.24),
        ("silence-16k.wav", "WAV", 16_000, 1, 3.0),
    ],
)
def test_each_sample_recording_validates(name, format, sample_rate, channels, duration_s):
    audio = _validate(_sample(name))
    assert (audio.format, audio.sample_rate, audio.channels) == (format, sample_rate, channels)
    assert audio.duration_s == pytest.approx(duration_s, abs=0.01)


def test_samples_are_float32_frames_by_channels():
    audio = _validate(_sample("speech-en-44k-stereo.mp3"))
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape == (round(audio.duration_s * 44_100), 2)


def test_size_bytes_is_the_uploads_size():
    data = _sample("speech-en-16k.ogg")
    assert _validate(data).size_bytes == len(data)


def test_empty_bytes_are_invalid_audio():
    assert _error_code(b"") == "invalid_audio"


def test_a_wav_with_zero_frames_is_invalid_audio():
    header_only = written(np.zeros((0, 1), dtype=np.float32), subtype="PCM_16")
    assert _error_code(header_only) == "invalid_audio"


def test_a_file_over_max_bytes_is_payload_too_large():
    data = _sample("speech-en-16k.wav")
    assert _error_code(data, max_bytes=len(data) - 1) == "payload_too_large"


def test_a_file_of_exactly_max_bytes_is_accepted():
    data = _sample("speech-en-16k.wav")
    assert _validate(data, max_bytes=len(data)).format == "WAV"


def test_size_is_checked_before_the_content():
    html = b"<!doctype html><html><body>not audio</body></html>"
    assert _error_code(html, max_bytes=10) == "payload_too_large"


def test_a_recording_longer_than_the_limit_is_too_long_without_decoding(no_decoding):
    assert _error_code(_sample("speech-en-16k.flac"), max_duration_s=6.0) == "audio_too_long"


def test_a_wav_header_claiming_ten_hours_is_too_long_without_decoding(no_decoding):
    wav = pcm_wav(claimed_bytes=TEN_HOURS_S * 16_000 * 2, pcm=bytes(3200))
    assert _error_code(wav, max_duration_s=600.0) == "audio_too_long"


def test_a_flac_header_claiming_ten_hours_is_too_long_without_decoding(no_decoding):
    flac = _flac_claiming(TEN_HOURS_S * 16_000)
    assert _error_code(flac, max_duration_s=600.0) == "audio_too_long"


def test_a_compressed_wav_longer_than_the_limit_is_too_long_without_decoding(no_decoding):
    samples = np.zeros((16_000 * 6, 1), dtype=np.float32)
    adpcm = written(samples, subtype="IMA_ADPCM")  # a block holds many frames
    assert _error_code(adpcm, max_duration_s=5.0) == "audio_too_long"


def test_a_wav_header_claiming_more_than_the_file_holds_is_invalid_audio():
    wav = pcm_wav(claimed_bytes=2 * 16_000 * 2, pcm=bytes(3200))  # claims 2 s, holds 0.1 s
    assert _error_code(wav) == "invalid_audio"


def test_a_wav_of_unknown_length_is_read_to_its_end():
    data = bytearray(_sample("speech-en-16k.wav"))
    size_at = data.index(b"data") + 4
    data[size_at : size_at + 4] = b"\xff\xff\xff\xff"  # what a streaming writer leaves
    assert _validate(bytes(data)).duration_s == pytest.approx(6.24, abs=0.01)


@pytest.mark.parametrize("name", ["speech-en-16k.wav", "speech-en-16k.flac"])
def test_a_truncated_file_is_invalid_audio(name):
    data = _sample(name)
    assert _error_code(data[: len(data) // 2]) == "invalid_audio"


def test_a_cut_off_header_is_invalid_audio():
    assert _error_code(_sample("speech-en-16k.wav")[:40]) == "invalid_audio"


def test_an_mp3_without_an_id3_tag_is_found_by_its_frame_sync():
    data = _sample("speech-en-44k-stereo.mp3")
    tag_bytes = 10 + data[9]  # the tag is under 128 bytes: only the last syncsafe byte counts
    assert _validate(data[tag_bytes:]).format == "MP3"


def test_garbage_after_an_mp3_frame_sync_is_invalid_audio():
    garbage = b"\xff\xfb\x90\x64" + np.random.default_rng(0).bytes(4000)
    assert _error_code(garbage) == "invalid_audio"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_a_float_wav_with_non_finite_samples_is_invalid_audio(subtype, bad):
    samples = np.zeros((1600, 1), dtype=np.float32)
    samples[800] = bad
    assert _error_code(written(samples, subtype=subtype)) == "invalid_audio"


def test_an_mp3_declared_as_wav_is_unsupported():
    data = _sample("speech-en-44k-stereo.mp3")
    assert _error_code(data, declared_type="audio/wav") == "unsupported_media_type"


@pytest.mark.parametrize(
    "name, declared_type",
    [
        ("speech-en-16k.wav", "audio/wav"),
        ("speech-en-16k.wav", "audio/x-wav"),
        ("speech-en-16k.wav", "audio/wave"),
        ("speech-en-16k.wav", "Audio/WAV; codecs=1"),
        ("speech-en-16k.flac", "audio/flac"),
        ("speech-en-16k.flac", "audio/x-flac"),
        ("speech-en-16k.ogg", "audio/ogg"),
        ("speech-en-16k.ogg", "application/ogg"),
        ("speech-en-44k-stereo.mp3", "audio/mpeg"),
        ("speech-en-44k-stereo.mp3", "audio/mp3"),
        ("speech-en-44k-stereo.mp3", None),
        ("speech-en-44k-stereo.mp3", ""),
        ("speech-en-44k-stereo.mp3", "application/octet-stream"),
    ],
)
def test_a_declared_type_that_agrees_with_the_file_is_accepted(name, declared_type):
    assert _validate(_sample(name), declared_type=declared_type).size_bytes > 0


@pytest.mark.parametrize("declared_type", ["video/mp4", "audio/aac", "text/html", "audio/flac"])
def test_a_declared_type_that_names_another_format_is_unsupported(declared_type):
    data = _sample("speech-en-16k.wav")
    assert _error_code(data, declared_type=declared_type) == "unsupported_media_type"


M4A_HEADER = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(2000)
HTML = b"<!DOCTYPE html><html><head><title>upload</title></head><body>hi</body></html>"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500)
AAC_ADTS_HEADER = b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(500)  # MPEG sync, but "layer 0"


FOREIGN = {
    "m4a": M4A_HEADER,
    "html": HTML,
    "png": PNG_HEADER,
    "aac": AAC_ADTS_HEADER,
    "two-bytes": b"\xff\xfb",
}


@pytest.mark.parametrize("data", FOREIGN.values(), ids=FOREIGN.keys())
def test_a_foreign_file_is_unsupported(data):
    assert _error_code(data) == "unsupported_media_type"


def test_an_aiff_recording_is_unsupported():
    aiff = written(np.zeros((1600, 1), dtype=np.float32), format="AIFF", subtype="PCM_16")
    assert _error_code(aiff) == "unsupported_media_type"


def test_a_wav_behind_an_id3_tag_is_unsupported():
    disguised = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10) + _sample("speech-en-16k.wav")
    assert _error_code(disguised, declared_type="audio/mpeg") == "unsupported_media_type"


def test_more_channels_than_allowed_are_invalid_audio(no_decoding):
    data = written(np.zeros((160, 16), dtype=np.float32), subtype="PCM_16")
    assert _error_code(data) == "invalid_audio"


def test_a_sample_rate_above_the_limit_is_invalid_audio(no_decoding):
    data = written(np.zeros((160, 1), dtype=np.float32), sample_rate=384_000, subtype="PCM_16")
    assert _error_code(data) == "invalid_audio"


def test_error_messages_do_not_quote_the_upload():
    secret = b"patient-4711"
    with pytest.raises(ApiError) as caught:
        _validate(HTML + secret, declared_type="audio/patient-4711")
    assert "patient-4711" not in caught.value.message
    assert caught.value.param == "file"
