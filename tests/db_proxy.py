"""A TCP proxy in front of the test PostgreSQL that a test can cut and restore.

Cutting it is what an app sees when its database goes away: open connections
drop mid-conversation and new ones are refused. Restoring it is the server
coming back on the same address. The real server keeps running for every other
test meanwhile.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from sqlalchemy.engine import URL


class DatabaseProxy:
    """Forwards 127.0.0.1:<port> to the server ``url`` names (TCP or its unix socket)."""

    def __init__(self, url: URL) -> None:
        socket_dir = url.query.get("host")
        port = url.port or 5432
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            self.target: tuple[int, object] = (
                socket.AF_UNIX,
                str(Path(socket_dir) / f".s.PGSQL.{port}"),
            )
        else:
            self.target = (socket.AF_INET, (url.host or "127.0.0.1", port))
        self.url = url
        self.port = 0
        self.attempts = 0  # connections the app tried to open
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def app_url(self) -> URL:
        """The database URL an app uses to go through the proxy."""
        return URL.create(
            self.url.drivername,
            username=self.url.username,
            password=self.url.password,
            host="127.0.0.1",
            port=self.port,
            database=self.url.database,
        )

    def start(self) -> None:
        """Listen (again, on the same port once one is chosen) and forward."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """The database goes away: refuse new connections, drop the open ones."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            doomed, self._open = self._open, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            self.attempts += 1
            upstream = socket.socket(self.target[0], socket.SOCK_STREAM)
            upstream.connect(self.target[1])
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
