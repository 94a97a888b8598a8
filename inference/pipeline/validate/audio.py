"""Stage 1 for audio: an uploaded recording is accepted or refused before any sample is decoded.

The checks run cheapest first, and the order is the defence. Size and magic bytes cost nothing
and keep a large or foreign upload away from the decoder. The duration comes from the header
(libsndfile parses it without decoding) and is checked before `read`, because a compressed
file a few kilobytes long can decode to hours of float samples; soundfile never reads past the
header's frame count, so that check also bounds the decode. Headers can lie: libsndfile sizes a
WAV by its bytes, not by its data chunk, so that chunk's claim is read here and must fit the
file. Only then are samples decoded, and they must be finite.

Error messages say what is wrong with the file, never what it contains.
"""

import io
import struct
from dataclasses import dataclass

import numpy as np
import soundfile

from portal.errors import ApiError

MAX_CHANNELS = 8
MAX_SAMPLE_RATE = 192_000

# Multipart MIME type -> the container it names; any other declared type is refused.
DECLARED_TYPES = {
    "audio/wav": "WAV",
    "audio/x-wav": "WAV",
    "audio/wave": "WAV",
    "audio/vnd.wave": "WAV",
    "audio/flac": "FLAC",
    "audio/x-flac": "FLAC",
    "audio/ogg": "OGG",
    "application/ogg": "OGG",
    "audio/mpeg": "MP3",
    "audio/mp3": "MP3",
}
UNKNOWN_TYPES = {"", "application/octet-stream"}  # no claim: the magic bytes decide

_WAV_UNKNOWN_LENGTH = 0xFFFF_FFFF  # what streaming writers put in a data chunk's size


@dataclass(frozen=True)
class ValidatedAudio:
    """Stage 1's value for audio: decoded, finite samples and what the header said of them."""

    samples: np.ndarray  # (frames, channels) float32
    sample_rate: int
    channels: int
    duration_s: float
    format: str  # "WAV" | "FLAC" | "OGG" | "MP3"
    size_bytes: int


def _invalid(message: str) -> ApiError:
    return ApiError("invalid_audio", message, param="file")


def _unsupported(message: str) -> ApiError:
    return ApiError("unsupported_media_type", message, param="file")


def _is_mpeg_frame(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then no reserved version, layer, rate."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _container(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "WAV"
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[:4] == b"OggS":
        return "OGG"
    if data[:3] == b"ID3" or _is_mpeg_frame(data[:3]):
        return "MP3"
    raise _unsupported("The file is not WAV, FLAC, Ogg or MP3 audio.")


def _check_declared_type(declared_type: str | None, container: str) -> None:
    mime = (declared_type or "").split(";")[0].strip().lower()
    if mime not in UNKNOWN_TYPES and DECLARED_TYPES.get(mime) != container:
        raise _unsupported(
            f"The declared media type does not match the file, which is {container}."
        )


def _wav_data_claim(data: bytes) -> tuple[int, bool]:
    """Frames the WAV data chunk claims, and whether the file holds all of them."""
    block_align, offset = 1, 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        offset += 8
        if chunk_id == b"fmt " and offset + 16 <= len(data):
            block_align = max(struct.unpack_from("<H", data, offset + 12)[0], 1)
        elif chunk_id == b"data":
            available = len(data) - offset
            if size == _WAV_UNKNOWN_LENGTH:
                size = available  # NOTE: "until the end of the file", as libsndfile reads it
            return size // block_align, size <= available
        offset += size + size % 2
    return 0, False


def _check_header(
    sound: soundfile.SoundFile, *, data: bytes, container: str, max_duration_s: float
) -> None:
    if sound.format != container:  # e.g. an ID3 tag in front of a WAV file
        raise _unsupported(f"The file's contents are not the {container} its first bytes announce.")
    if sound.samplerate > MAX_SAMPLE_RATE or sound.channels > MAX_CHANNELS:
        raise _invalid(
            f"Audio must have at most {MAX_CHANNELS} channels and a sample rate of at most "
            f"{MAX_SAMPLE_RATE} Hz."
        )
    claimed, complete = _wav_data_claim(data) if container == "WAV" else (sound.frames, True)
    if max(claimed, sound.frames) / sound.samplerate > max_duration_s:
        raise ApiError(
            "audio_too_long", f"The audio is longer than {max_duration_s:g} seconds.", param="file"
        )
    if not complete:
        raise _invalid("The WAV header does not match the data that follows it (truncated?).")


def validate_audio(
    data: bytes, *, declared_type: str | None, max_bytes: int, max_duration_s: float
) -> ValidatedAudio:
    """Accept an uploaded recording or refuse it with a stable code, cheapest check first."""
    if not data:
        raise _invalid("The audio file is empty.")
    if len(data) > max_bytes:
        raise ApiError(
            "payload_too_large", f"The audio file is larger than {max_bytes} bytes.", param="file"
        )
    container = _container(data)
    _check_declared_type(declared_type, container)
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sound:
            _check_header(sound, data=data, container=container, max_duration_s=max_duration_s)
            samples = sound.read(dtype="float32", always_2d=True)
            sample_rate, channels = sound.samplerate, sound.channels
    except soundfile.SoundFileError as error:
        raise _invalid(f"The {container} file is damaged or truncated.") from error
    if not len(samples):
        raise _invalid("The audio file contains no samples.")
    if not np.isfinite(samples).all():
        raise _invalid("The audio contains NaN or infinite samples.")
    return ValidatedAudio(
        samples=samples,
        sample_rate=sample_rate,
        channels=channels,
        duration_s=len(samples) / sample_rate,
        format=container,
        size_bytes=len(data),
    )
