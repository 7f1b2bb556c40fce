"""Load test of ``fakescope serve``: a bounded number of scans on loopback, latency and memory.

Starts the service in a child process on 127.0.0.1 (any free port), or uses
one already running (``--url``), then sends ``--requests`` uploads of the
sample images from ``--concurrency`` clients at once, each waiting for its
answer before sending the next. Prints one Markdown table row: how many
answers were not 200, p50/p90/p99/max latency, throughput, and the service's
resident memory (``/proc/PID/status``) after the warm-up requests and at the
end. The exit status is 1 when any answer was not 200 or memory grew by more
than ``--max-growth-mb`` after the warm-up.

Traffic goes only to the loopback address the service listens on; the run
stops after ``--requests`` requests or ``--max-seconds``, whichever comes first.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.service_load                          # 500 requests, 8 at once
    PYTHONPATH=src python -m benchmarks.service_load --localizer default      # with heatmaps
    PYTHONPATH=src python -m benchmarks.service_load --doc docs/BENCHMARKS.md # also rewrite its section there
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- service-load -->"
HEADER = ("| requests | concurrent | workers + queue | localizer | not 200 | p50 ms | p90 ms | p99 ms | max ms | "
          "requests/s | RSS after warm-up MB | RSS at end MB | growth MB |\n"
          "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")  # fmt: skip


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process, from /proc (None when unknown)."""
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) / 1024 if m else None


def start_service(workers: int, queue: int, localizer: str | None, timeout: float = 180) -> tuple:
    """``fakescope serve --port 0`` in a child process; returns (process, base URL) once it listens."""
    from fakescope.service.launch import launch

    options = ["--workers", str(workers), "--queue", str(queue), "--log-level", "warning"]
    served = launch(options + (["--localizer", localizer] if localizer else []), timeout=timeout)
    return served.proc, served.url


