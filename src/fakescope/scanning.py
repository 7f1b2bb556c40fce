"""Scanning: many images in, one result row per image out, nothing lost.

Images are decoded on worker threads while the detector works on the
previous batch; rows are written and flushed batch by batch, so memory stays
flat however many images there are and an interrupted scan loses at most one
batch. A rerun with the same output file skips the images already in it.

Each readable image's row also holds ``provenance``: what the file's metadata
says about its origin (C2PA, IPTC/XMP, EXIF, generators' PNG text; see
:mod:`fakescope.provenance`). It is separate evidence, never folded into
``p_fake``; CSV holds it as compact JSON. With an attributor, rows also say which
family of generator and which generator most likely made the image (``family``,
``generator``, ``attribution_p``; ``generator`` may be ``unknown``); without one
those fields are empty.

Every entry the scan meets gets a row, readable or not. Rows are valid UTF-8
whatever the file names: ``path`` is the name as text and, when the name is
not valid UTF-8, ``path_bytes`` holds its exact bytes percent-encoded
(:func:`row_path` turns a row back into the name to open). Resuming keys on
the absolute path, so a folder given as ``photos/`` or ``/home/me/photos``
is the same folder.
"""

from __future__ import annotations

import csv
import glob
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

from .io import IMAGE_SUFFIXES, ImageLoadError, image_entries, open_image
from .types import Verdict

FIELDS = ["path", "p_fake", "verdict", "verdict_set", "reliability", "detector", "error", "width", "height", "format",
          "notes", "provenance", "family", "generator", "attribution_p", "path_bytes"]
LOCALIZATION_FIELDS = ["heatmap", "overlay", "flagged_share", "localizer", "localizer_p_fake", "explanation"]
MANIFEST_SUFFIXES = {".csv", ".tsv", ".jsonl"}
#: Output formats by the suffix of the output file; any other suffix needs an explicit format.
OUTPUT_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
FORMATS = ("jsonl", "csv", "parquet")


class UsageError(ValueError):
    """The scan was asked for something impossible (no inputs, bad format, an output it cannot write)."""


@dataclass
class Inputs:
    """What a scan's inputs expand to."""

    #: every entry that gets a row, in order
    paths: list[str]
    #: entries refused before reading (a folder link already walked, a folder that cannot be listed) and why
    refused: dict[str, str] = field(default_factory=dict)


def find_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> Inputs:
    """Files, folders (recursive), glob patterns and manifests -> the entries to scan, in order.

    Anything named explicitly is kept whatever it is (a file of any suffix, a
    FIFO, a broken symlink), so that it gets an error row rather than being
    skipped in silence. Entries reached twice (``a.jpg`` and ``./a.jpg``, a
    folder named twice) are scanned once.
    """
    from .data.manifest import Manifest

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found = Inputs(paths=[])
    for item in map(os.fspath, inputs):
        p = Path(item)
        if p.is_dir():
            for entry, why in image_entries(p):
                found.paths.append(str(entry))
                if why:
                    found.refused[str(entry)] = why
        elif p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
            found.paths += [str(s.file) for s in Manifest.read(p)]
        elif os.path.lexists(item):
            found.paths.append(item)
        elif any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            found.paths += [m for m in matches if not os.path.isdir(m) and Path(m).suffix.lower() in IMAGE_SUFFIXES]
        else:
            raise UsageError(f"{item}: no such file, folder or glob match")
    seen: set[str] = set()
    found.paths = [x for x in found.paths if not (resume_key(x) in seen or seen.add(resume_key(x)))]
    return found


def expand_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """The paths :func:`find_inputs` finds (refused entries included: reading them fails with a reason)."""
    return find_inputs(inputs).paths


def resume_key(path: str) -> str:
    """What identifies an image across runs: its absolute, normalised path (symlinks not resolved, so that
    every name in a folder keeps its own row). A URI (``s3://...``) is its own key."""
    return path if "://" in path else os.path.abspath(path)


# --- rows: valid UTF-8 whatever the file names -------------------------------------------------------------


def path_fields(path: str) -> tuple[str, str | None]:
    """A path -> (``path``, ``path_bytes``) of its row.

    Names are bytes on POSIX; Python holds the bytes that are not UTF-8 as
    surrogate escapes. ``path`` shows each such byte as ``\\xNN`` (valid UTF-8,
    readable, but not always the exact name); ``path_bytes`` is then the exact
    name, percent-encoded (RFC 3986), and ``None`` for every valid name.
    """
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        pass
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte: text that never was a file name
        return path.encode("utf-8", "backslashreplace").decode("utf-8"), None
    return raw.decode("utf-8", "backslashreplace"), quote_from_bytes(raw, safe="/")


