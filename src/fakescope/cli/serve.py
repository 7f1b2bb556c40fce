"""`fakescope serve`: the REST API and the web page."""

from __future__ import annotations

import ipaddress
import threading
import time

import typer

from .common import fail, log


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback exposes the service: "
                             "set FAKESCOPE_TOKEN."),  # fmt: skip
    port: int = typer.Option(8000, min=0, max=65535, help="Port (0: any free port; the address is printed)."),
    detector: str = typer.Option("default", "--detector", "-d", help="Shipped name or trained-detector folder."),
    localizer: str = typer.Option(None, "--localizer", "-l", help="Also localize: shipped name, trained folder or "
                                  "classical localizer (e.g. default, ela); answers gain the heatmap."),  # fmt: skip
    attributor: str = typer.Option(None, "--attributor", "-a", help="Also attribute: shipped name (default) or "
                                   "trained-attributor folder; answers gain family, generator, attribution_p."),  # fmt: skip
    workers: int = typer.Option(2, min=1, help="Images scored at once."),
    queue: int = typer.Option(8, min=0, help="Requests that may wait for a worker; one more is answered 503."),
    max_upload_mb: float = typer.Option(25.0, help="Largest upload accepted, in MB; larger ones get 413."),
    open_page: bool = typer.Option(False, "--open", help="Open the page in a browser once the service is up."),
    log_level: str = typer.Option("info", help="uvicorn's log level: critical, error, warning, info, debug."),
):
    """Serve the REST API (POST /v1/scan, /docs) and the web page at / ; the model is loaded once, at start.

    With FAKESCOPE_TOKEN set, every route but /v1/health and the page needs 'Authorization: Bearer <token>'.
    """
    try:
        import uvicorn

        from ..service import ServiceConfig, create_app
    except ImportError as exc:
        raise fail(f"the service needs the serve extra ({exc.name} is missing): pip install 'fakescope[serve]'") \
            from None
    if max_upload_mb <= 0:
        raise fail(f"--max-upload-mb must be positive, got {max_upload_mb}")
    config = ServiceConfig.from_env(detector=detector, localizer=localizer, attributor=attributor, workers=workers,
                                    queue=queue,
                                    max_upload_mb=max_upload_mb)  # fmt: skip
    if config.token is None and not _loopback(host):
        log(f"warning: listening on {host} without FAKESCOPE_TOKEN: anyone who reaches it can use the service")
    t0 = time.time()
    try:
        app = create_app(config)
    except (KeyError, FileNotFoundError, ValueError, ImportError) as exc:
        raise fail(str(exc).strip('"')) from None
    loc = f", localizer {app.state.engine.localizer.name}" if localizer else ""
    log(f"loaded {app.state.engine.detector.name}{loc} in {time.time() - t0:.1f}s")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           limit_concurrency=max(64, 4 * config.capacity)))  # fmt: skip
    threading.Thread(target=_announce, args=(server, host, open_page), daemon=True).start()
    server.run()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _announce(server, host: str, open_page: bool) -> None:
    """Once uvicorn listens: print the page's address (the real port when --port 0) and open it if asked."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    port = next(s.getsockname()[1] for srv in server.servers for s in srv.sockets)
    # An address that means "every interface" is reached on this machine at loopback.
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host) or (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{port}/"
    log(f"fakescope serve: {url} (API docs: {url}docs)")
    if open_page:
        import webbrowser

        webbrowser.open(url)
