import numpy as np
import pytest
from PIL import Image, ImageFile

from inference.pipeline.validate.image import validate_image
from portal.errors import ApiError
from tests.malformed import encoded, png_claiming

MAX_BYTES = 1_000_000
MAX_PIXELS = 10_000_000


def photo(width: int = 48, height: int = 32) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def validate(data: bytes, *, declared_type: str | None = None, **limits):
    limits = {"max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS, **limits}
    return validate_image(data, declared_type=declared_type, **limits)


def rejection(data: bytes, **options) -> ApiError:
    with pytest.raises(ApiError) as caught:
        validate(data, **options)
    return caught.value


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding a file's pixels (ImageFile.load, which every plugin here runs) fails the test."""

    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_the_no_decoding_guard_sees_a_decode(no_decoding):
    with pytest.raises(AssertionError, match="pixels were decoded"):
        validate(png_claiming(4, 4))


@pytest.mark.parametrize(
    "image_format, declared_type",
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")],
)
def test_a_valid_file_becomes_an_rgb_image(image_format, declared_type):
    data = encoded(photo(48, 32), image_format)
    result = validate(data, declared_type=declared_type)
    assert (result.format, result.width, result.height) == (image_format, 48, 32)
    assert (result.image.mode, result.image.size) == ("RGB", (48, 32))
    assert (result.size_bytes, result.animated) == (len(data), False)


def test_lossless_pixels_survive_validation():
    picture = photo()
    assert validate(encoded(picture, "PNG")).image.tobytes() == picture.tobytes()


@pytest.mark.parametrize("declared_type", [None, "", "application/octet-stream"])
def test_an_undeclared_type_is_judged_by_the_magic_bytes(declared_type):
    assert validate(encoded(photo(), "PNG"), declared_type=declared_type).format == "PNG"


def test_the_declared_type_ignores_case_and_parameters():
    data = encoded(photo(), "JPEG")
    assert validate(data, declared_type=" Image/JPEG; q=0.9").format == "JPEG"


def test_image_jpg_is_taken_for_jpeg():
    assert validate(encoded(photo(), "JPEG"), declared_type="image/jpg").format == "JPEG"


def test_an_empty_file_is_an_invalid_image():
    assert rejection(b"").code == "invalid_image"


def test_a_file_over_max_bytes_is_too_large_before_anything_is_parsed(monkeypatch):
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("the file was opened"))
    data = encoded(photo(), "PNG")
    error = rejection(data, max_bytes=len(data) - 1)
    assert (error.code, error.status) == ("payload_too_large", 413)


def test_a_file_of_exactly_max_bytes_passes():
    data = encoded(photo(), "PNG")
    assert validate(data, max_bytes=len(data)).size_bytes == len(data)


def test_a_gif_declared_as_png_is_unsupported():
    gif = encoded(photo(), "GIF")
    assert rejection(gif, declared_type="image/png").code == "unsupported_media_type"


def test_an_html_file_declared_as_jpeg_is_unsupported():
    html = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
    assert rejection(html, declared_type="image/jpeg").code == "unsupported_media_type"


def test_a_pdf_is_unsupported():
    pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    error = rejection(pdf, declared_type="application/pdf")
    assert (error.code, error.status) == ("unsupported_media_type", 415)


def test_a_bmp_is_unsupported():
    assert rejection(encoded(photo(), "BMP")).code == "unsupported_media_type"


def test_a_jpeg_declared_as_png_is_unsupported(no_decoding):
    jpeg = encoded(photo(), "JPEG")
    assert rejection(jpeg, declared_type="image/png").code == "unsupported_media_type"


def test_a_png_declared_as_text_is_unsupported():
    png = encoded(photo(), "PNG")
    assert rejection(png, declared_type="text/plain").code == "unsupported_media_type"


def test_a_header_claiming_30000_by_30000_is_refused_without_decoding(no_decoding):
    assert rejection(png_claiming(30_000, 30_000)).code == "image_too_large"


def test_the_pixel_limit_holds_when_pillows_global_guard_is_off(monkeypatch, no_decoding):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert rejection(png_claiming(30_000, 30_000)).code == "image_too_large"


def test_a_header_over_max_pixels_is_refused_before_decoding(no_decoding):
    error = rejection(png_claiming(5_000, 5_000), max_pixels=1_000_000)
    assert error.code == "image_too_large"
    assert "5000x5000" in error.message


def test_an_image_of_exactly_max_pixels_passes():
    assert validate(encoded(photo(48, 32), "PNG"), max_pixels=48 * 32).width == 48