def run_load(url: str, images: list[Path], n: int, concurrency: int, warmup: int, pid: int | None,
             max_seconds: float, token: str | None = None) -> dict:  # fmt: skip
    """Send ``n`` scans from ``concurrency`` clients; latency of each, status codes, memory samples."""
    import httpx

    payloads = [(p.name, p.read_bytes()) for p in images]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    lock = threading.Lock()
    next_i = [0]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    memory: list[tuple[int, float]] = []
    deadline = time.time() + max_seconds

    def take() -> int | None:
        with lock:
            if next_i[0] >= n or time.time() > deadline:
                return None
            next_i[0] += 1
            return next_i[0] - 1

    def client():
        with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
            while (i := take()) is not None:
                name, data = payloads[i % len(payloads)]
                t0 = time.perf_counter()
                try:
                    r = http.post("/v1/scan", files={"file": (name, data)})
                    code = r.status_code
                    if code != 200 and len(errors) < 5:
                        errors.append(f"{code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    code = 0
                    errors.append(f"no answer: {exc}")
                dt = time.perf_counter() - t0
                with lock:
                    statuses[code] = statuses.get(code, 0) + 1
                    done = sum(statuses.values())
                    if done > warmup:  # latency of the steady state, not of the first calls
                        latencies.append(dt)
                    if done == warmup or done % 50 == 0 or done == n:
                        memory.append((done, rss_mb(pid)))

    t0 = time.time()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.time() - t0
    lat = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    sent = sum(statuses.values())
    after_warmup = next((m for d, m in memory if d >= warmup and m is not None), None)
    at_end = memory[-1][1] if memory else None
    return {"requests": sent, "concurrency": concurrency, "statuses": statuses, "not_ok": sent - statuses.get(200, 0),
            "errors": errors, "p50": float(np.percentile(lat, 50)), "p90": float(np.percentile(lat, 90)),
            "p99": float(np.percentile(lat, 99)), "max": float(lat.max()), "rps": sent / seconds,
            "seconds": seconds, "rss_warm": after_warmup, "rss_end": at_end,
            "growth": None if after_warmup is None or at_end is None else at_end - after_warmup,
            "memory": memory, "stopped_by_time": sent < n}  # fmt: skip


def row(res: dict, workers: int, queue: int, localizer: str | None) -> str:
    def mb(v):
        return "–" if v is None else f"{v:.0f}"

    growth = "–" if res["growth"] is None else f"{res['growth']:+.0f}"
    return (f"| {res['requests']} | {res['concurrency']} | {workers} + {queue} | {localizer or 'none'} | "
            f"{res['not_ok']} | {res['p50']:.0f} | {res['p90']:.0f} | {res['p99']:.0f} | {res['max']:.0f} | "
            f"{res['rps']:.1f} | {mb(res['rss_warm'])} | {mb(res['rss_end'])} | {growth} |")  # fmt: skip


def section(table: str, command: str, res: dict) -> str:
    trail = ", ".join(f"{d}: {m:.0f}" for d, m in res["memory"] if m is not None)
    return (
        f"{MARK}\n## Service load: latency and memory of `fakescope serve`\n\n"
        f"`{command}` (the script starts `fakescope serve --port 0` with the shipped default detector, then sends "
        "the sample images as uploads from concurrent clients, each waiting for its answer, over loopback). "
        "Latency is per request, from sending the upload to reading the whole answer, after the warm-up "
        "requests; memory is the service's resident set (`/proc/PID/status`). Defaults: 500 requests from 8 "
        "clients to 2 workers and a queue of 8, the first 50 as warm-up, the eight 384x384 sample JPEGs; with 8 "
        "clients on 2 workers each request waits for about three others, so its latency is about four times the "
        f"time to score one image. Measured on {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}, on a machine shared with other jobs (load "
        f"average {os.getloadavg()[0]:.1f} at the end), so latencies are those of a busy machine.\n\n"
        f"{table}\n\nResident memory (MB) after so many answers: {trail}.\n{MARK}\n"
    )


def write_doc(doc: Path, text: str) -> None:
    """Put the section below the page's hand-run marker (replacing an older copy of it)."""
    from fakescope.evaluation.benchmark.render import HAND_RUN

    page = doc.read_text()
    block = re.compile(re.escape(MARK) + ".*?" + re.escape(MARK) + "\n", re.S)
    if block.search(page):
        page = block.sub(lambda _: text, page)
    else:
        if HAND_RUN not in page:
            page = page.rstrip("\n") + "\n\n" + HAND_RUN + "\n"
        page = page.rstrip("\n") + "\n\n" + text
    doc.write_text(page)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=50, help="requests before latency and memory are counted")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--localizer", help="start the service with this localizer (answers carry heatmaps)")
    ap.add_argument("--images", type=Path, nargs="*", help="images to upload (default: samples/*.jpg)")
    ap.add_argument("--url", help="use this running service instead of starting one")
    ap.add_argument("--pid", type=int, help="with --url: the service's process id, to read its memory")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop sending after this long")
    ap.add_argument("--max-growth-mb", type=float, default=64)
    ap.add_argument("--doc", type=Path, help="rewrite this benchmark's section of a Markdown file")
    args = ap.parse_args(argv)
    if args.url and not re.match(r"http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?$", args.url):
        ap.error("--url must be a loopback address (127.0.0.0/8, localhost or [::1])")
    images = args.images or sorted((ROOT / "samples").glob("*.jpg"))
    proc = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start_service(args.workers, args.queue, args.localizer)
        pid = proc.pid
    try:
        res = run_load(url, images, args.requests, args.concurrency, min(args.warmup, args.requests - 1), pid,
                       args.max_seconds, token=os.environ.get("FAKESCOPE_TOKEN"))  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    table = HEADER + "\n" + row(res, args.workers, args.queue, args.localizer)
    print(table)
    print(f"answers by status: {res['statuses']}; {res['seconds']:.1f}s; RSS after answers: "
          + ", ".join(f"{d}: {m:.0f} MB" for d, m in res["memory"] if m is not None))  # fmt: skip
    for e in res["errors"]:
        print(f"  {e}")
    ok = res["not_ok"] == 0 and (res["growth"] is None or res["growth"] <= args.max_growth_mb)
    ok = ok and not res["stopped_by_time"]
    if args.doc:
        command = "PYTHONPATH=src python -m benchmarks.service_load " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--doc") and a != str(args.doc))
        write_doc(args.doc, section(table, command.strip(), res))
    if not ok:
        print("FAILED: " + ("answers other than 200; " if res["not_ok"] else "")
              + ("memory grew; " if res["growth"] and res["growth"] > args.max_growth_mb else "")
              + ("stopped by --max-seconds" if res["stopped_by_time"] else ""))  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
