"""nginx, configured from deploy/nginx/, in front of live `telemed serve` processes.

`NginxProxy(servers).start()` renders deploy/nginx/telemed.conf (the production site) and
deploy/nginx/nginx.conf.template (the wrapper that makes it a whole configuration) into a temporary
directory, runs nginx in the foreground as a subprocess on a free port, and waits until `/healthz`
answers through it. `require_nginx()` skips a test when there is no nginx, except under `CI=true`,
where that is a failure.

Clients are pinned to a process the way a browser is: by the `telemed_route` cookie, which nginx
hashes (`hash ... consistent`) to pick the process. `routes()` finds one cookie value per process by
asking nginx itself: it sends `/healthz?route-probe=<token>` with a candidate value and reads, in
nginx's access log, which upstream address served that request (`upstream=` in the site's
`telemed_upstream` log format). No header, endpoint or log line is added to telemed for this.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.helpers import IN_CI, PASSWORD
from tests.live import LiveSocket, free_port

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
SITE_TEMPLATE = DEPLOY_DIR / "telemed.conf"
MAIN_TEMPLATE = DEPLOY_DIR / "nginx.conf.template"
ROUTE_COOKIE = "telemed_route"
SERVER_OPTIONS = "max_fails=2 fail_timeout=10s"
_LOG_LINE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d{3}) .* route=(?P<route>\S*) '
                       r'upstream=(?P<upstream>.*?) upstream_status=')


def find_nginx() -> str | None:
    """Debian's /usr/sbin/nginx, else an nginx on PATH."""
    if os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return shutil.which("nginx")


def require_nginx() -> str:
    """The nginx binary; skip the test without one (fail under CI=true, where it must be there)."""
    nginx = find_nginx()
    if nginx is None:
        if IN_CI:
            pytest.fail("CI=true but nginx is not installed (.ci/run installs it)", pytrace=False)
        pytest.skip("nginx is not installed (apt-get install nginx); the deployment test needs it")
    return nginx


def fill(template: str, values: dict[str, str]) -> str:
    """Replace `{{NAME}}` placeholders on the non-comment lines of a template.

    A value of several lines keeps the indentation of the placeholder's line. Every placeholder
    outside comments must have a value.
    """
    out = []
    for line in template.splitlines():
        if not line.lstrip().startswith("#"):
            for name, value in values.items():
                marker = "{{" + name + "}}"
                if marker in line:
                    indent = line[: len(line) - len(line.lstrip())]
                    value = ("\n" + indent).join(value.splitlines())
                    line = line.replace(marker, value)
            left = re.findall(r"\{\{[A-Z_]+\}\}", line)
            if left:
                raise ValueError(f"no value for {left} in: {line.strip()}")
        out.append(line)
    return "\n".join(out) + "\n"


def upstream_lines(addresses: list[str], options: str = SERVER_OPTIONS) -> str:
    """One `server` line per `telemed serve` process (host:port)."""
    return "\n".join(f"server {address} {options};" for address in addresses)


def render(directory: Path, addresses: list[str], listen: str) -> Path:
    """Write the site and its wrapper into `directory`; the wrapper's path, for `nginx -c`."""
    site = directory / "telemed.conf"
    site.write_text(fill(SITE_TEMPLATE.read_text(), {
        "UPSTREAM_SERVERS": upstream_lines(addresses),
        "LISTEN": listen,
        "LOG_DIR": str(directory),
    }))
    main = directory / "nginx.conf"
    main.write_text(fill(MAIN_TEMPLATE.read_text(), {"PREFIX": str(directory), "SITE": str(site)}))
    return main


