"""The image loader: every format, every awkward mode, every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fakescope.io import ImageLoadError, estimate_jpeg_quality, open_image


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt,suffix", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif"),
                                        ("BMP", "bmp"), ("GIF", "gif")])  # fmt: skip
def test_formats_decode_to_rgb_without_resizing(tmp_path, rgb, fmt, suffix):
    path = tmp_path / f"x.{suffix}"
    rgb.save(path, format=fmt)
    img, info = open_image(path)
    assert img.mode == "RGB"
    assert img.size == (64, 48)
    assert info.format == fmt
    assert info.file_size == path.stat().st_size


def test_lossless_formats_keep_pixels_exactly(tmp_path, rgb):
    for fmt in ("PNG", "TIFF", "BMP"):
        path = tmp_path / f"x.{fmt.lower()}"
        rgb.save(path, format=fmt)
        assert np.array_equal(np.asarray(open_image(path)[0]), np.asarray(rgb))


def test_animated_gif_takes_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    img, info = open_image(path)
    assert info.n_frames == 3
    assert "first of 3 frames" in info.conversions
    r, g, b = img.getpixel((5, 5))
    assert r > 200 and g < 50 and b < 50


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    img, info = open_image(path)
    out = np.asarray(img)[..., 0]
    assert info.mode.startswith("I")
    assert any("8bit" in c for c in info.conversions)
    assert out.min() == 0 and out.max() == 255  # full range mapped, not clipped at 255/65535
    assert np.all(np.diff(out.ravel().astype(int)) >= 0)  # order preserved


def test_cmyk_jpeg_converts(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    img, info = open_image(path)
    assert info.mode == "CMYK" and "CMYK->RGB" in info.conversions
    r, g, b = img.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_alpha_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent red
    path = tmp_path / "a.png"
    rgba.save(path)
    img, info = open_image(path)
    assert img.getpixel((0, 0)) == (255, 255, 255)
    assert "alpha composited on white" in info.conversions


def test_palette_with_transparency(tmp_path):
    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.info["transparency"] = 0
    path = tmp_path / "p.png"
    p.save(path, transparency=0)
    img, info = open_image(path)
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    base = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    base.save(path, exif=exif)
    img, info = open_image(path)
    assert img.size == (20, 40)
    assert "EXIF orientation applied" in info.conversions


@pytest.mark.parametrize("quality", [50, 75, 90])
def test_jpeg_quality_estimate(tmp_path, rgb, quality):
    path = tmp_path / "q.jpg"
    rgb.save(path, quality=quality)
    with Image.open(path) as im:
        assert abs(estimate_jpeg_quality(im) - quality) <= 1


def _expect_error(path, fragment):
    with pytest.raises(ImageLoadError) as exc:
        open_image(path)
    assert str(path) in str(exc.value)
    assert fragment in exc.value.reason


def test_truncated_jpeg(tmp_path, rgb):
    buf = io.BytesIO()
    rgb.resize((256, 256)).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _expect_error(path, "truncated")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _expect_error(path, "empty file")


def test_text_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    _expect_error(path, "not a recognised image format")


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.jpg", "file not found")


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(200_000, 200_000))  # 40 GP claimed by a tiny file
    _expect_error(path, "decompression-bomb guard")


def test_bytes_input_names_the_image():
    with pytest.raises(ImageLoadError, match="upload.jpg"):
        open_image(b"garbage", name="upload.jpg")


@pytest.mark.parametrize("fmt,suffix,feature", [("AVIF", "avif", "avif"), ("JPEG2000", "jp2", "jpg_2000")])
def test_formats_from_optional_codecs(tmp_path, rgb, fmt, suffix, feature):
    from PIL import features

    if not features.check(feature):
        pytest.skip(f"this Pillow build has no {fmt} codec")
    path = tmp_path / f"x.{suffix}"
    rgb.save(path, format=fmt)
    img, info = open_image(path)
    assert img.size == (64, 48) and info.format == fmt


def test_heic_through_the_maintained_plugin(tmp_path, rgb):
    pytest.importorskip("pillow_heif", reason="the 'heif' extra is not installed")
    path = tmp_path / "x.heic"
    rgb.save(path, format="HEIF")
    img, info = open_image(path)
    assert img.size == (64, 48) and info.format == "HEIF"


def test_sniff_format_reads_the_signature_only():
    from fakescope.io import sniff_format
    from tests.malformed import encoded, photo

    img = photo(0, (32, 24))
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        assert sniff_format(encoded(img, fmt)) == fmt
    assert sniff_format(b"plain text") is None and sniff_format(b"") is None
    assert sniff_format(b"%!PS-Adobe-3.0 EPSF-3.0\n") is None  # Pillow opens EPS through Ghostscript: not us
    assert sniff_format(encoded(img, "TGA")) is None  # no signature: its bytes cannot say what it is


def test_pixel_guard_raises_its_own_error_before_decoding():
    from fakescope.io import ImageLoadError, ImageTooLargeError, open_image
    from tests.malformed import png_bomb

    with pytest.raises(ImageTooLargeError, match="decompression-bomb guard") as exc:
        open_image(png_bomb(), name="bomb.png", formats=("PNG",))
    assert isinstance(exc.value, ImageLoadError)
