"""The FastAPI application: routes, bearer-token check, JSON errors, the page and its assets.

Routes: ``GET /`` (the page) and ``/static/*`` (its assets), ``GET /v1/health``,
``GET /v1/detectors``, ``POST /v1/scan``, and the schema at ``/openapi.json``
with Swagger UI at ``/docs``. Every error is ``{"error": ..., "status": ...}``.

With a token (``FAKESCOPE_TOKEN``), every route needs ``Authorization: Bearer
<token>`` except the health check and the page with its assets, which hold no
data and no model (the page asks for the token and sends it with each call).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .config import ServiceConfig
from .engine import Engine, card_summary, formats
from .errors import ApiError
from .schemas import Detectors, ErrorBody, Health, ScanResult
from .uploads import receive

log = logging.getLogger("fakescope.service")

WEB = Path(__file__).parent / "web"
#: routes open without the token: they hold no data and load no model
PUBLIC = ("/v1/health", "/")
PUBLIC_PREFIX = "/static/"
#: the page runs only its own files: no CDN, no inline script, nothing sent elsewhere
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}  # fmt: skip

ERRORS = {code: {"model": ErrorBody, "description": why} for code, why in {
    401: "a token is set and the request lacks it (or has another)",
    503: "the service is busy: workers and queue are full; retry after Retry-After seconds",
}.items()}  # fmt: skip
SCAN_ERRORS = {code: {"model": ErrorBody, "description": why} for code, why in {
    400: "a malformed multipart body, a part other than 'file' (no file paths or URLs), or query parameters",
    413: "the upload is over the size limit, or the image over the pixel guard (refused before decoding)",
    415: "not multipart/form-data, or the bytes are no image format the service reads",
    422: "no 'file' part, or an image that cannot be decoded (empty, truncated, corrupt)",
}.items()}  # fmt: skip
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "additionalProperties": False,
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "the image's bytes; its format is read from them, not from the "
                                           "file name or content type"}}}}}}  # fmt: skip


class BearerAuth:
    """ASGI middleware: every route but :data:`PUBLIC` needs ``Authorization: Bearer <token>``.

    The token is compared in constant time (:func:`hmac.compare_digest`), so the answer's timing does not
    tell how much of a guess was right.
    """

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token.encode("utf-8") if token else None

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] != "http" or _public(scope["path"]):
            return await self.app(scope, receive, send)
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token):
            return await self.app(scope, receive, send)
        why = "a bearer token is required" if not header else "the bearer token is not the one set"
        response = _error(401, f"{why}: send 'Authorization: Bearer <FAKESCOPE_TOKEN>'",
                          {"WWW-Authenticate": 'Bearer realm="fakescope"'})  # fmt: skip
        await response(scope, receive, send)


def _public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIX)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def create_app(config: ServiceConfig | None = None, detector=None, localizer=None) -> FastAPI:
    """The application, with its models loaded and warmed up (so this takes seconds).

    Args:
        config: the settings; default :meth:`ServiceConfig.from_env` (the token from FAKESCOPE_TOKEN).
        detector, localizer: models already loaded, used instead of loading ``config``'s names.

    The private upload folder is made here and removed, with what is left in it, at shutdown.
    """
    config = config or ServiceConfig.from_env()
    engine = Engine(config, detector=detector, localizer=localizer)
    engine.warm_up()
    upload_dir = Path(tempfile.mkdtemp(prefix="fakescope-serve-", dir=config.upload_parent))
    page = (WEB / "index.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            engine.close()
            shutil.rmtree(upload_dir, ignore_errors=True)

    app = FastAPI(title="fakescope", version=__version__, lifespan=lifespan,
                  description="Is an image a real photograph or generated? Upload it to `POST /v1/scan`: the answer "
                              "is the row `fakescope scan` writes for the file (calibrated `p_fake`, a verdict with "
                              "an unsure band, how far to trust it), with the detector's card summary and, when "
                              "the service runs a localizer, the manipulation map.")  # fmt: skip
    app.state.engine, app.state.upload_dir = engine, upload_dir
    app.add_middleware(BearerAuth, token=config.token)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = {404: f"no route {request.url.path}; see /docs", 405: f"{request.method} is not allowed on "
                   f"{request.url.path}; see /docs"}.get(exc.status_code, str(exc.detail))  # fmt: skip
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get("/v1/health", response_model=Health, tags=["service"])
    async def health():
        """Liveness and load; needs no token. Answers once the models are loaded."""
        return {"status": "ok", "version": __version__, "auth": config.token is not None,
                "in_flight": engine.in_flight, "capacity": config.capacity}  # fmt: skip

    @app.get("/v1/detectors", response_model=Detectors, responses=ERRORS, tags=["service"])
    async def detectors():
        """The loaded detector (card summary, unsure band) and localizer, and what else could be served."""
        from ..models import shipped
        from ..registry import list_detectors, list_localizers

        loc = engine.localizer
        return {"detector": {**engine.card, "unsure_band": engine.band},
                "localizer": None if loc is None else card_summary(loc),
                "shipped": shipped(), "families": list_detectors(), "localizers": list_localizers(),
                "formats": formats(), "max_upload_bytes": config.max_upload_bytes}  # fmt: skip

    @app.post("/v1/scan", responses={200: {"model": ScanResult}, **SCAN_ERRORS, **ERRORS}, tags=["scan"],
              openapi_extra={"requestBody": UPLOAD_BODY})  # fmt: skip
    async def scan(request: Request):
        """Score one image, uploaded as multipart/form-data in the part `file`.

        The answer is the scan row of the file (see the README's Scanning section) plus `unsure_band`,
        `card`, `sha256` and `bytes`; with a localizer also `heatmap_png` (base64) and `explanation`.
        The uploaded bytes are kept in the service's private temp folder only while they are scored.
        """
        if request.query_params:
            raise ApiError(400, f"query parameters are not accepted ({', '.join(request.query_params)}): the "
                                "only input is the uploaded image; file paths and URLs are never read")  # fmt: skip
        if not engine.admit():
            raise ApiError(503, f"busy: {config.capacity} requests are being scored or waiting; retry shortly",
                           {"Retry-After": "1"})  # fmt: skip
        try:
            upload = await receive(request, upload_dir, config.max_upload_bytes)
        except BaseException:
            engine.leave()
            raise
        # The worker deletes the upload and gives the place back when it is done, even when the client has
        # gone: shield keeps a cancelled request from cancelling work that owns the file.
        row = await asyncio.shield(asyncio.wrap_future(engine.pool.submit(_run, engine, upload)))
        return JSONResponse(row)

    return app


def _run(engine: Engine, upload) -> dict:
    try:
        return engine.scan(upload)
    finally:
        upload.discard()
        engine.leave()
