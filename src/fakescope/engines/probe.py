"""The CPU's share of scanning a file whose pixels are decoded elsewhere (a GPU).

:func:`probe` reads a file's header and its provenance metadata, everything a row needs
except the pixels. It imports neither torch nor the detectors, so process pools and Ray
tasks can run it cheaply beside a GPU that decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..io import ImageInfo, ImageLoadError, _read_file, probe_image

#: JPEG start- and end-of-image markers: a file without the end one at its end is cut, and only Pillow
#: says how
JPEG_SOI, JPEG_EOI = b"\xff\xd8", b"\xff\xd9"


@dataclass
class Probed:
    """One entry as the CPU sees it before decoding."""

    path: str
    error: str | None = None
    info: ImageInfo | None = None  # JPEGs only: Pillow describes the other files as it decodes them
    orientation: int | None = None
    provenance: dict | None = None
    #: a plain 8-bit colour JPEG, whole, that a GPU decoder can take (others go to Pillow)
    device_jpeg: bool = False


def probe(path: str, data: bytes | None = None) -> Probed:
    """Header, provenance and decoder choice of one entry (its bytes read here unless given).

    Only a JPEG's header is read here: every other file is decoded by Pillow anyway, which then
    says what it is (or why it cannot be read), so its header is not parsed twice (a PNG's EXIF,
    which may follow its pixels, would cost a second decode).
    """
    from ..provenance import evidence

    try:
        if data is None:
            data = _read_file(path, path)
        if not data.startswith(JPEG_SOI):
            return Probed(path, provenance=evidence(data) if data else None)
        info, orientation = probe_image(data, name=path)
    except ImageLoadError as exc:
        return Probed(path, error=exc.reason)
    plain = info.format == "JPEG" and info.mode == "RGB" and info.n_frames == 1
    return Probed(path, info=info, orientation=orientation, provenance=evidence(data),
                  device_jpeg=plain and data.rstrip(b"\0").endswith(JPEG_EOI))  # fmt: skip
