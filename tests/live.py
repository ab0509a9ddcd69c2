"""Helpers for tests against a real `telemed serve` process and real Socket.IO clients."""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import socketio

from tests.helpers import PASSWORD

TELEMED = str(Path(sys.executable).parent / "telemed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`telemed serve` in a subprocess, on the test database; can be killed and restarted."""

    def __init__(self, database_url: str, instance_path: Path, log_path: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "TELEMED_DATABASE_URL": database_url,
            "TELEMED_INSTANCE_PATH": str(instance_path),
            "TELEMED_SECRET_KEY": "live-test-secret",
            "TELEMED_ASYNC_MODE": "eventlet",
            # Every request's line in the log too: the tests that read it see what an operator's
            # access log would hold (no patient data in it).
            "TELEMED_ACCESS_LOG": "1",
            "TELEMED_LOGIN_RATE_LIMIT": "100000 per minute",
            "TELEMED_LOGIN_ACCOUNT_RATE_LIMIT": "100000 per minute",
            "TELEMED_WRITE_RATE_LIMIT": "100000 per minute",
            "TELEMED_DEFAULT_LOCALE": "en",  # as the in-process app of the suite
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "LiveServer":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [TELEMED, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"telemed serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"telemed serve did not answer: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as when a machine loses power."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def session(self, username: str, password: str = PASSWORD) -> "Session":
        return Session(self, username, password)


class Session:
    """A logged-in HTTP session against the live server."""

    def __init__(self, server: LiveServer, username: str, password: str):
        self.server = server
        self.http = requests.Session()
        response = self.http.post(f"{server.url}/api/v1/session",
                                  json={"username": username, "password": password}, timeout=10)
        assert response.status_code == 200, response.text
        self.csrf_token = response.json()["csrf_token"]
        self.user = response.json()["user"]

    def get(self, path, **kwargs):
        return self.http.get(f"{self.server.url}/api/v1{path}", timeout=10, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.http.post(f"{self.server.url}/api/v1{path}", json=json, timeout=20,
                              headers={"X-CSRFToken": self.csrf_token}, **kwargs)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def socket(self, **kwargs) -> "LiveSocket":
        return LiveSocket(self, **kwargs)


class LiveSocket:
    """A real python-socketio client that records every event it receives."""

    def __init__(self, session: Session, headers: dict | None = None, connect: bool = True,
                 transports=None, reconnection: bool = False):
        self.session = session
        self.events: queue.Queue = queue.Queue()
        self.client = socketio.Client(reconnection=reconnection, reconnection_delay=0.5,
                                      reconnection_delay_max=1)
        self.client.on("*", lambda event, data: self.events.put((event, data)))
        self.headers = {"Cookie": session.cookie_header(), **(headers or {})}
        self.transports = transports
        if connect:
            self.connect()

    def connect(self) -> None:
        # A callable, not the dict: python-engineio deletes `Cookie` from the dict it is given
        # when it upgrades to WebSocket, so a reconnection would come back without the session.
        self.client.connect(self.session.server.url, headers=lambda: dict(self.headers),
                            transports=self.transports, wait_timeout=10)

    def wait_for(self, name: str, predicate=lambda data: True, timeout: float = 10):
        """The first `name` event whose data satisfies the predicate; earlier ones are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {name} event within {timeout}s")
            try:
                event, data = self.events.get(timeout=remaining)
            except queue.Empty as exc:
                raise AssertionError(f"no {name} event within {timeout}s") from exc
            if event == name and predicate(data):
                return data

    def clear(self) -> None:
        """Forget every event received so far."""
        while not self.events.empty():
            self.events.get_nowait()

    def call(self, event: str, data: dict, timeout: float = 20):
        return self.client.call(event, data, timeout=timeout)

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
