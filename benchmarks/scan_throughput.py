"""Scan throughput and peak memory of ``fakescope scan``, measured as a user runs it.

Each run is a separate, whole process (``fakescope scan DIR --out FILE``:
interpreter start, model loading, decoding, scoring, writing), timed from the
outside; its peak resident memory and CPU time come from ``os.wait4``. The
table gives every run and the median, with the load average of the machine
before and after, since a shared machine slows every number down.

Usage::

    python benchmarks/make_camera_mix.py --out /tmp/camera-mix --n 300
    PYTHONPATH=src python benchmarks/scan_throughput.py /tmp/camera-mix --runs 3

``--src DIR`` runs another checkout's ``src`` (e.g. an export of an older
commit) with the same interpreter, for before/after tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    """One whole-process scan."""

    images: int
    errors: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    load_before: float
    load_after: float

    @property
    def rate(self) -> float:
        return self.images / self.seconds


def run_scan(folder: Path, src: Path | None, detector: str, extra: list[str]) -> Run:
    """Scan ``folder`` in a child process and measure it."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scan.jsonl"
        cmd = [sys.executable, "-c", "from fakescope.cli.main import app; app()", "scan", str(folder),
               "--detector", detector, "--out", str(out), *extra]  # fmt: skip
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"scan failed ({child.returncode}): {stderr[-2000:]}")
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Run(
        images=len(rows),
        errors=sum(1 for r in rows if r.get("error")),
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports kilobytes
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def table(runs: list[Run], label: str) -> str:
    lines = [
        f"| {label} | images | errors | wall s | images/s | CPU s per image | peak RSS MB | load before / after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i, r in enumerate(runs, 1):
        lines.append(
            f"| run {i} | {r.images} | {r.errors} | {r.seconds:.1f} | {r.rate:.2f} | {r.cpu_seconds / r.images:.3f} "
            f"| {r.peak_rss_mb:.0f} | {r.load_before:.1f} / {r.load_after:.1f} |"
        )
    med = statistics.median
    lines.append(
        f"| **median** | {runs[0].images} | | {med(r.seconds for r in runs):.1f} | **{med(r.rate for r in runs):.2f}** "
        f"| {med(r.cpu_seconds / r.images for r in runs):.3f} | {max(r.peak_rss_mb for r in runs):.0f} (max) | |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="images to scan (e.g. from make_camera_mix.py)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--detector", default="default")
    ap.add_argument("--src", type=Path, default=None, help="run this checkout's src instead of the installed one")
    ap.add_argument("--label", default=None, help="first column's title (default: the src folder)")
    args, extra = ap.parse_known_args(argv)
    runs = [run_scan(args.folder, args.src, args.detector, extra) for _ in range(args.runs)]
    label = args.label or str(args.src or "installed fakescope")
    print(f"{args.folder}: {args.detector}, {os.cpu_count()} CPU cores, {args.runs} whole-process runs")
    print(table(runs, label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