def row_path(row: dict) -> str:
    """The path to open for a row of a scan's output (JSONL or CSV): ``path_bytes`` when set, else ``path``."""
    raw = row.get("path_bytes")
    return os.fsdecode(unquote_to_bytes(raw)) if raw else row["path"]


def assess(detector, images: list) -> tuple[list, list]:
    """``(p_fake, reliability)`` of decoded images: a detector's own ``assess`` where it has one (verdict
    sets, distance to its training data), else ``predict_proba`` and no reliability."""
    if not images:
        return [], []
    if hasattr(detector, "assess"):
        return detector.assess(images)
    return list(detector.predict_proba(images)), [None] * len(images)


def output_row(verdict: Verdict | dict) -> dict:
    """A verdict as a row to write: every text valid UTF-8, ``path_bytes`` set for names that are not."""
    row = verdict.to_dict() if isinstance(verdict, Verdict) else dict(verdict)
    path, raw = path_fields(row["path"])
    row["path"], row["path_bytes"] = path, raw or row.get("path_bytes")  # a row made elsewhere keeps its bytes
    for k, v in row.items():
        if isinstance(v, str) and k != "path_bytes":
            row[k] = path_fields(v)[0]  # heatmap paths, error messages quoting a name
    return row


def printable(text: str) -> str:
    """Text for one terminal line: control characters (a newline in a file name) written as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# --- output files: resumable, repaired when a killed run cut the last row -------------------------------------


def done_paths(out: Path, fmt: str | None = None) -> set[str]:
    """Resume keys (:func:`resume_key`) of the complete rows of a previous run's output (JSONL, CSV or Parquet)."""
    out = Path(out)
    fmt = fmt or OUTPUT_SUFFIXES.get(out.suffix.lower(), "jsonl")
    if fmt == "parquet":
        from .parquet_rows import ParquetRows

        return {resume_key(row_path(r)) for r in ParquetRows(out, FIELDS).rows(columns=["path", "path_bytes"])}
    if not out.is_file():
        return set()
    return _scan_output(out, fmt)[0]


def _scan_output(out: Path, fmt: str, fields: list[str] | None = None) -> tuple[set[str], int, bool]:
    """Read a previous run's output: (resume keys of its complete rows, bytes up to the end of the last
    one, whether that row lacks only its line end).

    A killed run can only damage the end of the file (rows are appended): a
    last record that is cut (no line end, a JSON line that does not parse, a
    CSV record with fields missing or inside an open quote) is not a row. The
    file is streamed and only the keys are kept, so resuming a scan of
    millions of images needs no more memory than the set of their paths.
    """
    with open(out, "rb") as fh:
        return (_jsonl_output if fmt == "jsonl" else _csv_output)(out, fh, fields)


def _jsonl_output(out: Path, fh, fields) -> tuple[set[str], int, bool]:
    keys: set[str] = set()
    keep, pos, no_line_end = 0, 0, False
    for i, raw in enumerate(fh, 1):
        pos += len(raw)
        try:
            row = json.loads(raw.decode("utf-8"))
            ok = isinstance(row, dict) and "path" in row
        except ValueError:  # UnicodeDecodeError included: a line cut inside a character
            ok = False
        if ok:
            keys.add(resume_key(row_path(row)))
            keep, no_line_end = pos, not raw.endswith(b"\n")
        elif not raw.strip():
            keep = pos
        elif raw.endswith(b"\n") and not raw.startswith(b'{"path": '):
            raise UsageError(f"{out}:{i}: not a row of a scan's output; write the results to another file")
        # Else the cut last row, or a cut row an older version left when it resumed: not counted as done,
        # and cut off unless complete rows follow it.
    return keys, keep, no_line_end


