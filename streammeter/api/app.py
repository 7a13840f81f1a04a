"""The ASGI application factory."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from streammeter import __version__, web
from streammeter.api import (
    docs,
    errors,
    limits,
    maintenance,
    manifests,
    metrics,
    mux,
    native,
    openapi_errors,
    usage,
)
from streammeter.api.errors import JSONResponse
from streammeter.api.schemas_native import Health, documented
from streammeter.api.wowza import router as wowza_router
from streammeter.config import Settings
from streammeter.ingest.columnar import warm_up
from streammeter.ingest.group import GroupCommitter
from streammeter.store.base import Store, open_store


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="streammeter",
        version=__version__,
        summary="Exact video delivery usage, with Mux-compatible APIs",
        default_response_class=JSONResponse,
        docs_url=None,  # docs.install: Swagger UI from this service, not from a CDN
        redoc_url=None,
        lifespan=maintenance.lifespan,  # the Mux query's rolling window (api/maintenance.py)
    )
    app.state.store = store
    app.state.group_committer = GroupCommitter(store)  # POST /v1/events (api/native.py)
    app.state.settings = settings or Settings.from_env()
    errors.install(app)
    app.include_router(mux.router)
    app.include_router(native.router)
    app.include_router(wowza_router)
    app.include_router(manifests.router)
    app.include_router(usage.router)
    web.install(app)  # the dashboard at / (docs/dashboard.md) and /v1/freshness
    metrics.install(app)
    limits.install(app)  # outermost: sizes checked before anything else runs
    openapi_errors.install(app)  # errors documented in the envelopes they are sent in
    docs.install(app)  # /docs: interactive, offline (docs/api/openapi.md)

    @app.get("/healthz", tags=["Service"], summary="Liveness", responses=documented(Health))
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app


def app_from_env() -> FastAPI:
    """The app on the store named by STREAMMETER_DB: what each `serve --workers N` process
    runs (an app factory for uvicorn)."""
    tune_gc()
    return create_app(open_store(), Settings.from_env())


#: Objects allocated before the cyclic garbage collector's youngest generation is collected.
#: Parsing a batch allocates ~30 objects per record, nearly none of them in cycles (reference
#: counting frees them); Python's default (700) collects ~40 times per 1,000-record batch.
GC_THRESHOLD = 10_000


def tune_gc() -> None:
    """For a long-running server: move what startup allocated (modules, the app) out of the
    collector's sight, and collect the youngest generation less often. Preparing event
    batches takes ~14% less CPU (docs/performance.md). Arrow's compute functions are loaded
    first, so the first event batch does not pay for it (~0.4 s)."""
    warm_up()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
