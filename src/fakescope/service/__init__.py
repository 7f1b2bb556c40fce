"""The REST service and its web page: ``fakescope serve``.

One process loads a detector (and optionally a localizer) once, then answers
``POST /v1/scan`` with the same row ``fakescope scan`` writes for a file,
plus what a caller needs to read it (the unsure band, a summary of the card,
the heatmap as PNG when a localizer is loaded). The page at ``/`` is plain
HTML, CSS and JavaScript shipped in the package: it works with no network.

Modules: ``config`` (the settings), ``uploads`` (multipart bodies streamed
into a private temp folder under the size limit), ``engine`` (the models and
the bounded worker pool), ``app`` (routes, authentication, JSON errors),
``web/`` (the page). Needs the ``serve`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

from .config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def create_app(config: ServiceConfig | None = None, **engine_kw):
    """The ASGI application (see :func:`fakescope.service.app.create_app`)."""
    from .app import create_app as _create

    return _create(config, **engine_kw)
