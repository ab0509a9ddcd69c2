"""The browser files telemed serves: only those its pages use, under names carrying a hash of their
content, cached by browsers for a year, and sent compressed.

A post on a 2G line must not pay a round trip per file per page to ask whether it changed
(`Cache-Control: no-cache` cost five 300 ms round trips on every warm page view). A file's URL
changes when its content does (`js/post.3f2a9c1b04de.js`), so an answer can be kept for good
(`immutable`). Everything else under `static/` (the rest of `node_modules`, `package.json`, the
lock file) is not served at all. Our own scripts and styles are served minified (rJSmin and
rCSSmin drop comments and spacing: a fifth less after brotli), and each file is compressed once
per encoding, on first request, and kept in memory: they are few and small.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import brotli
import rcssmin
import rjsmin
from flask import Response, abort, current_app, g, request, url_for

from telemed.extensions import compress

# What the pages load, relative to `static/`; `*` within one folder.
SERVED = (
    "css/*.css",
    "js/*.js",
    "img/*",
    "node_modules/socket.io-client/dist/socket.io.min.js",
    "node_modules/chart.js/dist/chart.umd.min.js",
)
# Our own files, minified when loaded. rJSmin keeps a template literal whole only when none is
# nested in it, so our scripts nest none (tests/web/test_assets.py checks).
MINIFIERS = {"js/": rjsmin.jsmin, "css/": rcssmin.cssmin}
ASSETS_KEY = "telemed_assets"  # the app's AssetStore, in app.extensions
A_YEAR_S = 365 * 24 * 3600
COMPRESSIBLE = ("text/", "application/javascript", "image/svg+xml")


@dataclass
class Asset:
    """One served file: its bytes, its type, and its compressed forms once asked for."""

    content: bytes
    content_type: str
    encoded: dict[str, bytes] = field(default_factory=dict)


class AssetStore:
    """The served files of one `static/` folder, by logical and by hashed name."""

    def __init__(self, root: Path):
        self._hashed_names: dict[str, str] = {}
        self._assets: dict[str, Asset] = {}
        self._lock = threading.Lock()
        for pattern in SERVED:
            for path in sorted(root.glob(pattern)):
                if path.is_file():
                    self._add(root, path)

    def _add(self, root: Path, path: Path) -> None:
        logical = path.relative_to(root).as_posix()
        content = path.read_bytes()
        minify = MINIFIERS.get(logical.split("/", 1)[0] + "/") if path.suffix in (".js", ".css") else None
        if minify is not None:
            content = minify(content.decode()).encode()
        digest = hashlib.sha256(content).hexdigest()[:12]
        hashed = f"{logical[: -len(path.suffix)]}.{digest}{path.suffix}" if path.suffix else f"{logical}.{digest}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        self._hashed_names[logical] = hashed
        self._assets[hashed] = Asset(content, content_type)

    def generated(self, logical: str, build, content_type: str) -> str:
        """The hashed name of a file the server writes itself (built once, on first use), such as
        the labels of one language; served and cached like the others."""
        with self._lock:
            hashed = self._hashed_names.get(logical)
        if hashed is None:
            content = build()
            digest = hashlib.sha256(content).hexdigest()[:12]
            stem, _dot, suffix = logical.rpartition(".")
            hashed = f"{stem}.{digest}.{suffix}"
            with self._lock:
                self._assets[hashed] = Asset(content, content_type)
                self._hashed_names[logical] = hashed
        return hashed

    def data_uri(self, logical: str) -> str:
        """A small file as a `data:` URI, for a page to carry instead of fetching it (the favicon:
        a browser asks for it apart from the page and the cache, one more round trip on 2G)."""
        asset = self._assets[self._hashed_names[logical]]
        # Only what a data URI must escape is escaped ('<', '>', '#', '%'); double quotes become
        # single ones, legal in SVG: about a third shorter than escaping everything.
        text = quote(asset.content.decode().strip().replace('"', "'"), safe=" '=/:;,.-")
        return f"data:{asset.content_type},{text}"

    def content(self, logical: str) -> bytes:
        """A served file's bytes, by its logical name."""
        return self._assets[self._hashed_names[logical]].content

    def hashed_name(self, logical: str) -> str:
        """The served name of a file (KeyError for a file the pages may not use)."""
        return self._hashed_names[logical]

    def response(self, hashed: str) -> Response:
        """The file under its hashed name, compressed as the browser accepts, cached for good."""
        asset = self._assets.get(hashed)
        if asset is None:
            abort(404)
        encoding = self._encoding_for(asset)
        body = self._encoded(asset, encoding) if encoding else asset.content
        answer = Response(body, content_type=asset.content_type)
        answer.headers["Cache-Control"] = f"public, max-age={A_YEAR_S}, immutable"
        answer.headers["Vary"] = "Accept-Encoding"
        if encoding:
            answer.headers["Content-Encoding"] = encoding
        return answer

    @staticmethod
    def _encoding_for(asset: Asset) -> str | None:
        if not asset.content_type.startswith(COMPRESSIBLE):
            return None
        accepted = {part.split(";")[0].strip().lower()
                    for part in request.headers.get("Accept-Encoding", "").split(",")}
        for encoding in ("br", "gzip"):
            if encoding in accepted:
                return encoding
        return None

    def _encoded(self, asset: Asset, encoding: str) -> bytes:
        with self._lock:
            cached = asset.encoded.get(encoding)
        if cached is None:
            # Once per file and encoding, at the highest settings: the result is kept for good.
            cached = (brotli.compress(asset.content, quality=11) if encoding == "br"
                      else gzip.compress(asset.content, compresslevel=9, mtime=0))
            with self._lock:
                asset.encoded[encoding] = cached
        return cached


