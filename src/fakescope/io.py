"""Image loading: one loader, explicit about every conversion, never resizing.

Detectors look for traces that resampling and recompression destroy, so this
module only decodes. Every conversion it does make (16-bit to 8-bit, CMYK to
RGB, alpha composited on white, EXIF rotation) is recorded in
:class:`ImageInfo.conversions` so a report can say what happened to the pixels.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF (and AVIF on older Pillow) through the maintained plugin.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - optional extra
    pass

#: Largest image accepted, in pixels. Pillow's own guard warns at 89 MP and
#: fails at twice that; we fail early with a clear message instead.
MAX_PIXELS = int(os.environ.get("FAKESCOPE_MAX_PIXELS", 16_000 * 16_000 // 2))

IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .jfif .png .webp .tif .tiff .bmp .gif .avif .heic .heif .jp2 .ppm .pgm .pbm .tga .ico".split()
)


#: key in ``Image.info`` of a JPEG decoded at full scale on its own grid: its quantisation tables
JPEG_TABLES = "jpeg_quantization"


class ImageLoadError(ValueError):
    """An image could not be read. The message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageTooLargeError(ImageLoadError):
    """The image claims more pixels than :data:`MAX_PIXELS`; refused from its header, before decoding."""


#: Formats recognised by their signature (magic bytes), as Pillow names them; :func:`sniff_format` picks
#: among them. TGA and the other formats without a signature are left out on purpose: only a file's own
#: bytes may say what it is.
SIGNED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "AVIF", "HEIF", "JPEG2000", "PPM", "ICO")


def sniff_format(data: bytes, formats: tuple[str, ...] = SIGNED_FORMATS) -> str | None:
    """The format whose signature the first bytes of ``data`` carry (Pillow's own checks), among
    ``formats`` (HEIF only where its plugin is installed); ``None`` when none matches.

    The name and the declared content type of a file are not evidence of its format; its bytes are.
    """
    Image.init()
    head = bytes(data[:16])
    for fmt in formats:
        accept = Image.OPEN.get(fmt, (None, None))[1]
        try:
            if accept is not None and accept(head):
                return fmt
        except Exception:  # noqa: BLE001 - some signature checks fail on very short inputs
            continue
    return None


@dataclass
class ImageInfo:
    """What the file was before decoding, for reports and the shortcut audit."""

    path: str
    format: str  # as Pillow names it: JPEG, PNG, WEBP, ...
    width: int
    height: int
    mode: str  # the mode in the file, before conversion
    file_size: int
    jpeg_quality: int | None = None  # estimated from the quantisation tables
    n_frames: int = 1
    conversions: list[str] = field(default_factory=list)


def estimate_jpeg_quality(img: Image.Image) -> int | None:
    """Estimate the IJG quality factor (1-100) from a JPEG's luminance table.

    Inverts libjpeg's scaling of the standard table; exact for files written
    by libjpeg with a plain quality setting, an approximation otherwise.
    """
    tables = getattr(img, "quantization", None)
    if not tables:
        return None
    luma = np.asarray(tables.get(0, next(iter(tables.values()))), dtype=np.float64)
    std = np.asarray(_STD_LUMA, dtype=np.float64)
    # libjpeg: q_table = floor((std * scale + 50) / 100), scale in percent.
    scale = float(np.median(luma * 100.0 / std))
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return int(np.clip(round(quality), 1, 100))


# Annex K luminance table (zig-zag order, as Pillow returns it).
_STD_LUMA = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40,
    26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
    56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
    95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
]  # fmt: skip