def _csv_output(out: Path, fh, fields) -> tuple[set[str], int, bool]:
    pos = [0, b""]  # bytes fed to the reader so far, and the last line fed

    def lines():
        for raw in fh:
            pos[0] += len(raw)
            pos[1] = raw
            # csv.reader pulls one line at a time and no further than the end of a record, so pos[0] is
            # where the record just read ends.
            yield raw.decode("utf-8", "surrogateescape")

    size = os.fstat(fh.fileno()).st_size
    reader = csv.reader(lines())
    keys: set[str] = set()
    keep, header = 0, None
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if pos[0] < size:
                raise UsageError(f"{out}: not a scan's CSV output ({exc}); write the results to another file") from None
            break  # the cut last record
        complete = pos[1].endswith(b"\n")
        if header is None:
            if not complete:
                break
            header = record
            if fields is not None and header != fields:
                raise UsageError(f"{out}: its columns {header} are not this scan's {fields}; write the results to "
                                 "another file")  # fmt: skip
            if "path" not in header:
                raise UsageError(f"{out}: not a scan's CSV output (no 'path' column)")
        elif complete and len(record) == len(header):
            keys.add(resume_key(row_path(dict(zip(header, record)))))
        elif pos[0] == size:
            break  # the cut last record: its fields are missing or its last field is cut
        else:
            raise UsageError(f"{out}: a record with {len(record)} fields, not {len(header)}; not a scan's CSV output")
        keep = pos[0]
    return keys, keep, False


