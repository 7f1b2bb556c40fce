"""Multipart uploads streamed into the service's private temp folder, under a size limit.

The body is parsed as it arrives (``python_multipart``, the parser Starlette
itself uses), so an upload over the limit is refused at the first byte past
it, not after it has been stored. Exactly one part is read: ``file``, the
image's bytes. Any other part (a ``path``, a URL) is refused: the service
never opens a file or a URL a caller names. The bytes go to one file in the
folder the service made for uploads (mode 0600) and nowhere else; the caller
deletes it with :meth:`Upload.discard` once the answer is ready.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import ApiError

FIELD = "file"
#: room for the multipart framing (boundaries, part headers) on top of the file's own bytes
FRAMING = 64 * 1024
HOW = "send the image as multipart/form-data with one part named 'file' (curl -F file=@photo.jpg URL)"


@dataclass
class Upload:
    """One received image: its temp file, the name the client gave it (a label only), size and sha256."""

    path: Path
    label: str
    size: int
    sha256: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def label_of(filename: str | None) -> str:
    """The client's file name reduced to a label: the last path component, control characters dropped,
    at most 200 characters. It names the image in the answer; nothing is ever opened by it."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable())[:200].strip()
    return name or "upload"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.1f} GB"


class _Receiver:
    """Callbacks of the multipart parser: route the ``file`` part's bytes into a temp file, refuse the rest."""

    def __init__(self, folder: Path, limit: int):
        self.folder, self.limit = folder, limit
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.fh = None
        self.path: Path | None = None
        self.label = ""
        self.size = 0
        self.digest = hashlib.sha256()
        self.writing = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda data, start, end: self.header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self.header_value.extend(data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.headers = {}

    def header_end(self) -> None:
        self.headers[bytes(self.header_field).lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        disposition, params = parse_options_header(self.headers.get(b"content-disposition"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if disposition != b"form-data" or not name:
            raise ApiError(400, f"a part without a form-data name; {HOW}")
        if name != FIELD:
            raise ApiError(400, f"unexpected form field {name[:40]!r}: only the part 'file', holding the image's "
                                "bytes, is read; file paths and URLs are not accepted")  # fmt: skip
        if self.path is not None:
            raise ApiError(400, "more than one 'file' part: one image per request")
        fd, name = tempfile.mkstemp(dir=self.folder, prefix="upload-")
        self.fh, self.path = os.fdopen(fd, "wb"), Path(name)
        self.label = label_of(params.get(b"filename", b"").decode("utf-8", "replace"))
        self.writing = True

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.writing:
            return
        self.size += end - start
        if self.size > self.limit:
            raise ApiError(413, f"the image is over the upload limit of {_mb(self.limit)}")
        chunk = data[start:end]
        self.fh.write(chunk)
        self.digest.update(chunk)

    def part_end(self) -> None:
        if self.writing:
            self.fh.close()
            self.writing = False

    def close(self) -> None:
        if self.fh is not None and not self.fh.closed:
            self.fh.close()

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive(request, folder: Path, limit: int) -> Upload:
    """Stream a request's multipart body into ``folder``; the one image it holds, as an :class:`Upload`.

    Raises:
        ApiError: 415 not multipart, 413 over ``limit`` bytes (from Content-Length before reading, or
            counted as it arrives), 400 a malformed body or a part other than ``file``, 422 no ``file``
            part. Nothing is left in ``folder`` when it raises.
    """
    mime, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        shown = mime.decode("latin-1")[:60] or "none"
        raise ApiError(415, f"the body is {shown!r}, not multipart/form-data; {HOW}")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FRAMING:
        raise ApiError(413, f"the body is {_mb(int(declared))}, over the upload limit of {_mb(limit)}")
    rx = _Receiver(folder, limit)
    parser = MultipartParser(boundary, rx.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + FRAMING:  # a body without Content-Length, or with a false one
                raise ApiError(413, f"the body is over the upload limit of {_mb(limit)}")
            parser.write(chunk)
        parser.finalize()
        if rx.path is None:
            raise ApiError(422, f"no part named 'file'; {HOW}")
        if rx.writing:  # the body ended inside the part
            raise ApiError(400, "the multipart body ends before the 'file' part does")
    except MultipartParseError as exc:
        rx.discard()
        raise ApiError(400, f"malformed multipart body ({exc}); {HOW}") from None
    except BaseException:  # ApiError, the client going away, cancellation: leave nothing behind
        rx.discard()
        raise
    rx.close()
    return Upload(path=rx.path, label=rx.label, size=rx.size, sha256=rx.digest.hexdigest())
