"""Dataset manifests: one row per image, labels from the manifest alone.

Columns are those of ``../shared/data/manifest.csv``. ``label`` is ``real``,
``fake`` (fully generated) or ``partial`` (a region manipulated). A mask is a
same-size image where non-zero (255) marks manipulated pixels. Paths are
relative to the manifest's folder unless absolute.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..io import IMAGE_SUFFIXES

LABELS = ("real", "fake", "partial")
COLUMNS = (
    "path label generator family source license prompt mask width height "
    "orig_width orig_height orig_format crop sha256"
).split()
#: Columns written only when some row fills them (manifests without them stay as they were and still load).
#: ``pair``: for a counterpart made from a real image (an aligned re-make), the sha256 of that real image's
#: file, so training can keep the two together (same batch, same augmentation draw).
OPTIONAL_COLUMNS = ("pair",)


#: How to accept paths outside a manifest's folder, for the messages that refuse them.
ALLOW_HINT = "--allow-outside, or allow_outside=True, accepts it"


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, as the manifest's ``sha256`` column holds it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ManifestError(ValueError):
    """A manifest is malformed; the message names the file, the row and the problem."""


@dataclass
class Sample:
    path: str
    label: str
    generator: str = ""
    family: str = ""
    source: str = ""
    license: str = ""
    prompt: str = ""
    mask: str = ""
    width: int | None = None
    height: int | None = None
    orig_width: int | None = None
    orig_height: int | None = None
    orig_format: str = ""
    crop: str = ""
    sha256: str = ""
    pair: str = ""
    root: str = field(default="", repr=False, compare=False)

    @property
    def is_fake(self) -> bool:
        """Binary target: anything not real is fake (partial edits included)."""
        return self.label != "real"

    @property
    def file(self) -> Path:
        p = Path(self.path)
        return p if p.is_absolute() or not self.root else Path(self.root) / p

    @property
    def mask_file(self) -> Path | None:
        if not self.mask:
            return None
        p = Path(self.mask)
        return p if p.is_absolute() or not self.root else Path(self.root) / p

    @property
    def outside(self) -> list[str]:
        """The columns (``path``, ``mask``) whose path leaves the manifest's folder: absolute, or through ``..``.

        Judged on the text, as written: a manifest from elsewhere must not make
        fakescope read files outside its folder unless the user allows it.
        """
        out = []
        for col in ("path", "mask"):
            p = getattr(self, col)
            if p and (os.path.isabs(p) or os.path.normpath(p).split(os.sep)[0] == os.pardir):
                out.append(col)
        return out

    @property
    def key(self) -> str:
        """Content identity when known (sha256), else the path."""
        return self.sha256 or str(self.file)

    @property
    def pair_key(self) -> str:
        """The key of the pair this sample belongs to, as written: ``pair`` for a counterpart, else :attr:`key`.
        :meth:`Manifest.pair_keys` also links counterparts to reals listed without their sha256."""
        return self.pair or self.key

    def to_row(self) -> dict:
        """The manifest row: every column of :data:`COLUMNS`, and the optional ones this sample fills."""
        row = asdict(self)
        row.pop("root")
        for col in OPTIONAL_COLUMNS:
            if not row[col]:
                row.pop(col)
        return {k: ("" if v is None else v) for k, v in row.items()}


_INT_COLUMNS = {"width", "height", "orig_width", "orig_height"}


def _coerce(row: dict, where: str) -> Sample:
    if None in row:  # csv.DictReader keeps a row's surplus fields under the key None
        raise ManifestError(f"{where}: {len(row[None])} more field(s) than the header has columns")
    unknown = set(row) - set(COLUMNS) - set(OPTIONAL_COLUMNS)
    if unknown:
        raise ManifestError(f"{where}: unknown column(s) {sorted(unknown)}; expected a subset of "
                            f"{[*COLUMNS, *OPTIONAL_COLUMNS]}")  # fmt: skip
    if not row.get("path"):
        raise ManifestError(f"{where}: empty 'path'")
    label = (row.get("label") or "").strip().lower()
    if label not in LABELS:
        raise ManifestError(f"{where}: unknown label {row.get('label')!r}; expected one of {LABELS}")
    values: dict = {}
    for f in fields(Sample):
        if f.name == "root" or f.name not in row:
            continue
        v = row[f.name]
        if f.name in _INT_COLUMNS:
            try:
                values[f.name] = int(v) if v not in (None, "") else None
            except (TypeError, ValueError):
                raise ManifestError(f"{where}: column {f.name!r} is not an integer: {v!r}") from None
        else:
            values[f.name] = "" if v is None else str(v)
    values["label"] = label
    return Sample(**values)


class Manifest:
    """An ordered list of :class:`Sample` plus the folder their paths are relative to."""

    def __init__(self, samples: Iterable[Sample], root: str | Path = "", name: str = "manifest"):
        self.root = str(root)
        self.name = name
        self.samples = list(samples)
        for s in self.samples:
            if not s.root:
                s.root = self.root

    # --- reading and writing -------------------------------------------------
    @classmethod
    def read(cls, path: str | Path) -> Manifest:
        """Read a ``.csv`` or ``.jsonl`` manifest."""
        path = Path(path)
        if not path.is_file():
            raise ManifestError(f"{path}: manifest not found")
        if path.suffix.lower() == ".jsonl":
            samples = []
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ManifestError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
                samples.append(_coerce(row, f"{path}:{i}"))
        elif path.suffix.lower() in (".csv", ".tsv"):
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
                if not reader.fieldnames or "path" not in reader.fieldnames or "label" not in reader.fieldnames:
                    raise ManifestError(f"{path}: a manifest needs at least the columns 'path' and 'label'")
                samples = [_coerce(row, f"{path}:{i}") for i, row in enumerate(reader, 2)]
        else:
            raise ManifestError(f"{path}: a manifest is .csv, .tsv or .jsonl")
        return cls(samples, root=path.parent, name=path.stem)

    def write(self, path: str | Path) -> Path:
        """Write as CSV or JSONL (by suffix), paths made relative to the new file's folder when possible."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        for s in self.samples:
            row = s.to_row()
            for col in ("path", "mask"):
                if row[col]:
                    absolute = (Path(s.root) / row[col]).resolve() if s.root else Path(row[col]).resolve()
                    try:
                        row[col] = str(absolute.relative_to(path.parent.resolve()))
                    except ValueError:
                        row[col] = str(absolute)
            rows.append(row)
        if path.suffix.lower() == ".jsonl":
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        else:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                optional = [c for c in OPTIONAL_COLUMNS if any(c in r for r in rows)]
                writer = csv.DictWriter(fh, fieldnames=[*COLUMNS, *optional], restval="")
                writer.writeheader()
                writer.writerows(rows)
        return path

    # --- list-like -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, i):
        return self.samples[i]

    def subset(self, keep, name: str | None = None) -> Manifest:
        """Samples for which ``keep(sample)`` is true (or whose index is in ``keep``)."""
        if callable(keep):
            chosen = [s for s in self.samples if keep(s)]
        else:
            chosen = [self.samples[i] for i in keep]
        return Manifest(chosen, self.root, name or self.name)

    def pair_keys(self) -> list[str]:
        """Per sample, the key of its pair: a counterpart (a sample with ``pair``) takes the :attr:`Sample.key`
        of the image whose sha256 its ``pair`` names when that image is in this manifest (its file is hashed
        when the manifest lists it without a sha256), else the ``pair`` value itself, so the counterparts of
        one real image share a key either way; every other sample its own key. Samples with the same pair
        key are trained together: same batch, same augmentation draw."""
        if not any(s.pair for s in self.samples):
            return [s.key for s in self.samples]
        by_hash = {s.sha256: s.key for s in self.samples if s.sha256}
        if {s.pair for s in self.samples if s.pair} - set(by_hash):
            for s in self.samples:
                if not s.pair and not s.sha256 and s.file.is_file():
                    by_hash.setdefault(file_sha256(s.file), s.key)
        return [by_hash.get(s.pair, s.pair) if s.pair else s.key for s in self.samples]

    def counts(self, by: str = "label") -> Counter:
        return Counter(getattr(s, by) for s in self.samples)

    def sample(self, n: int, seed: int = 0, stratify: str = "label") -> Manifest:
        """A reproducible subset of about ``n`` samples, keeping the share of each ``stratify`` group."""
        rng = random.Random(seed)
        groups: dict[str, list[Sample]] = {}
        for s in self.samples:
            groups.setdefault(getattr(s, stratify), []).append(s)
        chosen = []
        for key in sorted(groups):
            members = groups[key]
            k = max(1, round(n * len(members) / len(self.samples)))
            chosen += rng.sample(members, min(k, len(members)))
        return Manifest(chosen, self.root, f"{self.name}-sample{n}")

    # --- checks ----------------------------------------------------------------
    def validate(self, check_files: bool = True, check_masks: bool = True, allow_outside: bool = False) -> list[str]:
        """Return a list of problems (empty when the manifest is sound).

        Args:
            check_files: every image exists.
            check_masks: every mask exists and has its image's size.
            allow_outside: accept paths that leave the manifest's folder (see :attr:`Sample.outside`).
        """
        problems = []
        seen = set()
        for i, s in enumerate(self.samples):
            where = f"row {i + 1} ({s.path})"
            if not allow_outside and s.outside:
                cols = " and ".join(s.outside)
                problems.append(f"{where}: {cols} outside the manifest's folder ({ALLOW_HINT})")
                continue
            if str(s.file) in seen:
                problems.append(f"{where}: duplicate path")
            seen.add(str(s.file))
            if check_files and not s.file.is_file():
                problems.append(f"{where}: file not found at {s.file}")
                continue
            if s.mask and s.label == "real":
                problems.append(f"{where}: a real image has a mask")
            if check_masks and s.mask:
                mf = s.mask_file
                if not mf.is_file():
                    problems.append(f"{where}: mask not found at {mf}")
                    continue
                from PIL import Image

                try:
                    with Image.open(s.file) as im, Image.open(mf) as mk:
                        if im.size != mk.size:
                            problems.append(f"{where}: mask is {mk.size[0]}x{mk.size[1]}, image {im.size[0]}x{im.size[1]}")
                except OSError as exc:
                    problems.append(f"{where}: cannot open image or mask ({exc})")
        return problems

    def check_usable(self, where: str | Path, allow_outside: bool = False) -> Manifest:
        """Raise :class:`ManifestError` unless this manifest can be trained or evaluated on; returns self.

        It must name no path outside its folder (unless ``allow_outside``), list
        images that exist, and hold both real and fake (or partial) ones among them.
        """
        if not allow_outside:
            bad = next(((i, s) for i, s in enumerate(self.samples) if s.outside), None)
            if bad:
                i, s = bad
                raise ManifestError(f"{where}: row {i + 1} ({s.path}): {' and '.join(s.outside)} outside the "
                                    f"manifest's folder ({ALLOW_HINT})")  # fmt: skip
        present = [s for s in self.samples if s.file.is_file()]
        if not present:
            first = f" (the first is {self.samples[0].file})" if self.samples else ""
            raise ManifestError(f"{where}: none of its {len(self.samples)} images exist{first}")
        classes = {s.is_fake for s in present}
        if len(classes) < 2:
            have = "real" if False in classes else "fake or partial"
            raise ManifestError(f"{where}: its {len(present)} images present are all {have}; training and "
                                "evaluation need both real and fake images")  # fmt: skip
        return self


def import_folder_tree(root: str | Path, source: str = "") -> Manifest:
    """Import the common ``.../0_real/...`` and ``.../1_fake/...`` layout (CNNDetection style).

    The label comes from the nearest ancestor folder named ``0_real`` or
    ``1_fake`` (the layout's documented meaning, not a substring guess); the
    folder above it, if any, becomes the ``generator`` of fakes.
    """
    root = Path(root)
    samples = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        parts = p.relative_to(root).parts[:-1]
        label_at = [i for i, part in enumerate(parts) if part in ("0_real", "1_fake")]
        if not label_at:
            continue
        i = label_at[-1]
        label = "real" if parts[i] == "0_real" else "fake"
        generator = parts[i - 1] if i > 0 and label == "fake" else ""
        samples.append(
            Sample(path=str(p.relative_to(root)), label=label, generator=generator, source=source or root.name)
        )
    if not samples:
        raise ManifestError(f"{root}: no images under any 0_real/ or 1_fake/ folder")
    return Manifest(samples, root=root, name=root.name)
