"""The console's pages and assets. Every page address answers the same `index.html`; the
app in the browser reads the address and asks the API (under `/v1`, with the key the person
signed in with) for what to show. Nothing here reads the store: the console sees what a
client of the API sees, and no more.

The pages' addresses are listed one by one so that they shadow nothing: `/v1`, `/healthz`,
`/readyz` and `/metrics` keep their answers, and any other address its JSON 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

STATIC = Path(__file__).parent / "static"
ASSETS_PREFIX = "/console"

# The pages of the app (`static/app.js` routes them). `{rest:path}` takes the rest of an
# address: `/threads/{thread_id}` and `/threads/{thread_id}/runs/{run_id}` alike.
PAGES = (
    "/",
    "/assistants",
    "/assistants/{rest:path}",
    "/playground",
    "/threads",
    "/threads/{rest:path}",
    "/conversations",
    "/conversations/{rest:path}",
    "/responses",
    "/responses/{rest:path}",
    "/files",
    "/files/{rest:path}",
    "/vector_stores",
    "/vector_stores/{rest:path}",
)

# The page holds an API key: it runs only its own scripts and styles, and talks only to its
# own origin. Images may come from anywhere, as `image_url` message parts do, and from
# `data:` URLs, as the images of a Responses code_interpreter call do.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src * data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Assets keep their names from one version to the next: browsers ask again each time and
# get a 304 while the file is unchanged (its ETag).
REVALIDATE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _index() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text(), headers=SECURITY_HEADERS | REVALIDATE)


for _page in PAGES:
    router.add_api_route(_page, _index, methods=["GET"], response_class=HTMLResponse)


class Assets(StaticFiles):
    """The app's scripts and stylesheet, revalidated on every load."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers.update(SECURITY_HEADERS | REVALIDATE)
        return response


def assets() -> Assets:
    return Assets(directory=STATIC)
