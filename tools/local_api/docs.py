"""``/docs``: Swagger UI on the local run's own OpenAPI document, served from the npm package
``swagger-ui-dist`` (pinned in package.json, installed by ``make run``): no CDN, nothing fetched
from outside at run time. The pages are static; Swagger UI reads ``/openapi.json`` in the browser,
and its "Try it out" calls the local run itself (the document's server URL).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from tools.local_api.gateway import JSON_TYPE, ROOT

SWAGGER_UI = ROOT / "node_modules" / "swagger-ui-dist"
#: The files the page loads, from the package (source maps and the other bundles are not used).
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
HTML_TYPE = "text/html; charset=utf-8"

Pages = dict[str, tuple[str, bytes]]


def _initializer(document_url: str) -> str:
    # A file of its own rather than an inline script (the package's own layout). No validator
    # badge: Swagger UI would send the document to validator.swagger.io.
    options = {
        "url": document_url,
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "validatorUrl": None,
        "persistAuthorization": True,
    }
    return (
        "window.onload = function () {\n"
        f"  const options = {json.dumps(options, indent=2)};\n"
        "  options.presets = [SwaggerUIBundle.presets.apis];\n"
        '  options.layout = "BaseLayout";\n'
        "  window.ui = SwaggerUIBundle(options);\n"
        "};\n"
    )


def _page(title: str) -> str:
    return (
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{title}</title>\n"
        "<link rel='stylesheet' href='/docs/swagger-ui.css'>\n"
        "<link rel='stylesheet' href='/docs/index.css'>\n"
        "<link rel='icon' type='image/png' href='/docs/favicon-32x32.png' sizes='32x32'>\n"
        "<link rel='icon' type='image/png' href='/docs/favicon-16x16.png' sizes='16x16'>\n"
        "</head>\n<body>\n<div id='swagger-ui'></div>\n"
        "<script src='/docs/swagger-ui-bundle.js'></script>\n"
        "<script src='/docs/swagger-initializer.js'></script>\n"
        "</body>\n</html>\n"
    )


def missing_page() -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>API docs</title>"
        "</head><body><p>Swagger UI is not installed (npm package <code>swagger-ui-dist</code>): "
        "<code>make run</code> installs it. The OpenAPI document: "
        "<a href='/openapi.json'>/openapi.json</a>.</p></body></html>\n"
    )


def docs_pages(document: dict[str, object], package: Path = SWAGGER_UI) -> tuple[Pages, list[str]]:
    """The local-only GET pages (path -> content type, body): ``/openapi.json``, ``/docs`` and
    Swagger UI's assets under ``/docs/``; and warnings (the package is missing)."""
    pages: Pages = {"/openapi.json": (JSON_TYPE, json.dumps(document, indent=2).encode())}
    try:
        assets = {name: (package / name).read_bytes() for name in ASSETS}
    except OSError:
        page = missing_page().encode()
        pages["/docs"] = pages["/docs/"] = (HTML_TYPE, page)
        return pages, [f"/docs shows no Swagger UI: {package} is missing (npm install)"]
    info = document.get("info")
    title = str(info.get("title", "API")) if isinstance(info, dict) else "API"
    page = _page(html.escape(title)).encode()
    pages["/docs"] = pages["/docs/"] = pages["/docs/index.html"] = (HTML_TYPE, page)
    pages["/docs/swagger-initializer.js"] = (
        "text/javascript; charset=utf-8",
        _initializer("/openapi.json").encode(),
    )
    for name, content_type in ASSETS.items():
        pages[f"/docs/{name}"] = (content_type, assets[name])
    return pages, []
