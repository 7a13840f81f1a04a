"""`serve --workers N` on a DuckDB store: the process that owns the store, behind fronts.

DuckDB gives one process the file, so the extra worker processes cannot open it. Instead
(docs/design/fronts.md) the process that opened the store (the *owner*) runs the whole app on
a private Unix socket, and N - 1 *front* processes (`api/front.py`) share the public listening
socket. A front answers repeated Mux delivery-usage queries from its own cache and passes every
other request to the owner unchanged. What the owner adds for them:

- its write generations, published to a shared file after every write (`SharedGenerations`),
  so a front's cache knows at once that something was written;
- two internal routes on the private socket: verify a token, read a window's hour revisions;
- per-token rate limits left to the fronts, which verify every token they see (one bucket per
  token and front; the owner still limits Wowza credentials).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import APIRouter, FastAPI, Request

from streammeter.api.auth import authenticate
from streammeter.api.errors import JSONResponse
from streammeter.store.duckdb_store import DuckDBStore
from streammeter.store.generations import SharedGenerations

INTERNAL_PREFIX = "/_front"
router = APIRouter(prefix=INTERNAL_PREFIX, include_in_schema=False)


@router.post("/token")
def verify_token(request: Request) -> JSONResponse:
    """The token the request's `Authorization` header verifies to (401 envelope if none)."""
    token = authenticate(request)  # no rate charge here: the front charges it
    info = asdict(token) | {"scopes": sorted(token.scopes)}
    return JSONResponse(info)


@router.get("/hour-revisions")
def hour_revisions(request: Request, env: int, lo: int, hi: int) -> JSONResponse:
    """`Store.hour_revisions` for a front's answer cache, as [[hour, revision], ...]."""
    revisions = request.app.state.store.hour_revisions(env, lo, hi)
    return JSONResponse(sorted(revisions.items()))


def install(app: FastAPI) -> None:
    """Make `app` the owner behind fronts: the internal routes, token buckets in the fronts."""
    app.include_router(router)
    app.state.fronts_limit_tokens = True


@contextlib.contextmanager
def _runtime_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="streammeter-serve-"))  # mode 0700: this user only
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _start_fronts(
    count: int, listener: socket.socket, runtime: Path, access_log: bool
) -> list[subprocess.Popen]:
    command = [
        sys.executable, "-m", "streammeter.api.front",
        "--fd", str(listener.fileno()),
        "--owner-socket", str(runtime / "owner.sock"),
        "--generations", str(runtime / "generations"),
        "--owner-pid", str(os.getpid()),
        "--access-log" if access_log else "--no-access-log",
    ]  # fmt: skip
    return [subprocess.Popen(command, pass_fds=(listener.fileno(),)) for _ in range(count)]


def _signal(fronts: list[subprocess.Popen], sig: int) -> None:
    for proc in fronts:
        if proc.poll() is None:
            proc.send_signal(sig)


def _stop(fronts: list[subprocess.Popen]) -> None:
    _signal(fronts, signal.SIGTERM)
    for proc in fronts:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_with_fronts(
    app: FastAPI, store: DuckDBStore, host: str, port: int, fronts: int, access_log: bool
) -> None:
    """Run `app` (on `store`) as the owner on a private socket, behind `fronts` processes that
    listen on host:port. Returns when the owner's server stops; the fronts stop with it (and
    by themselves if this process dies)."""
    install(app)
    with _runtime_dir() as runtime:
        shared = SharedGenerations(runtime / "generations", create=True)
        store.publish_generations(shared)
        private = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        private.bind(str(runtime / "owner.sock"))
        private.listen(2048)  # fronts may connect before the owner's server accepts
        listener = socket.create_server((host, port), backlog=2048)
        listener.set_inheritable(True)
        started = _start_fronts(fronts, listener, runtime, access_log)
        listener.close()  # the fronts hold it now
        # uvicorn raises the signal that stopped it again once it has shut down: ignored
        # here, so that the fronts are waited for (and the runtime directory removed).
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOP_SIGNALS}
        try:
            config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False)
            _OwnerServer(config, started).run(sockets=[private])
        finally:
            _stop(started)
            private.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _OwnerServer(uvicorn.Server):
    """Passes a stop signal on to the fronts first: they stop taking requests while the
    owner finishes the ones it has."""

    def __init__(self, config: uvicorn.Config, fronts: list[subprocess.Popen]) -> None:
        super().__init__(config)
        self.fronts = fronts

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        _signal(self.fronts, signal.SIGTERM)
        super().handle_exit(sig, frame)