def _to_rgb(img: Image.Image, info: ImageInfo) -> Image.Image:
    """Convert any mode to 8-bit RGB, recording each deliberate choice."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit files use the full 0..65535 range; 32-bit int/float images are
        # scaled by their own maximum so that the picture stays visible.
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr8 = np.clip(np.round(arr / top * 255.0), 0, 255).astype(np.uint8)
        info.conversions.append(f"{mode}->8bit")
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "CMYK":
        info.conversions.append("CMYK->RGB")
        return img.convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        info.conversions.append("palette->RGB")
        if img.mode == "RGB":
            return img
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            # Transparent pixels carry arbitrary colours; show them as a viewer would.
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgba = Image.alpha_composite(background, rgba)
            info.conversions.append("alpha composited on white")
        else:
            info.conversions.append("opaque alpha dropped")
        return rgba.convert("RGB")
    info.conversions.append(f"{mode}->RGB")
    return img.convert("RGB")


def open_image(
    source: str | os.PathLike | bytes, name: str | None = None, min_side: int | None = None,
    formats: tuple[str, ...] | None = None,
) -> tuple[Image.Image, ImageInfo]:
    """Decode an image file (or bytes) into 8-bit RGB without resizing it.

    Args:
        source: a path, or the encoded bytes of an image.
        name: how to name the image in errors when ``source`` is bytes.
        min_side: set only by a caller whose views all accept a smaller image (see
            ``features.extract.decode_min_side``): a JPEG whose shorter side is at least
            twice this is then decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
            (libjpeg's scaled inverse DCT, the largest reduction that keeps the shorter
            side at least ``min_side``), which skips most of the decoding work. The
            reduction is recorded in ``conversions``; ``width``/``height`` stay the
            file's. Other formats, and every call without ``min_side``, decode in full.
        formats: decode only with these decoders (e.g. the one :func:`sniff_format` found);
            default: any decoder Pillow has.

    Returns:
        The RGB image and an :class:`ImageInfo` describing the file.

    Raises:
        ImageLoadError: the file is missing, empty, not an image, truncated,
            corrupt, or larger than :data:`MAX_PIXELS` (then :class:`ImageTooLargeError`).
    """
    label, data = _source_bytes(source, name)
    with warnings.catch_warnings():
        # We apply our own limit; Pillow's bomb warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img, info = _open_header(data, label, formats)
        width, height = info.width, info.height
        if min_side and info.format == "JPEG":
            _draft(img, min_side, info)
        try:
            img.load()
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt data
            raise ImageLoadError(label, f"corrupt or truncated image data ({exc})") from None
        if _orientation(img) not in (None, 1):
            # A lossless rotation/flip: show the picture the way its author saw it.
            img = ImageOps.exif_transpose(img)
            info.conversions.append("EXIF orientation applied")
        elif info.format == "JPEG" and img.size == (width, height) and getattr(img, "quantization", None):
            # Pixels still on the file's 8x8 grid at full scale: keep the quantisation tables (natural order)
            # for the JPEG forensic maps; ``info`` travels with the RGB copy.
            img.info[JPEG_TABLES] = {k: list(v) for k, v in img.quantization.items()}
        rgb = _to_rgb(img, info)
    return rgb, info


def _source_bytes(source: str | os.PathLike | bytes, name: str | None) -> tuple[str, bytes]:
    """``(label, bytes)`` of a path or of encoded bytes; an empty file is an :class:`ImageLoadError`."""
    if isinstance(source, (bytes, bytearray)):
        label, data = name or "<bytes>", bytes(source)
    else:
        label = str(source)
        data = _read_file(source, label)
    if not data:
        raise ImageLoadError(label, "empty file (0 bytes)")
    return label, data


def _open_header(data: bytes, label: str, formats: tuple[str, ...] | None) -> tuple[Image.Image, ImageInfo]:
    """Open ``data`` lazily (header only) and describe it: size, format, frames, bit depth, the pixel limit."""
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
    except UnidentifiedImageError:
        raise ImageLoadError(label, _unidentified(data)) from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(label, f"over the decompression-bomb guard, refused before decoding ({exc})") \
            from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file
        raise ImageLoadError(label, f"cannot decode header ({exc})") from None
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            label,
            f"{width}x{height} is {width * height / 1e6:.0f} MP, over the {MAX_PIXELS / 1e6:.0f} MP "
            "decompression-bomb guard (set FAKESCOPE_MAX_PIXELS to raise it)",
        )
    info = ImageInfo(
        path=label,
        format=img.format or "UNKNOWN",
        width=width,
        height=height,
        mode=img.mode,
        file_size=len(data),
        n_frames=int(getattr(img, "n_frames", 1) or 1),
    )
    if info.format in ("JPEG", "MPO"):
        info.jpeg_quality = estimate_jpeg_quality(img)
    if info.n_frames > 1:
        img.seek(0)
        info.conversions.append(f"first of {info.n_frames} frames")
    # Read before load(), which drops the tile list.
    depth = _sample_bits(img)
    if depth > 8 and img.mode in ("RGB", "RGBA"):
        # Pillow reduces 16-bit colour to 8 bits as it decodes (grey keeps 16 and is scaled below).
        info.conversions.append(f"{depth}-bit {img.mode}->8bit")
    return img, info


def probe_image(source: str | os.PathLike | bytes, name: str | None = None) -> tuple[ImageInfo, int | None]:
    """What :func:`open_image` would report about a file, read from its header alone: the
    :class:`ImageInfo` (its ``conversions`` name what decoding will do to the pixels, EXIF
    orientation included, except a mode conversion, which only :func:`open_image` knows) and the
    EXIF orientation (1-8, or ``None``). For decoders elsewhere, e.g. a GPU's.

    Raises:
        ImageLoadError: as :func:`open_image` does for what the header shows.
    """
    label, data = _source_bytes(source, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img, info = _open_header(data, label, None)
        orientation = _orientation(img)
    if orientation not in (None, 1):
        info.conversions.append("EXIF orientation applied")
    return info, orientation


def _draft(img: Image.Image, min_side: int, info: ImageInfo) -> None:
    """Ask libjpeg for a DCT-domain reduced decode that keeps the shorter side >= ``min_side``."""
    if min(img.size) < 2 * min_side:
        return
    # Pillow picks the largest of 1/8, 1/4, 1/2 that keeps each side at least the requested one.
    if img.draft(None, (min_side, min_side)) is not None and img.size != (info.width, info.height):
        factor = round(info.width / img.size[0])
        info.conversions.append(f"JPEG decoded at 1/{factor} scale in the DCT domain ({img.size[0]}x{img.size[1]})")


def _read_file(path: str | os.PathLike, label: str) -> bytes:
    """The bytes of a regular file, or an :class:`ImageLoadError` that says what the entry is instead.

    Only regular files are read: a FIFO would block the scan forever, a device
    could stream without end.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageLoadError(label, f"broken symlink (to {os.readlink(path)}, which does not exist)") from None
        raise ImageLoadError(label, "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageLoadError(label, "symlink loop (too many levels of symbolic links)") from None
        raise ImageLoadError(label, f"cannot read file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(label, "is a directory, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(label, f"not a regular file but a {_file_kind(st.st_mode)}; only files are read")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageLoadError(label, f"cannot read file ({exc.strerror or exc})") from None


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "special file")


def _unidentified(data: bytes) -> str:
    """Why no decoder took the file: a format whose signature matches names its own complaint."""
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            if accept is None or not accept(data[:16]):
                continue
        except Exception:  # noqa: BLE001 - some signature checks fail on very short files
            continue
        try:
            factory(io.BytesIO(data), "").close()
        except Exception as exc:  # noqa: BLE001 - the decoder's own message is the diagnosis
            return f"corrupt {fmt} file: {exc}"
    return "not a recognised image format"


def _sample_bits(img: Image.Image) -> int:
    """Bits per sample the file stores, from the decoder's raw mode (``RGB;16B`` -> 16); 8 when unknown."""
    for tile in getattr(img, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        rawmode = args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else "")
        if ";16" in rawmode:
            return 16
    return 8


def _orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - broken EXIF is not our concern here
        return None


def load_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Decode to 8-bit RGB; see :func:`open_image`."""
    return open_image(source)[0]


def iter_image_files(root: str | os.PathLike) -> list[Path]:
    """Entries under ``root`` (recursive, sorted) whose suffix is an image suffix; see :func:`image_entries`."""
    return [p for p, refused in image_entries(root) if refused is None]


def image_entries(root: str | os.PathLike) -> list[tuple[Path, str | None]]:
    """Every entry under ``root`` (recursive, sorted) that a scan reports on, with why it is refused (or None).

    An entry is reported when its name has an image suffix, whatever it is: a
    file, a FIFO, a socket, a broken or looping symlink (reading it then says
    what is wrong). Folder symlinks are followed once: a link to a folder
    already walked (a loop back to an ancestor, or a second link to the same
    folder) is refused with a reason, and a folder that cannot be listed too.
    """
    root = Path(root)
    out: list[tuple[Path, str | None]] = []
    seen: dict[tuple[int, int], str] = {}

    def unlistable(exc: OSError) -> None:
        out.append((Path(exc.filename or root), f"cannot list folder ({exc.strerror or exc})"))

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=unlistable):
        if folder == str(root):
            st = os.stat(folder)
            seen[(st.st_dev, st.st_ino)] = folder
        kept = []
        # Real folders before links, so that a link, not the folder it points to, is the one refused.
        for name in sorted(dirs, key=lambda d: (os.path.islink(os.path.join(folder, d)), d)):
            sub = os.path.join(folder, name)
            try:
                sst = os.stat(sub)
            except OSError:
                continue  # gone since it was listed
            first = seen.get((sst.st_dev, sst.st_ino))
            if first is not None:
                why = f"the same folder as {first}, already scanned (a folder link); not walked again"
                out.append((Path(sub), why))
            else:
                seen[(sst.st_dev, sst.st_ino)] = sub
                kept.append(name)
        dirs[:] = kept
        out += [(Path(folder) / f, None) for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(out, key=lambda e: e[0])
