"""Real network faults for the tests: a loopback TCP proxy in front of PostgreSQL or Redis.

A test points a server or worker process at the proxy instead of the real service, then cuts it
(every open connection is dropped and new ones are refused, as when the service stops) and
restores it. Nothing is mocked: the processes see the same socket errors an outage gives them.
The machine's own PostgreSQL and Redis are never stopped: other people use them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

Target = tuple[str, int] | str  # (host, port), or the path of a Unix socket

BUFFER_BYTES = 65536


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target`` until :meth:`cut`; :meth:`restore` reopens it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._open = False

    def start(self) -> TcpProxy:
        """Listen (on a free port the first time, on the same port after a cut)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._open = True
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="fault-proxy").start()
        return self

    def cut(self) -> None:
        """Drop every connection and refuse new ones (the service is down)."""
        self._open = False
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if not self._open:
            self.start()

    def close(self) -> None:
        """Stop for good."""
        self.cut()

    def _connect_target(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
        else:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        return upstream

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            if not self._open:
                client.close()
                continue
            try:
                upstream = self._connect_target()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(BUFFER_BYTES)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(sink)


def database_target(database: dict[str, Any]) -> Target:
    """Where a Django ``DATABASES`` entry connects: host and port, or the Unix socket file."""
    host = database.get("HOST") or "/var/run/postgresql"
    port = int(database.get("PORT") or 5432)
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    return (host, port)


def proxied_database_url(database: dict[str, Any], port: int) -> str:
    """A ``DATABASE_URL`` for the same database and user, through a proxy on ``port``."""
    user = database.get("USER") or "postgres"
    password = database.get("PASSWORD") or ""
    auth = f"{user}:{password}" if password else user
    return f"postgres://{auth}@127.0.0.1:{port}/{database['NAME']}"


def timed(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> float:
    """Seconds until ``predicate()`` is truthy; raises TimeoutError after ``timeout``."""
    started = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception:  # the thing polled may itself be down for a while
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(interval)