def test_pillows_decompression_bomb_warning_is_a_rejection(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.warns(Image.DecompressionBombWarning):
        error = rejection(encoded(photo(40, 40), "PNG"), max_pixels=MAX_PIXELS)
    assert error.code == "image_too_large"


def test_a_truncated_png_is_an_invalid_image():
    data = encoded(photo(), "PNG")
    assert rejection(data[: len(data) // 2]).code == "invalid_image"


def test_a_png_with_a_broken_header_is_an_invalid_image():
    data = bytearray(png_claiming(4, 4))
    data[29] ^= 0xFF  # the IHDR checksum
    assert rejection(bytes(data)).code == "invalid_image"


def test_a_corrupt_jpeg_body_is_an_invalid_image():
    data = encoded(photo(), "JPEG")
    scan = data.index(b"\xff\xda")
    body = scan + 2 + int.from_bytes(data[scan + 2 : scan + 4], "big")
    corrupt = data[: body + 50] + b"\xff\xd8" + data[body + 50 :]  # a stray start-of-image
    assert rejection(corrupt).code == "invalid_image"


def test_decoding_refuses_to_run_with_pillows_truncated_images_switch_on(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        validate(encoded(photo(), "PNG"))


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_an_animation_keeps_its_first_frame_and_says_so(image_format):
    frames = [Image.new("RGB", (8, 6), colour) for colour in ("red", "blue", "lime")]
    data = encoded(frames[0], image_format, save_all=True, append_images=frames[1:], lossless=True)
    result = validate(data)
    assert (result.animated, result.image.size) == (True, (8, 6))
    assert result.image.getpixel((4, 3)) == (255, 0, 0)


def test_a_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red ink
    result = validate(encoded(cmyk, "JPEG", quality=100))
    assert result.image.mode == "RGB"
    red, green, blue = result.image.getpixel((8, 8))
    assert red > 240 and green < 15 and blue < 15


def test_a_palette_png_with_transparency_becomes_rgb_on_white():
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])  # index 0 black (transparent), 1 red
    palette.putpixel((0, 0), 1)
    result = validate(encoded(palette, "PNG", transparency=0))
    assert result.image.mode == "RGB"
    assert result.image.getpixel((0, 0)) == (255, 0, 0)
    assert result.image.getpixel((3, 3)) == (255, 255, 255)


def test_a_16_bit_grey_png_is_scaled_to_8_bit_rgb():
    grey = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
    assert grey.mode == "I;16"
    result = validate(encoded(grey, "PNG"))
    assert result.image.mode == "RGB"
    assert [result.image.getpixel((x, 0)) for x in range(3)] == [
        (0, 0, 0),
        (128, 128, 128),
        (255, 255, 255),
    ]


def test_an_rgba_png_is_composited_onto_white():
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 255, 255))
    result = validate(encoded(rgba, "PNG"))
    assert result.image.mode == "RGB"
    assert [result.image.getpixel((x, 0)) for x in range(2)] == [(255, 255, 255), (0, 0, 255)]


def test_a_half_transparent_grey_png_is_blended_with_white():
    grey_alpha = Image.new("LA", (1, 1), (0, 128))
    assert validate(encoded(grey_alpha, "PNG")).image.getpixel((0, 0)) == (127, 127, 127)


def test_a_grey_png_becomes_rgb():
    result = validate(encoded(Image.new("L", (3, 3), 77), "PNG"))
    assert (result.image.mode, result.image.getpixel((1, 1))) == ("RGB", (77, 77, 77))


def test_an_exif_rotated_jpeg_comes_out_upright():
    picture = Image.new("RGB", (40, 20), "blue")
    picture.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    result = validate(encoded(picture, "JPEG", exif=exif, quality=95))
    assert (result.width, result.height) == (20, 40)
    assert result.image.size == (20, 40)
    assert result.image.getpixel((10, 5))[0] > 200  # the red half is now on top
    assert result.image.getpixel((10, 35))[2] > 200


def test_a_malformed_exif_tag_does_not_stop_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Cam"  # Make, ASCII
    data = encoded(Image.new("RGB", (40, 20)), "JPEG", exif=exif)
    make = b"\x01\x0f\x00\x02"  # tag 0x010F, type ASCII, as Pillow writes it (big-endian)
    assert data.count(make) == 1
    data = data.replace(make, b"\x01\x1e\x00\x02")  # now XPosition, a RATIONAL, holding text
    assert validate(data).image.size == (20, 40)


def test_errors_never_quote_the_file():
    secret = b"<html>patient 4711 diagnosis</html>"
    errors = [
        rejection(secret, declared_type="image/png"),
        rejection(b"\x89PNG\r\n\x1a\n" + secret),
        rejection(encoded(photo(), "PNG"), declared_type="text/html; patient=4711"),
    ]
    assert all("4711" not in error.message and error.param == "file" for error in errors)
