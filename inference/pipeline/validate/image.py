"""Stage 1 for pictures: a file becomes an upright RGB image, or a clear error.

The checks run cheapest first, and nothing decodes pixels until the header checks have passed:
size in bytes, magic bytes (PNG, JPEG or WebP only), the declared type against them, then the
dimensions read from the header, and only then the pixels. A file of a few kilobytes can claim
billions of pixels, so decoding before the dimension check would let one request exhaust the
memory of the process; checking the type before Pillow opens anything keeps its many other
format parsers out of reach.

`declared_type` is a MIME type as an HTTP request gives it (a multipart part's Content-Type):
case and parameters are ignored, and None, "" or application/octet-stream make no claim, since
clients that do not know the type send those. Anything else must name the format that the
magic bytes show. Callers holding only a filename map it with `mimetypes.guess_type` first.

Errors say what is wrong with the file, never what it contains.
"""

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageFile

from portal.errors import ApiError

DECLARED_TYPES = {
    "image/png": "PNG",
    "image/apng": "PNG",
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/webp": "WEBP",
}
NO_CLAIM = ("", "application/octet-stream")
# EXIF orientation -> the transposition that shows the picture upright (ImageOps' table).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow raises for a file it cannot parse or decode (UnidentifiedImageError is an OSError).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class ValidatedImage:
    """A decoded picture: RGB, EXIF orientation applied, first frame only."""

    image: Image.Image
    format: str  # "PNG" | "JPEG" | "WEBP", from the magic bytes
    width: int  # after orientation
    height: int
    size_bytes: int
    animated: bool  # the file held more than one frame; only the first is kept


def _invalid(message: str) -> ApiError:
    return ApiError("invalid_image", message, param="file")


def _check_size(data: bytes, *, max_bytes: int) -> None:
    if not data:
        raise _invalid("The file is empty.")
    if len(data) > max_bytes:
        raise ApiError(
            "payload_too_large",
            f"The image is {len(data)} bytes; at most {max_bytes} are accepted.",
            param="file",
        )


def _sniff_format(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise ApiError(
        "unsupported_media_type", "The file is not a PNG, JPEG or WebP image.", param="file"
    )


def _check_declared_type(declared_type: str | None, image_format: str) -> None:
    media_type = (declared_type or "").split(";")[0].strip().lower()
    if media_type not in NO_CLAIM and DECLARED_TYPES.get(media_type) != image_format:
        raise ApiError(
            "unsupported_media_type",
            f"The declared type does not match the file, which is a {image_format} image.",
            param="file",
        )


def _open_lazily(data: bytes, image_format: str) -> ImageFile.ImageFile:
    """Parse the header only, with the one parser the magic bytes chose."""
    try:
        return Image.open(io.BytesIO(data), formats=[image_format])
    except Image.DecompressionBombError as error:
        raise ApiError(
            "image_too_large", "The image has more pixels than are accepted.", param="file"
        ) from error
    except DECODE_ERRORS as error:
        raise _invalid(f"The file is not a readable {image_format} image.") from error


def _check_pixels(source: Image.Image, *, max_pixels: int) -> None:
    # NOTE: Image.open has already applied Pillow's process-wide guard: it raised above twice
    # Image.MAX_IMAGE_PIXELS (mapped in _open_lazily) and only warned above it. The smaller limit
    # makes that warning a rejection too, without a warnings filter (catch_warnings is not
    # thread-safe before Python 3.14) and without changing Pillow's global; max_pixels alone
    # holds when the global is None.
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    width, height = source.size
    if width * height > limit:
        raise ApiError(
            "image_too_large",
            f"The image is {width}x{height} pixels; at most {limit} pixels are accepted.",
            param="file",
        )


def _upright(image: Image.Image) -> Image.Image:
    # NOTE: not ImageOps.exif_transpose, which afterwards re-encodes the whole EXIF block and
    # raises TypeError on malformed tags (found by fuzzing); only the orientation matters here.
    method = UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation))
    return image if method is None else image.transpose(method)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16"):  # 16-bit grey: Pillow's convert would clip, not scale
        image = Image.fromarray((np.asarray(image).clip(0, 65535) >> 8).astype(np.uint8))
    if not image.has_transparency_data:
        return image.convert("RGB")
    # NOTE: transparent pixels go onto white, as transformers' convert_to_rgb does: models
    # learned from pictures shown on white pages, and dropping alpha instead would expose
    # whatever colour the encoder left under it.
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")


def _decode(source: ImageFile.ImageFile) -> Image.Image:
    """The first frame's pixels, upright and RGB."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # NOTE: a process-wide Pillow switch: with it on, a truncated file decodes as grey fill.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; it must stay off.")
    try:
        source.load()
        return _to_rgb(_upright(source))
    except DECODE_ERRORS as error:
        raise _invalid("The image data is truncated or corrupt.") from error


def validate_image(
    data: bytes, *, declared_type: str | None, max_bytes: int, max_pixels: int
) -> ValidatedImage:
    _check_size(data, max_bytes=max_bytes)
    image_format = _sniff_format(data)
    _check_declared_type(declared_type, image_format)
    with _open_lazily(data, image_format) as source:
        _check_pixels(source, max_pixels=max_pixels)
        animated = getattr(source, "n_frames", 1) > 1
        image = _decode(source)
    return ValidatedImage(
        image=image,
        format=image_format,
        width=image.width,
        height=image.height,
        size_bytes=len(data),
        animated=animated,
    )
