"""Browser files: only those the pages use, under content-hashed names, cached for good and
compressed; dynamic answers compressed unless they carry the CSRF token (web/assets.py)."""
import gzip
import re
import shutil
import subprocess
from pathlib import Path

import brotli
import pytest

from telemed.web.assets import A_YEAR_S, AssetStore
from tests.helpers import ApiClient, add_waiting_requests

ASSET_URL = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def page_assets(http, path: str) -> list[str]:
    """The /static/ URLs a page refers to."""
    answer = http.get(path)
    assert answer.status_code == 200, path
    return ASSET_URL.findall(answer.get_data(as_text=True))


@pytest.mark.parametrize("username, path", [
    (None, "/login"), ("feldsher_a", "/post"), ("doctor_g", "/doctor"),
    ("admin_z", "/admin/coverage"), ("admin_z", "/admin/reports"),
])
def test_every_file_a_page_uses_is_hashed_and_cached_for_a_year(app, district, username, path):
    http = ApiClient(app, username).http
    urls = page_assets(http, path)
    assert any(url.endswith(".css") for url in urls)
    assert any(url.endswith(".js") for url in urls) or username is None  # the login page has none
    assert 'rel="icon" href="data:image/svg+xml' in http.get(path).get_data(as_text=True)
    for url in urls:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", url), url
        answer = http.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Cache-Control"] == f"public, max-age={A_YEAR_S}, immutable"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", [
    "/static/package.json", "/static/package-lock.json",
    "/static/node_modules/socket.io-client/package.json",
    "/static/node_modules/chart.js/dist/chart.umd.js",
    "/static/js/post.js",                       # the unhashed name
    "/static/js/post.000000000000.js",          # a hash that is not the file's
    "/static/../pyproject.toml",
])
def test_nothing_else_under_static_is_served(app, district, path):
    assert app.test_client().get(path).status_code == 404


def test_files_are_sent_as_brotli_or_gzip_as_the_browser_accepts(app, district):
    http = app.test_client()
    feldsher = ApiClient(app, "feldsher_a").http
    script = next(url for url in page_assets(feldsher, "/post") if "socket.io" in url)
    plain = http.get(script)
    assert "Content-Encoding" not in plain.headers
    as_brotli = http.get(script, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert as_brotli.headers["Content-Encoding"] == "br"
    assert brotli.decompress(as_brotli.data) == plain.data
    assert len(as_brotli.data) < len(plain.data) / 3
    as_gzip = http.get(script, headers={"Accept-Encoding": "gzip"})
    assert as_gzip.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(as_gzip.data) == plain.data
    assert "Accept-Encoding" in as_gzip.headers["Vary"]


def test_a_file_gets_a_new_name_when_its_content_changes(tmp_path):
    (tmp_path / "js").mkdir()
    script = tmp_path / "js" / "post.js"
    script.write_text("console.log(1);")
    before = AssetStore(tmp_path).hashed_name("js/post.js")
    script.write_text("console.log(2);")
    after = AssetStore(tmp_path).hashed_name("js/post.js")
    assert before != after and before.startswith("js/post.") and after.endswith(".js")
    with pytest.raises(KeyError):
        AssetStore(tmp_path).hashed_name("package.json")


def test_answers_are_compressed_unless_they_carry_the_csrf_token(app, district):
    from telemed.extensions import db

    with app.app_context():
        add_waiting_requests(app, district.feldsher_a, [district.post_a], 20)
        db.session.remove()
    doctor = ApiClient(app, "doctor_g")
    gzip_only = {"Accept-Encoding": "gzip"}
    listing = doctor.http.get("/api/v1/consultations", headers=gzip_only)
    assert listing.headers["Content-Encoding"] == "gzip"
    assert b'"total"' in gzip.decompress(listing.data)
    # A page with a form and the session's JSON both hold the CSRF token: never compressed.
    for path in ("/doctor", "/api/v1/session", "/login"):
        answer = doctor.http.get(path, headers=gzip_only)
        assert answer.status_code == 200, path
        assert "Content-Encoding" not in answer.headers, path


STATIC = Path(__file__).resolve().parents[2] / "static"


def nested_template_literals(source: str) -> list[int]:
    """Lines where a template literal opens inside another's `${...}`, which rJSmin would minify
    as code (a JavaScript scanner good enough for our scripts: strings, comments, templates)."""
    found, stack, i, line = [], [], 0, 1  # stack: "`" inside a template's text, "{" in code braces
    quote = None
    while i < len(source):
        ch, pair = source[i], source[i:i + 2]
        line += ch == "\n"
        if quote:  # inside a '...' or "..." string
            i += 2 if ch == "\\" else 1
            quote = None if ch == quote else quote
            continue
        if stack and stack[-1] == "`":  # inside a template's text
            if ch == "\\":
                i += 2
                continue
            if ch == "`":
                stack.pop()
            elif pair == "${":
                stack.append("${")
                i += 1
            i += 1
            continue
        if pair == "//":
            i = source.find("\n", i)
            i = len(source) if i < 0 else i
        elif pair == "/*":
            end = source.index("*/", i + 2)
            line += source.count("\n", i, end)
            i = end + 2
        elif ch in "'\"":
            quote, i = ch, i + 1
        elif ch == "`":
            if "${" in stack:
                found.append(line)
            stack.append("`")
            i += 1
        elif ch == "{":
            stack.append("{")
            i += 1
        elif ch == "}":
            if stack:
                stack.pop()
            i += 1
        else:
            i += 1
    return found


def test_the_scanner_finds_a_nested_template_literal():
    assert nested_template_literals("const a = `x ${b ? `y` : ''}`;\n") == [1]
    assert nested_template_literals("const a = `x ${f('`')}` + `z`; // `\n/* ` */") == []


@pytest.mark.parametrize("script", sorted(p.name for p in (STATIC / "js").glob("*.js")))
def test_our_scripts_are_served_minified_and_still_parse(app, script):
    source = (STATIC / "js" / script).read_text()
    assert nested_template_literals(source) == [], "rJSmin would change the text of these templates"
    served = app.extensions["telemed_assets"].content(f"js/{script}")
    assert len(served) < len(source.encode())
    if shutil.which("node") is None:
        pytest.skip("node is not installed (make test needs npm, which brings it)")
    checked = subprocess.run(["node", "--check", "--input-type=commonjs"], input=served, capture_output=True)
    assert checked.returncode == 0, checked.stderr.decode()
