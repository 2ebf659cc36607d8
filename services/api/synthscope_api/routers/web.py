"""GET / (the drag-and-drop web app) and its static assets, served by the API itself (no build step, no Node).

Assets are content-addressed: at startup each file in `web/` gets a hash of its bytes in its URL
(`/assets/app.3f9c1a2b4d5e.js`) and a year of `immutable` caching. The references in index.html, and the imports
between the ES modules, are rewritten to those names (a module is hashed after its imports are, so a change
anywhere changes every URL that leads to it). index.html itself is `no-cache` and carries the page's CSP: only
this origin, plus the origin signed upload URLs point at (the storage endpoint in gcp mode).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

from synthscope.backends import upload_origin
from synthscope.config import TIER_LIMITS, Settings, Tier
from synthscope.errors import NotFound
from synthscope.uploads import EXTENSION_MIMES
from synthscope_api.deps import AppState

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
}
#: A quoted relative reference to a sibling file (`"./timeline.js"`) in a module, a stylesheet or index.html.
_REF = re.compile(r"""(["'])\./([A-Za-z0-9_-]+\.[a-z0-9]+)\1""")

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@dataclass(frozen=True)
class Site:
    index: bytes
    index_etag: str
    assets: dict[str, Asset]  # hashed name -> asset
    urls: dict[str, str]  # source name -> /assets/<hashed name>


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _preferred_mime(mimes: frozenset[str]) -> list[str]:
    """A file's declared type is used when it fits its extension; otherwise the first of these is sent."""
    return sorted(mimes, key=lambda m: (not m.startswith("audio/"), "x-" in m, "." in m, len(m), m))


def _page_values() -> dict[str, str]:
    """What index.html states about the service, from the same tables the API enforces."""
    free = TIER_LIMITS[Tier.free]
    minutes = int(free.max_duration_s // 60)
    limits = f"Free tier: files up to {free.max_file_bytes // 1_000_000} MB and {minutes} minutes"
    if free.timeline_windows is not None:
        limits += f"; the report shows the first {free.timeline_windows} windows of the timeline"
    mime_map = {ext: _preferred_mime(m) for ext, m in sorted(EXTENSION_MIMES.items())}
    return {
        "{{ACCEPT}}": ",".join(sorted(EXTENSION_MIMES)),
        "{{FORMATS}}": ", ".join(e.lstrip(".").upper() for e in sorted(EXTENSION_MIMES)),
        "{{MIME_MAP}}": json.dumps(mime_map, separators=(",", ":")),
        "{{FREE_LIMITS}}": limits + ".",
    }


def load_site(web_dir: Path = WEB_DIR) -> Site:
    sources = {
        p.name: p.read_bytes()
        for p in sorted(web_dir.iterdir())
        if p.is_file() and p.name != "index.html" and not p.name.startswith(".")
    }
    hashed: dict[str, str] = {}
    assets: dict[str, Asset] = {}

    def rewrite(text: str, prefix: str, visiting: frozenset[str]) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(2)
            return f"{m.group(1)}{prefix}{visit(name, visiting)}{m.group(1)}" if name in sources else m.group(0)

        return _REF.sub(one, text)

    def visit(name: str, visiting: frozenset[str]) -> str:
        if name in hashed:
            return hashed[name]
        if name in visiting:  # a cycle has no content hash to give; keep the module graph a tree
            raise RuntimeError(f"web/{name}: import cycle")
        stem, _, ext = name.rpartition(".")
        if ext not in MEDIA_TYPES:
            raise RuntimeError(f"web/{name}: no media type for .{ext}")
        body = sources[name]
        if ext in ("js", "css"):  # siblings stay relative: every asset lives under /assets/
            body = rewrite(body.decode(), "./", visiting | {name}).encode()
        digest = hashlib.sha256(body).hexdigest()[:12]
        hashed[name] = f"{stem}.{digest}.{ext}"
        assets[hashed[name]] = Asset(body, MEDIA_TYPES[ext], f'"{digest}"')
        return hashed[name]

    for name in sources:
        visit(name, frozenset())
    index = (web_dir / "index.html").read_text()
    for marker, value in _page_values().items():
        index = index.replace(marker, html.escape(value, quote=True))
    index_bytes = rewrite(index, "/assets/", frozenset()).encode()
    return Site(
        index=index_bytes,
        index_etag=_etag(index_bytes),
        assets=assets,
        urls={name: f"/assets/{h}" for name, h in hashed.items()},
    )


def content_security_policy(settings: Settings) -> str:
    connect = " ".join(filter(None, ["'self'", upload_origin(settings)]))  # where the page PUTs its files
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {connect}",
            "media-src 'self' blob:",  # the player plays the dropped file itself, never a download
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


SITE = load_site()


def _not_modified(request: Request, etag: str) -> bool:
    return etag in [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]


@router.api_route("/", methods=["GET", "HEAD"], name="webApp")
async def index(request: Request, state: AppState) -> Response:
    headers = {
        "Cache-Control": "no-cache",
        "ETag": SITE.index_etag,
        "Content-Security-Policy": content_security_policy(state.settings),
    }
    if _not_modified(request, SITE.index_etag):
        return Response(status_code=304, headers=headers)
    return Response(SITE.index, media_type="text/html; charset=utf-8", headers=headers)


@router.api_route("/assets/{name}", methods=["GET", "HEAD"], name="webAsset")
async def asset(name: str, request: Request) -> Response:
    found = SITE.assets.get(name)
    if found is None:  # only hashed names exist: a stale page's old URL is a 404, not new content
        raise NotFound("no such asset")
    headers = {"Cache-Control": IMMUTABLE, "ETag": found.etag}
    if _not_modified(request, found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