def asset_url(logical: str) -> str:
    """The URL pages use for one of their files, e.g. `asset_url("js/post.js")`."""
    return url_for("web.static_file", filename=current_app.extensions[ASSETS_KEY].hashed_name(logical))


def asset_data_uri(logical: str) -> str:
    """A small file the pages use, inline as a `data:` URI (see AssetStore.data_uri)."""
    return current_app.extensions[ASSETS_KEY].data_uri(logical)


def generated_asset_url(logical: str, build, content_type: str) -> str:
    """The URL of a file the server writes itself, built on first use (see AssetStore.generated)."""
    store = current_app.extensions[ASSETS_KEY]
    return url_for("web.static_file", filename=store.generated(logical, build, content_type))


def serve_asset(hashed: str) -> Response:
    """A browser file under its hashed name, from the app's store."""
    return current_app.extensions[ASSETS_KEY].response(hashed)


DOCUMENT_ONLY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Permissions-Policy")


def document_headers_only(response: Response) -> Response:
    """Drop the headers that only govern a document (a page) from every other answer: on a script,
    a stylesheet or JSON they do nothing, and a post on a 2G line pays ~300 bytes for them on each
    of the dozen answers a page load takes. (A service worker script would need its own CSP.)"""
    if response.mimetype != "text/html":
        for header in DOCUMENT_ONLY_HEADERS:
            response.headers.pop(header, None)
    return response


# What the post's pages need to open with no line (web/__init__.py serves the worker).
OFFLINE_SHELL = ("css/telemed.css", "js/telemed.js", "js/post.js", "js/consultation.js",
                 "node_modules/socket.io-client/dist/socket.io.min.js")


def service_worker(extra_urls: list[str]) -> Response:
    """/sw.js: static/js/service-worker.js with the files to keep written in front of it. Its
    content changes with any of theirs, so a release replaces the worker and its cache."""
    store = current_app.extensions[ASSETS_KEY]
    urls = [url_for("web.static_file", filename=store.hashed_name(name)) for name in OFFLINE_SHELL]
    urls += extra_urls
    logic = store.content("js/service-worker.js").decode()
    version = hashlib.sha256("\n".join(urls).encode() + logic.encode()).hexdigest()[:12]
    body = f"const VERSION = {json.dumps(version)};\nconst PRECACHE = {json.dumps(urls)};\n{logic}"
    answer = Response(body, content_type="application/javascript; charset=utf-8")
    answer.headers["Cache-Control"] = "no-cache"  # a browser checks for a new worker on each visit
    return answer


def compress_answer(response: Response) -> Response:
    """Compress a dynamic answer (Flask-Compress) unless it carries the session's CSRF token: a
    compressed secret next to text an attacker can make the page reflect can be read from the
    answers' sizes (BREACH), so pages with forms and the session's JSON go uncompressed."""
    if "csrf_token" in g:  # Flask-WTF keeps the token it handed out in this request there
        return response
    return compress.after_request(response)
