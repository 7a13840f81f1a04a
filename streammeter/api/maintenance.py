"""Background upkeep while the server runs: the rolling window of the Mux query.

The store keeps one total per asset over the widest window the Mux API accepts
(`Store.set_rolling_window`); the window moves on with the clock, so every minute the server
checks whether the hour changed and, if so, moves it (a write transaction of its own). Nothing
depends on it being current: a window it does not match is read from the calendar levels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.delivery_usage import widest_window

CHECK_EVERY_S = 60.0
log = logging.getLogger("streammeter.maintenance")


def advance_rolling_window(app: FastAPI) -> bool:
    """Move the store's rolling window to the widest Mux window now; True if it moved."""
    window = widest_window(now_us() // US_PER_SECOND, app.state.settings)
    return app.state.store.set_rolling_window(*window)


async def _keep_advancing(app: FastAPI) -> None:
    while True:
        try:
            await run_in_threadpool(advance_rolling_window, app)
        except Exception:  # a read-only or busy store: the query stays exact without it
            log.warning("could not advance the rolling window", exc_info=True)
        await asyncio.sleep(CHECK_EVERY_S)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(_keep_advancing(app))
    try:
        yield
    finally:
        task.cancel()