class NginxProxy:
    """nginx in front of some LiveServers; `url` is the only address clients should use."""

    def __init__(self, servers, nginx: str | None = None, keep_logs_in: Path | None = None):
        self.servers = list(servers)
        self.nginx = nginx or require_nginx()
        self.keep_logs_in = keep_logs_in  # where stop() copies nginx's logs, for a post-mortem
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def access_log(self) -> Path:
        return self.directory / "telemed.access.log"

    def error_log_tail(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log", "telemed.error.log"):
            path = self.directory / name
            if path.exists():
                texts.append(f"--- {name}\n{path.read_text()[-2000:]}")
        return "\n".join(texts)

    def start(self, timeout: float = 15) -> "NginxProxy":
        # A directory of its own under the system temp dir, readable by all: when the tests run as
        # root, nginx's workers run as `nobody` and must reach their temporary-file directories,
        # which pytest's private (0700) tmp_path would hide from them.
        self.directory = Path(tempfile.mkdtemp(prefix="telemed-nginx-"))
        self.directory.chmod(0o755)
        config = render(self.directory, [f"127.0.0.1:{s.port}" for s in self.servers],
                        f"127.0.0.1:{self.port}")
        with open(self.directory / "stderr.log", "ab") as stderr:
            self.process = subprocess.Popen(
                [self.nginx, "-p", f"{self.directory}/", "-e", str(self.directory / "error.log"),
                 "-c", str(config), "-g", "daemon off;"],
                stdout=stderr, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.process.returncode}):\n{self.error_log_tail()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not answer /healthz:\n{self.error_log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown; open websockets are cut
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.directory is not None:
            if self.keep_logs_in is not None:
                for log in self.directory.glob("*.log"):
                    shutil.copy(log, self.keep_logs_in / f"nginx-{log.name}")
            shutil.rmtree(self.directory, ignore_errors=True)

    # --- what nginx recorded -------------------------------------------------------------------

    def mark(self) -> int:
        """The number of access-log entries so far: pass it as `since` to look only at later ones."""
        return len(self.log_entries())

    def log_entries(self, since: int = 0) -> list[dict]:
        """The access log from entry `since` on: request line, status, routing key, upstreams."""
        if not self.access_log.exists():
            return []
        entries = []
        for line in self.access_log.read_text().splitlines():
            match = _LOG_LINE.search(line)
            if match:
                entry = match.groupdict()
                entry["upstreams"] = [a.strip() for a in entry["upstream"].split(",") if a.strip()]
                entries.append(entry)
        return entries[since:]

    def entries(self, predicate, since: int = 0, at_least: int = 1, timeout: float = 5) -> list[dict]:
        """The logged requests matching predicate, once there are at least `at_least` of them.

        nginx writes a request's log line just after its response (a websocket's when it closes),
        so a line can trail the client by a moment.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.log_entries(since) if predicate(e)]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    @staticmethod
    def ports(entries: list[dict]) -> set[int]:
        """The ports of the processes that finally served these requests (the last upstream)."""
        return {int(e["upstreams"][-1].rsplit(":", 1)[1]) for e in entries
                if e["upstreams"] and e["upstreams"][-1] != "-"}

    def served_by(self, route: str, timeout: float = 5) -> int:
        """The port of the process that nginx sends a client with this route cookie to."""
        token = uuid.uuid4().hex
        response = requests.get(f"{self.url}/healthz", params={"route-probe": token},
                                cookies={ROUTE_COOKIE: route}, timeout=5)
        assert response.status_code == 200, response.text
        assert ROUTE_COOKIE not in response.cookies  # nginx leaves an existing route alone
        ports = self.ports(self.entries(lambda e: token in e["request"], timeout=timeout))
        assert len(ports) == 1, f"nginx logged no probe {token}:\n{self.error_log_tail()}"
        return ports.pop()

    def routes(self, attempts: int = 200) -> list[str]:
        """One route cookie value per server (same order as `servers`), found by trial."""
        found: dict[int, str] = {}
        wanted = {s.port for s in self.servers}
        for _ in range(attempts):
            route = uuid.uuid4().hex
            found.setdefault(self.served_by(route), route)
            if set(found) >= wanted:
                return [found[s.port] for s in self.servers]
        raise AssertionError(f"no route value reached every process: {found}")

    def session(self, username: str, route: str, password: str = PASSWORD) -> "PinnedSession":
        return PinnedSession(self, username, route, password)


class PinnedSession:
    """A logged-in HTTP session through nginx whose route cookie pins it to one process.

    Works with tests.live.LiveSocket (it has `server.url` and `cookie_header()`).
    """

    def __init__(self, proxy: NginxProxy, username: str, route: str, password: str = PASSWORD):
        self.server = proxy
        self.route = route
        self.http = requests.Session()
        self.http.cookies.set(ROUTE_COOKIE, route)
        response = self.http.post(f"{proxy.url}/api/v1/session",
                                  json={"username": username, "password": password}, timeout=10)
        assert response.status_code == 200, response.text
        self.csrf_token = response.json()["csrf_token"]
        self.user = response.json()["user"]

    def _unsafe(self, method, path, **kwargs):
        return self.http.request(method, f"{self.server.url}/api/v1{path}", timeout=20,
                                 headers={"X-CSRFToken": self.csrf_token}, **kwargs)

    def get(self, path, **kwargs):
        return self.http.get(f"{self.server.url}/api/v1{path}", timeout=10, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self._unsafe("POST", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self._unsafe("DELETE", path, **kwargs)

    def cookies(self, route: str | None = None) -> dict[str, str]:
        """This session's cookies, with the route cookie replaced by `route` when given."""
        cookies = {c.name: c.value for c in self.http.cookies}
        cookies[ROUTE_COOKIE] = route or self.route
        return cookies

    def cookie_header(self, route: str | None = None) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies(route).items())

    def socket(self, route: str | None = None, connect: bool = True, **kwargs) -> LiveSocket:
        """A Socket.IO client of this login through nginx, pinned to `route` (default: ours).

        python-engineio sends the given headers with the handshake only; its later long-polling
        requests go out through its own requests.Session. Give that session the cookies too, as a
        browser would, or those requests would reach nginx without a route (and the server without
        a login).
        """
        cookies = self.cookies(route)
        headers = {"Cookie": self.cookie_header(route), **kwargs.pop("headers", {})}
        sock = LiveSocket(self, headers=headers, connect=False, **kwargs)

        def http_session() -> requests.Session:
            http = requests.Session()
            for name, value in cookies.items():
                http.cookies.set(name, value)
            return http

        sock.client.eio.http_factory = http_session  # also used again on every reconnection
        if connect:
            sock.connect()
        return sock
