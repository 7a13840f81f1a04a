"""Error envelopes. Mux-compatible and native endpoints share Mux's shape:
`{"error": {"type": ..., "messages": [...]}}`."""

from __future__ import annotations

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse as StarletteJSONResponse

from streammeter.store.base import StoreFull


class JSONResponse(StarletteJSONResponse):
    """JSON rendered by orjson. A JSONResponse subclass, so that /openapi.json documents the
    routes that use it as JSON (not as a string)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        messages: list[str],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(type_)
        self.status, self.type, self.messages = status, type_, messages
        self.headers = headers


def envelope(
    status: int, type_: str, messages: list[str], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "messages": messages}}, status_code=status, headers=headers
    )


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", ["Unauthorized request"])


def forbidden(scope: str) -> ApiError:
    return ApiError(403, "forbidden", [f"This access token lacks the {scope!r} scope"])


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", [f"{what} was not found"])


def invalid(messages: list[str]) -> ApiError:
    return ApiError(400, "invalid_parameters", messages)


_STATUS_TYPES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def install(app) -> None:  # type: ignore[no-untyped-def]
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return envelope(exc.status, exc.type, exc.messages, exc.headers)

    @app.exception_handler(StoreFull)
    async def _store_full(_: Request, exc: StoreFull) -> JSONResponse:
        # 507 Insufficient Storage: the write was rolled back whole; retry once space is freed
        return envelope(507, "insufficient_storage", [str(exc)])

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        messages = [
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'request'}: {err['msg']}"
            for err in exc.errors()
        ]
        return envelope(400, "invalid_parameters", messages)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return envelope(
            exc.status_code, _STATUS_TYPES.get(exc.status_code, "error"), [str(exc.detail)]
        )
