"""Scan throughput and memory of the shipped default detector, measured in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ...data.manifest import Manifest


def measure_throughput(manifest: Manifest, n: int, log=print) -> dict | None:
    """Run `fakescope scan` on ``n`` images in a child process; time it and sample its memory."""
    from ...models import DEFAULT, shipped

    if DEFAULT not in shipped():
        log("throughput: no shipped default detector; skipped")
        return None
    unique = [str(s.file.resolve()) for s in manifest]
    with tempfile.TemporaryDirectory() as tmp:
        files = unique[:n]
        while len(files) < n:  # beyond the data set: the same files again under new names (symlinks),
            rep = Path(tmp) / f"rep{len(files) // len(unique)}"  # since a scan skips a path it has seen
            rep.mkdir()
            for i, f in enumerate(unique[: n - len(files)]):
                link = rep / f"{i}{Path(f).suffix}"
                link.symlink_to(f)
                files.append(str(link))
        listing = Path(tmp) / "inputs.csv"
        listing.write_text("path,label\n" + "".join(f"{f},real\n" for f in files))
        cmd = [sys.executable, "-m", "fakescope.cli.main", "scan", str(listing), "--out", str(Path(tmp) / "r.jsonl"),
               "--no-progress"]  # fmt: skip
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, float]] = []
        out_file = Path(tmp) / "r.jsonl"

        def sample():
            while proc.poll() is None:
                try:
                    rss = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                    done = sum(1 for _ in open(out_file)) if out_file.exists() else 0
                    samples.append((done / n, rss / 2**20))
                except (OSError, ValueError):
                    pass
                time.sleep(0.5)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, stderr = proc.communicate()
        seconds = time.time() - t0
        th.join()
        rows = sum(1 for _ in open(out_file)) if out_file.exists() else 0
    if proc.returncode != 0 or rows != n:
        log(f"throughput: scan failed or incomplete ({rows} of {n} rows): {stderr[-500:]}")
        return None
    peak = max((r for _, r in samples), default=0.0)

    def at(frac: float) -> float:
        later = [r for f, r in samples if f >= frac]
        return later[0] if later else (samples[-1][1] if samples else 0.0)

    from ...models import load_detector

    result = {
        "detector": load_detector(DEFAULT).name,
        "images": n,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "peak_rss_mb": peak,
        "rss_profile_mb": [at(0.1), at(0.5), at(0.99)],
    }
    log(f"throughput: {result['images_per_s']:.1f} images/s, peak RSS {peak:.0f} MB")
    return result
