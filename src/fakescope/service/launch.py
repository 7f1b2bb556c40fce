"""Starting ``fakescope serve`` as a child process (for load tests, scripts and tests that need a real server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time


class Launched:
    """A running ``fakescope serve`` child: its process, its base URL (no trailing slash) and its log lines."""

    def __init__(self, proc: subprocess.Popen, url: str, log: list[str]):
        self.proc, self.url, self.log = proc, url, log


def launch(options: list[str], env: dict | None = None, timeout: float = 240) -> Launched:
    """``fakescope serve --port 0 OPTIONS`` in a child process, returned once it listens (it prints its address).

    Raises:
        RuntimeError: the service exited or did not listen within ``timeout`` seconds (the log's end is in the
        message)."""
    cmd = [sys.executable, "-c", "from fakescope.cli.main import app; app()", "serve", "--port", "0", *options]
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "FAKESCOPE_TOKEN"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    found: list[str] = []

    def read():
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r"fakescope serve: (http://\S+?)/?\s", line)
            if m:
                found.append(m.group(1).rstrip("/"))

    threading.Thread(target=read, daemon=True).start()
    t0 = time.time()
    while not found:
        if proc.poll() is not None or time.time() - t0 > timeout:
            proc.kill()
            raise RuntimeError(f"the service did not start within {timeout:.0f} s:\n" + "".join(lines[-20:]))
        time.sleep(0.1)
    return Launched(proc, found[0], lines)
