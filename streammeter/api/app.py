"""The ASGI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from streammeter import __version__
from streammeter.api import errors, manifests, metrics, mux, native, usage
from streammeter.api.errors import JSONResponse
from streammeter.api.wowza import router as wowza_router
from streammeter.config import Settings
from streammeter.store.base import Store


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="streammeter",
        version=__version__,
        summary="Exact video delivery usage, with Mux-compatible APIs",
        default_response_class=JSONResponse,
    )
    app.state.store = store
    app.state.settings = settings or Settings.from_env()
    errors.install(app)
    app.include_router(mux.router)
    app.include_router(native.router)
    app.include_router(wowza_router)
    app.include_router(manifests.router)
    app.include_router(usage.router)
    metrics.install(app)

    @app.get("/healthz", tags=["Service"], summary="Liveness")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app
