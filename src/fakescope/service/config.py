"""Settings of the service: one typed dataclass, every field a ``fakescope serve`` option."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class ServiceConfig:
    #: shipped name or trained-detector folder, loaded once at start-up
    detector: str = "default"
    #: shipped name, trained folder or classical localizer; ``None``: no heatmaps (they cost time per image and,
    #: for the learned localizers, PyTorch)
    localizer: str | None = None
    #: shipped name or trained-attributor folder; ``None``: answers leave family, generator and attribution_p empty
    attributor: str | None = None
    #: images scored at once. Two, not one per core: the ONNX network already runs each image on every
    #: core, and a second worker decodes the next upload while the first is in the network.
    workers: int = 2
    #: requests that may wait for a worker; the next one is answered 503 at once instead of hanging
    queue: int = 8
    #: largest upload accepted, in MB (10^6 bytes); a phone's HEIC or 12 MP JPEG is 2-8 MB, a 48 MP PNG ~60
    max_upload_mb: float = 25.0
    #: bearer token every route but the health check (and the static page) requires; ``None``: no auth.
    #: Read from FAKESCOPE_TOKEN by :meth:`from_env`, never from the command line (it would show in ``ps``).
    token: str | None = None
    #: where the private temp folder for uploads is made; ``None``: the system's temp dir (TMPDIR)
    upload_parent: str | None = None

    def __post_init__(self):
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.queue < 0:
            raise ValueError(f"queue must be 0 or more, got {self.queue}")
        if not self.max_upload_mb > 0:
            raise ValueError(f"max_upload_mb must be positive, got {self.max_upload_mb}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def capacity(self) -> int:
        """Scan requests in the service at once: working plus waiting."""
        return self.workers + self.queue

    @classmethod
    def from_env(cls, **kw) -> ServiceConfig:
        """Settings with the token from ``FAKESCOPE_TOKEN`` (unset or empty: no authentication)."""
        return cls(token=os.environ.get("FAKESCOPE_TOKEN") or None, **kw)
