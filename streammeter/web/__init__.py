"""The dashboard (docs/dashboard.md): a static single-page app served at `/` by the API process.

It reads the JSON APIs with the token the user signs in with (HTTP Basic), and loads nothing
from outside the service: its chart library (uPlot) is vendored under `static/vendor/` by
`scripts/vendor-js.sh`, beside Swagger UI for `/docs` (`scripts/vendor-swagger-ui.sh`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse

from streammeter.api import freshness

STATIC = Path(__file__).resolve().parent / "static"

# Everything from this origin, nothing from anywhere else (the dashboard works offline).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def install(app: FastAPI) -> None:
    """`/` (the page), `/ui/...` (its scripts, styles, vendored library), `/v1/freshness`."""
    app.include_router(freshness.router)
    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)