def open_output(out: Path, fmt: str, fields: list[str]) -> tuple[object, bool, set[str]]:
    """Open an output file to append to; returns the file, whether it is fresh, and the resume keys done.

    A cut last row is dropped first by truncating the file to the end of its
    last complete row: one system call, so a kill during the repair leaves
    the old file or the repaired one, never a mix, and no copy of a large file.

    Parquet output is a folder of committed part files (:mod:`fakescope.parquet_rows`); the
    "file" returned is then its :class:`~fakescope.parquet_rows.ParquetRows` sink.
    """
    if fmt == "parquet":
        from .parquet_rows import ParquetRows

        sink = ParquetRows(out, fields)
        try:
            fresh, done = sink.open()
        except OSError as exc:
            raise UsageError(f"{out}: cannot write the results there ({exc.strerror or exc})") from None
        return sink, fresh, done
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; the output is a file such as {out / 'results.jsonl'}")
    if os.path.lexists(out) and not out.is_file():
        raise UsageError(f"{out}: not a regular file; the results go to a file (or to stdout)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        done: set[str] = set()
        if out.is_file() and out.stat().st_size:
            done, keep, no_line_end = _scan_output(out, fmt, fields if fmt == "csv" else None)
            if keep < out.stat().st_size:
                os.truncate(out, keep)
            if no_line_end:  # a complete last row that lacks only its line end
                with open(out, "ab") as fh:
                    fh.write(b"\n")
        fresh = not out.exists() or out.stat().st_size == 0
        fh = open(out, "a", newline="" if fmt == "csv" else None, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the results there ({exc.strerror or exc})") from None
    return fh, fresh, done


def read_rows(out: str | Path, fmt: str | None = None, inputs=None) -> Iterator[dict]:
    """The complete rows of a scan's output file (JSONL, CSV or Parquet), as the scan wrote them.

    CSV values come back typed: numbers, lists (``notes``, ``verdict_set``), ``provenance``
    as a dict, and ``None`` for empty cells. A cut last row is skipped. With ``inputs``
    (as :func:`scan` takes them), only the rows of the entries they expand to.
    """
    if inputs is not None:
        keys = {resume_key(p) for p in find_inputs(inputs).paths}
        yield from (r for r in read_rows(out, fmt) if resume_key(row_path(r)) in keys)
        return
    out = Path(out)
    fmt = fmt or OUTPUT_SUFFIXES.get(out.suffix.lower(), "jsonl")
    if fmt == "parquet":
        from .parquet_rows import ParquetRows

        yield from ParquetRows(out, FIELDS).rows()
        return
    with open(out, encoding="utf-8", newline="" if fmt == "csv" else None, errors="surrogateescape") as fh:
        if fmt == "jsonl":
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and "path" in row:
                    yield row
            return
        reader = csv.DictReader(fh)
        for rec in reader:
            if None in rec or any(v is None for v in rec.values()):
                continue  # a cut record
            yield _typed_csv_row(rec)


_CSV_FLOATS, _CSV_INTS = {"p_fake", "attribution_p", "flagged_share", "localizer_p_fake"}, {"width", "height"}


def _typed_csv_row(rec: dict[str, str]) -> dict:
    row: dict = {k: (v if v != "" else None) for k, v in rec.items()}
    for k in _CSV_FLOATS & row.keys():
        row[k] = None if row[k] is None else float(row[k])
    for k in _CSV_INTS & row.keys():
        row[k] = None if row[k] is None else int(row[k])
    if "notes" in row:
        row["notes"] = row["notes"].split("; ") if row["notes"] else []
    if row.get("verdict_set") is not None:
        row["verdict_set"] = [] if row["verdict_set"] == "none" else row["verdict_set"].split("+")
    if row.get("provenance") is not None:
        row["provenance"] = json.loads(row["provenance"])
    return row


class RowWriter:
    """Appends rows as JSONL or CSV, flushing after each batch, or hands them to a Parquet sink
    (:class:`~fakescope.parquet_rows.ParquetRows`, which commits them in row groups)."""

    def __init__(self, fh, fmt: str, write_header: bool, fields: list[str] = FIELDS):
        self.fh, self.fmt = fh, fmt
        self.csv = csv.DictWriter(fh, fieldnames=fields) if fmt == "csv" else None
        if self.csv and write_header:
            self.csv.writeheader()

    def write(self, rows: list[dict]) -> None:
        if self.fmt == "parquet":
            self.fh.write(rows)
            return
        for row in rows:
            if self.csv:
                vs, prov = row.get("verdict_set"), row.get("provenance")
                prov = "" if prov is None else json.dumps(prov, ensure_ascii=False, separators=(",", ":"))
                self.csv.writerow({**row, "notes": "; ".join(row.get("notes") or []), "provenance": prov,
                                   "verdict_set": "" if vs is None else "+".join(vs) or "none"})  # fmt: skip
            else:
                self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.fh.flush()


@dataclass
class ScanSummary:
    total: int = 0
    skipped_done: int = 0
    scanned: int = 0
    errors: int = 0
    verdicts: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    error_examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.scanned / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class DecodePlan:
    """What the decode threads of a scan hand on for each image.

    With ``extractors`` set, only what those extractors read of the image is kept
    (``features.extract.prepare``: a 224 px and a 128 px square for the default),
    so no full-size picture outlives its decoding, and a JPEG is decoded at reduced
    scale when every view can take it (``min_side``). Without, the whole image is kept.
    """

    extractors: tuple[str, ...] = ()
    min_side: int | None = None

    @classmethod
    def for_detector(cls, detector, whole_image: bool = False, attributor=None) -> DecodePlan:
        """The plan for ``detector`` (and ``attributor``, if given): their extractors' inputs, or whole images if
        the detector has none or ``whole_image`` (a localizer also needs the picture)."""
        from .features.extract import EXTRACTORS, decode_min_side

        names = tuple(getattr(detector, "extractors", ()) or ())
        if whole_image or not names or any(n not in EXTRACTORS for n in names):
            return cls()
        names = tuple(dict.fromkeys([*names, *(attributor.extractors if attributor is not None else ())]))
        return cls(extractors=names, min_side=decode_min_side(names))


def _decode(path: str, plan: DecodePlan = DecodePlan()):
    """``(path, image or views, ImageInfo, error, provenance)`` of one entry, on a decode thread."""
    from .provenance import evidence

    try:
        img, info = open_image(path, min_side=plan.min_side)
    except ImageLoadError as exc:
        return path, None, None, exc.reason, None
    if plan.extractors:
        from .features.extract import prepare

        # The full-size picture is dropped here, on the decode thread; only the views travel on.
        img = prepare(img, plan.extractors)
    # Read once the file has proved readable, so that the metadata reader never opens a FIFO or a device.
    return path, img, info, None, evidence(path)


def scan_iter(detector, paths: list[str], batch_size: int = 16, workers: int | None = None, localizer=None,
              heatmaps: str | Path | None = None, attributor=None) -> Iterator[list[Verdict]]:  # fmt: skip
    """Yield verdicts batch by batch, in input order; errors become rows with ``error`` set.

    Images are decoded, and reduced to what the detector's views read, on ``workers``
    threads (default: one per two CPU cores) up to two batches ahead of the detector.
    Rows note every conversion and any view that enlarged the image; an image too small
    to judge gets the verdict ``unsure`` whatever its score (``Verdict.scored``).

    With ``localizer`` and ``heatmaps``, each readable image also gets its manipulation map written
    there (map PNG and overlay) and its row the paths, the share flagged and an explanation. With
    ``attributor``, each readable image's row gets ``family``, ``generator`` and ``attribution_p``.
    """
    with_maps = localizer is not None and heatmaps is not None
    plan = DecodePlan.for_detector(detector, whole_image=with_maps, attributor=attributor)
    decode = partial(_decode, plan=plan)
    # Decoding a 12 MP photo holds about 100 MB (RGBX pixels, and a second copy while an
    # EXIF rotation is applied), while the network costs more CPU than decoding: half the
    # cores keep the network fed and bound memory (one thread on 2 cores).
    workers = workers or max(1, (os.cpu_count() or 2) // 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Keep at most two batches decoding ahead: bounded memory, overlapped I/O.
        pending = []
        it = iter(range(0, len(paths), batch_size))
        for _ in range(2):
            start = next(it, None)
            if start is not None:
                pending.append(pool.map(decode, paths[start : start + batch_size]))
        while pending:
            decoded = list(pending.pop(0))
            start = next(it, None)
            if start is not None:
                pending.append(pool.map(decode, paths[start : start + batch_size]))
            good = [(p, img, info) for p, img, info, err, _ in decoded if err is None]
            probs, reliability = assess(detector, [img for _, img, _ in good])
            by_path = {p: (float(pr), rel) for (p, _, _), pr, rel in zip(good, probs, reliability)}
            attributed = (dict(zip([p for p, _, _ in good], attributor.attribute([img for _, img, _ in good])))
                          if attributor is not None else {})  # fmt: skip
            infos = {p: info for p, _, info in good}
            rows = []
            for p, _, _, err, provenance in decoded:
                if err is not None:
                    rows.append(Verdict.failed(detector, p, err))
                    continue
                rows.append(Verdict.scored(detector, p, by_path[p][0], infos[p], reliability=by_path[p][1]))
                rows[-1].provenance = provenance
                if p in attributed:
                    a = attributed[p].row()
                    rows[-1].family, rows[-1].generator, rows[-1].attribution_p = (
                        a["family"], a["generator"], a["attribution_p"])  # fmt: skip
            if with_maps:
                images = {p: img for p, img, _ in good}
                for row in rows:
                    if row.error is None:
                        row.localization = localization_fields(localizer, images[row.path], row.path, heatmaps)
            yield rows
            del decoded, good  # let this batch's images go before the next one is scored


def localization_fields(localizer, img, path: str, heatmaps: str | Path) -> dict:
    """Run a localizer on one image, write its map and overlay, and return the row's extra fields."""
    from .localize.heatmaps import write_heatmap

    m, fields = localize_one(localizer, img)
    map_path, over_path = write_heatmap(img, m, heatmaps, path)
    return {"heatmap": str(map_path), "overlay": str(over_path), **fields}


def localize_one(localizer, img) -> tuple:
    """Run a localizer on one image: its map ((H, W) in [0, 1], 1 = manipulated) and the row's fields
    that do not name files (flagged_share, localizer, localizer_p_fake, explanation)."""
    res = localizer.localize(img)
    return res["map"], {"flagged_share": round(res["flagged_share"], 6), "localizer": localizer.name,
                        "localizer_p_fake": None if res["p_fake"] is None else round(res["p_fake"], 6),
                        "explanation": res["explanation"]}  # fmt: skip


def output_format(out: str | Path | None, fmt: str | None) -> str:
    """``fmt`` checked, or the format ``out``'s suffix names (JSONL when writing to stdout)."""
    parquet = fmt == "parquet" or (fmt is None and out is not None and Path(out).suffix.lower() == ".parquet")
    if out is not None and Path(out).is_dir() and not parquet:
        raise UsageError(f"{out}: is a folder; the output is a file such as {Path(out) / 'results.jsonl'}")
    if fmt is None:
        if out is None:
            return "jsonl"
        fmt = OUTPUT_SUFFIXES.get(Path(out).suffix.lower())
        if fmt is None:
            raise UsageError(f"{out}: cannot tell the output format from its suffix; name it .jsonl, .csv or "
                             ".parquet, or give the format (jsonl, csv or parquet)")  # fmt: skip
    if fmt not in FORMATS:
        raise UsageError(f"unknown output format {fmt!r}; use jsonl, csv or parquet")
    if fmt == "parquet" and out is None:
        raise UsageError("Parquet output goes to a folder: give --out, e.g. results.parquet")
    return fmt


def scan(
    detector,
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | Path | None = None,
    fmt: str | None = None,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    on_rows: Callable[[list[dict]], None] | None = None,
    localizer=None,
    heatmaps: str | Path | None = None,
    attributor=None,
    device: str | None = None,
    rows_iter: Callable[[list[str]], Iterable[list[dict | Verdict]]] | None = None,
    finder: Callable[[object], Inputs] = find_inputs,
) -> ScanSummary:
    """Scan images and write one row per entry met (see the module docstring for what a row holds).

    Args:
        detector: a fitted detector.
        inputs: a file, folder, glob or manifest, or a list of them.
        out: output file (``.jsonl`` or ``.csv``); rows already in it are not
            redone, and a last row cut by a killed run is dropped first.
            ``None`` writes to stdout.
        fmt: ``jsonl`` or ``csv``; default from ``out``'s suffix.
        progress: called with (done, total) after each batch.
        on_rows: called with each batch of rows (e.g. to print a table); without ``out``
            and ``fmt`` it takes the place of the rows on stdout.
        localizer, heatmaps: a fitted localizer and a folder for its maps and overlays.
        attributor: a fitted attributor (:func:`fakescope.models.load_attributor`); rows then hold
            ``family``, ``generator`` and ``attribution_p`` (empty without one).
        device: ``"cuda"`` (or ``"cuda:N"``, ``"cpu"``) runs the GPU path
            (:mod:`fakescope.engines.gpu`) instead of the CPU one; ``None``: the CPU path.
        rows_iter: another engine: called with the paths still to do, yields batches of
            verdicts or rows in any order (the Ray engine, :mod:`fakescope.engines.ray_data`).
        finder: expands ``inputs`` into entries (the Ray engine's also lists URIs).

    Raises:
        UsageError: no inputs, an input that does not exist, an unknown format,
            or an output that cannot be written (a folder, another kind of file).
    """
    found = finder(inputs)
    paths = found.paths
    if not paths:
        raise UsageError("no images found in the given inputs")
    to_stdout = out is None and (on_rows is None or fmt is not None)
    fmt = output_format(out, fmt)
    fields = FIELDS + (LOCALIZATION_FIELDS if localizer is not None and heatmaps is not None else [])
    summary = ScanSummary(total=len(paths))
    t0 = time.time()
    if out is not None:
        out = Path(out)
        fh, fresh, done = open_output(out, fmt, fields)
        todo = [p for p in paths if resume_key(p) not in done]
        summary.skipped_done = len(paths) - len(todo)
    else:
        todo, fresh, fh = paths, True, sys.stdout
    writer = RowWriter(fh, fmt, write_header=fresh, fields=fields) if (out is not None or to_stdout) else None
    refused = [Verdict.failed(detector, p, found.refused[p]) for p in todo if p in found.refused]
    readable = [p for p in todo if p not in found.refused]
    if (device is not None or rows_iter is not None) and localizer is not None:
        raise UsageError("heatmaps are made on the CPU path only; scan without --heatmaps on this engine")
    if (device is not None or rows_iter is not None) and attributor is not None:
        raise UsageError("attribution runs on the CPU path only; scan without --attributor on this engine")
    if rows_iter is not None:
        batches = rows_iter(readable)
    elif device is not None:
        from .engines.gpu import DeviceUnavailable, UnsupportedDetector, device_scan_iter

        try:
            # On a GPU machine the metadata readers need several cores to keep the device fed.
            procs = max(0, (os.cpu_count() or 1) - 2) if str(device).startswith("cuda") else 0
            batches = device_scan_iter(detector, readable, batch_size=batch_size, device=device,
                                       probe_processes=procs)  # fmt: skip
        except (UnsupportedDetector, DeviceUnavailable) as exc:
            raise UsageError(str(exc)) from None
    else:
        batches = scan_iter(detector, readable, batch_size=batch_size, localizer=localizer, heatmaps=heatmaps,
                            attributor=attributor)  # fmt: skip
    try:
        if progress:
            progress(summary.skipped_done, len(paths))
        done_count = summary.skipped_done
        # Entries refused before reading come first; then the images, in input order.
        for verdicts in itertools.chain([refused] if refused else [], batches):
            rows = [output_row(v) for v in verdicts]
            if writer:
                writer.write(rows)
            if on_rows:
                on_rows(rows)
            for r in rows:
                if r["error"]:
                    summary.errors += 1
                    if len(summary.error_examples) < 5:
                        summary.error_examples.append(f"{r['path']}: {r['error']}")
                else:
                    summary.scanned += 1
                    summary.verdicts[r["verdict"]] += 1
            done_count += len(rows)
            if progress:
                progress(done_count, len(paths))
    finally:
        if out is not None:
            fh.close()
    summary.seconds = time.time() - t0
    return summary
