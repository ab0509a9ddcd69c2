"""An HTTP proxy that forwards plain requests and refuses tunnels, as some operators' and
companies' proxies do: a browser behind it gets no websocket (Chromium opens a `ws://` connection
through a proxy with CONNECT) but every ordinary request, long-polling included, goes through."""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
              "proxy-authorization", "te", "trailer"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_CONNECT(self):
        self.server.refused.append(self.path)
        self.send_error(403, "tunnels are not allowed here")

    def _forward(self):
        target = urlsplit(self.path)
        self.server.forwarded.append(target.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                             body=body, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = _forward


class WebsocketBlockingProxy:
    """Start with `start()`; `url` is the proxy's; `refused` lists the tunnels it turned away."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.refused, self.server.forwarded = [], []
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def refused(self) -> list[str]:
        return self.server.refused

    def start(self) -> WebsocketBlockingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
