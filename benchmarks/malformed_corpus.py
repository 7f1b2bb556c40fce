"""Peak memory of a scan of the malformed corpus, with the shipped default detector.

Builds the corpus of ``tests/malformed.py`` (names that are not UTF-8, a FIFO,
symlink loops, bombs, truncated, 16-bit and animated images, ...) in a
temporary folder, scans it with ``fakescope scan DIR --out r.jsonl`` in a
child process, and prints one table row: entries, rows written, errors, exit
status, wall time and the child's peak resident memory (``ru_maxrss``). The
scan must give every entry one row and stay under the memory limit; the exit
status of this script says whether it did.

Run from the repository root (``tests`` must be importable)::

    python -m benchmarks.malformed_corpus                # the corpus
    python -m benchmarks.malformed_corpus --thin         # plus a 3 x 100000 PNG
    python -m benchmarks.malformed_corpus --doc docs/BENCHMARKS.md   # also rewrite its section there
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fakescope.io import image_entries
from tests.malformed import write_corpus

LIMIT_MB = 1536
MARK = "<!-- malformed-corpus -->"


def measure(thin: bool, detector: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(Path(tmp) / "corpus", thin=thin)
        out = Path(tmp) / "r.jsonl"
        cmd = [sys.executable, "-c", "from fakescope.cli.main import app; app()", "scan", str(Path(tmp) / "corpus"),
               "--out", str(out), "--detector", detector, "--no-progress"]  # fmt: skip
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="backslashreplace")
        seconds = time.time() - t0
        # ru_maxrss of the only child this process waited for: kilobytes on Linux.
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows = [json.loads(line) for line in out.read_bytes().decode("utf-8").splitlines()] if out.exists() else []
        # Every name with an image suffix, and the folder link that loops: what must get a row.
        n_entries = len(image_entries(Path(tmp) / "corpus"))
    return {"thin": thin, "detector": detector, "entries": n_entries, "rows": len(rows),
            "errors": sum(1 for r in rows if r["error"]), "exit": proc.returncode, "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_mb), "stderr_tail": proc.stderr.strip().splitlines()[-1:]}  # fmt: skip


def table(res: dict) -> str:
    corpus = "malformed corpus" + (" + 3x100000 PNG" if res["thin"] else "")
    ok = "yes" if res["rows"] == res["entries"] and res["peak_rss_mb"] < LIMIT_MB and res["exit"] == 0 else "NO"
    return "\n".join([
        "| corpus | detector | entries | rows | error rows | exit | wall s | peak RSS MB | under 1.5 GB, a row each |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
        f"| {corpus} | {res['detector']} | {res['entries']} | {res['rows']} | {res['errors']} | {res['exit']} | "
        f"{res['seconds']} | {res['peak_rss_mb']} | {ok} |",
    ])  # fmt: skip


def section(res: dict, command: str) -> str:
    return (
        f"{MARK}\n## Malformed corpus: one row per entry, bounded memory\n\n"
        "`fakescope scan` of the corpus that `tests/malformed.py` generates (file names that are not UTF-8 or hold a "
        "newline, a FIFO, a symlink to itself, a folder link back to its parent, a decompression bomb, truncated, "
        "empty, 16-bit, CMYK, animated and alpha images, a PNG with a bad checksum), as a child process; peak RSS is "
        f"the child's `ru_maxrss`. Measured on {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{time.strftime('%Y-%m-%d')}, by `{command}`.\n\n{table(res)}\n{MARK}\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--thin", action="store_true", help="add a 3 x 100000 PNG to the corpus")
    ap.add_argument("--detector", default="default")
    ap.add_argument("--doc", type=Path, help="rewrite this benchmark's section of a Markdown file (e.g. BENCHMARKS.md)")
    args = ap.parse_args(argv)
    res = measure(args.thin, args.detector)
    print(table(res))
    if res["exit"] != 0:
        print("scan failed:", *res["stderr_tail"], file=sys.stderr)
    if args.doc:
        command = "python -m benchmarks.malformed_corpus" + (" --thin" if args.thin else "")
        text = args.doc.read_text()
        block = re.compile(re.escape(MARK) + ".*?" + re.escape(MARK) + "\n", re.S)
        new = section(res, command)
        text = block.sub(lambda _: new, text) if block.search(text) else text.rstrip("\n") + "\n\n" + new
        args.doc.write_text(text)
    ok = res["rows"] == res["entries"] and res["peak_rss_mb"] < LIMIT_MB and res["exit"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
