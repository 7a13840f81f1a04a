"""The interactive API docs at `/docs` (docs/api/openapi.md): Swagger UI over `/openapi.json`,
loaded from this service only, so that the page works offline.

FastAPI's own page loads Swagger UI from a CDN (and ReDoc's from another); this one loads the
copy vendored under `streammeter/web/static/vendor/swagger-ui/` by
`scripts/vendor-swagger-ui.sh`, which the dashboard's `/ui` mount serves.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

SWAGGER_UI = "/ui/vendor/swagger-ui"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """`/docs` (and its OAuth2 redirect page) with local assets. Create the app with
    `docs_url=None, redoc_url=None` so that FastAPI adds no page of its own."""

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} API",
            swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            # No badge from Swagger's online validator: nothing is fetched from outside.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
