"""A TCP proxy to stand between telemed and a service (Redis) and fail like a network does.

`freeze()`: connections stay open and nothing more crosses them, and new ones are accepted but go
nowhere: a host that stopped answering. `cut()`: every connection is closed and new ones refused:
the service went down. `restore()`: back to forwarding."""
from __future__ import annotations

import socket
import threading

from tests.live import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`, with the faults above."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=64)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._frozen = threading.Event()
        self._down = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/0", scheme: str = "redis") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def freeze(self) -> None:
        self._frozen.set()

    def cut(self) -> None:
        self._down.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self._down.clear()
        self._frozen.clear()

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while self._frozen.is_set() and not self._down.is_set():
                    self._stopped.wait(0.05)  # held, as a host that stopped answering holds it
                if self._down.is_set():
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass
