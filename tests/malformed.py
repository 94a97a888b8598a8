"""Builders of real media files, well-formed and malformed, shared by the validator tests and
the API tests: each makes the exact bytes a careless or hostile client could send."""

import io
import struct
import zlib

import numpy as np
import soundfile
from PIL import Image


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header for an 8-bit RGB picture of any size, with a tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + png_chunk(b"IEND", b"")
    )


def written(samples: np.ndarray, *, sample_rate=16_000, format="WAV", subtype=None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=format, subtype=subtype)
    return buffer.getvalue()


def pcm_wav(*, claimed_bytes: int, pcm: bytes, sample_rate=16_000) -> bytes:
    """A mono 16-bit WAV whose data chunk claims claimed_bytes and holds pcm."""
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    body = b"WAVE" + struct.pack("<4sI", b"fmt ", len(fmt)) + fmt
    body += struct.pack("<4sI", b"data", claimed_bytes) + pcm
    return b"RIFF" + struct.pack("<I", len(body) - len(pcm) + claimed_bytes) + body
