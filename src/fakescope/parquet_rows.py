"""Scan rows as Parquet: a folder of part files, one row group each, committed whole.

A Parquet file is readable only once its footer is written, so a single file
that a killed scan leaves behind holds nothing. The output is therefore a
folder (``results.parquet/``), the layout Spark, Ray Data, DuckDB and pandas
read as one table::

    results.parquet/part-000000.parquet   one row group
    results.parquet/part-000001.parquet   ...

Rows are buffered and written as one row group into a hidden temporary file,
which is renamed to its part name once complete (an atomic rename), when the
buffer holds :data:`ROWS_PER_GROUP` rows or its oldest row is
:data:`SECONDS_PER_GROUP` old, and when the scan ends. An interrupted scan
keeps every part it finished and loses at most the rows of the last
unfinished group; the next run with the same ``--out`` skips the rows in the
parts (temporary files left by a killed run are removed).

Types: ``notes`` and ``verdict_set`` are lists of strings, ``p_fake`` a
double, ``width``/``height`` 64-bit integers, and ``provenance`` JSON text
(its shape varies with the metadata a file holds, as in the CSV output).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

#: rows per row group (and part file): large enough for efficient reading, small enough to lose little
ROWS_PER_GROUP = 8192
#: ...or fewer, when the oldest buffered row has waited this long (a slow scan still commits often)
SECONDS_PER_GROUP = 30.0
PART_GLOB = "part-*.parquet"


def _schema(fields: list[str]):
    import pyarrow as pa

    types = {"p_fake": pa.float64(), "width": pa.int64(), "height": pa.int64(), "notes": pa.list_(pa.string()),
             "verdict_set": pa.list_(pa.string()), "flagged_share": pa.float64(),
             "localizer_p_fake": pa.float64()}  # fmt: skip
    return pa.schema([(f, types.get(f, pa.string())) for f in fields])


def _require_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        from .scanning import UsageError

        raise UsageError("Parquet output needs pyarrow: pip install 'fakescope[ray]' (or pyarrow)") from None


class ParquetRows:
    """The Parquet output folder of a scan: what it holds already, and a sink for more rows."""

    def __init__(self, folder: str | Path, fields: list[str], rows_per_group: int | None = None,
                 seconds_per_group: float | None = None):  # fmt: skip
        _require_pyarrow()
        self.folder, self.fields = Path(folder), list(fields)
        self.rows_per_group = rows_per_group or ROWS_PER_GROUP
        self.seconds_per_group = seconds_per_group or SECONDS_PER_GROUP
        self.buffer: list[dict] = []
        self.since = 0.0

    # --- what is there ----------------------------------------------------------------------------------
    def parts(self) -> list[Path]:
        return sorted(self.folder.glob(PART_GLOB)) if self.folder.is_dir() else []

    def open(self) -> tuple[bool, set[str]]:
        """Create the folder (or check it), drop a killed run's temporary files; returns (fresh, resume keys done)."""
        from .scanning import UsageError, resume_key, row_path

        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{self.folder}: Parquet output is a folder of part files; this is a file "
                             "(write the results to another name)")  # fmt: skip
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob(".part-*.tmp"):
            tmp.unlink(missing_ok=True)
        others = [p.name for p in self.folder.iterdir() if not p.match(PART_GLOB)]
        if others:
            raise UsageError(f"{self.folder}: not a scan's Parquet output (it holds {others[0]}); write the results "
                             "to another folder")  # fmt: skip
        done = set()
        for row in self.rows(columns=["path", "path_bytes"]):
            done.add(resume_key(row_path(row)))
        return not done and not self.parts(), done

    def rows(self, columns: list[str] | None = None) -> Iterator[dict]:
        """Every row of every part, typed as the scan wrote it (``provenance`` back to a dict)."""
        import pyarrow.parquet as pq

        for part in self.parts():
            table = pq.read_table(part, columns=columns)
            for row in table.to_pylist():
                if isinstance(row.get("provenance"), str):
                    row["provenance"] = json.loads(row["provenance"])
                yield row

    # --- writing ----------------------------------------------------------------------------------------
    def write(self, rows: list[dict]) -> None:
        if rows and not self.buffer:
            self.since = time.monotonic()
        self.buffer += rows
        if len(self.buffer) >= self.rows_per_group or (
                self.buffer and time.monotonic() - self.since >= self.seconds_per_group):  # fmt: skip
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group in a new part file, committed by renaming it."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer:
            return
        records = [{f: (json.dumps(r.get(f), ensure_ascii=False, separators=(",", ":"))
                        if f == "provenance" and r.get(f) is not None else r.get(f)) for f in self.fields}
                   for r in self.buffer]  # fmt: skip
        table = pa.Table.from_pylist(records, schema=_schema(self.fields))
        number = len(self.parts())
        while (self.folder / f"part-{number:06d}.parquet").exists():
            number += 1
        tmp = self.folder / f".part-{number:06d}.tmp"
        pq.write_table(table, tmp, row_group_size=len(records))
        with open(tmp, "rb+") as fh:  # on disk before it gets its name
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / f"part-{number:06d}.parquet")
        self.buffer = []

    def close(self) -> None:
        self.flush()
