"""A receiver of webhooks for the tests: an HTTP server on loopback that records every POST and
answers as the test says (tests/conftest.py's ``receiver_factory`` makes them)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

# What the receiver does with the n-th request (from 1): "ok" (200), a status code, "close" (the
# connection closed without an answer), "hang" (no answer until the sender gives up), "block"
# (no answer until the test releases it, then 200), or (status code, body bytes).
Behaviour = Callable[[int], Any]


class Receiver:
    """An HTTP server on a free loopback port that records every POST (headers, body, time)."""

    def __init__(self, behaviour: Behaviour = lambda n: "ok") -> None:
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.blocked = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.monotonic(),
                        }
                    )
                    n = len(receiver.requests)
                action = receiver.behaviour(n)
                if action == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if action == "hang":
                    time.sleep(2)  # beyond UAI_WEBHOOK_TIMEOUT_SECONDS (1 in tests)
                    self.close_connection = True
                    return
                if action == "block":
                    receiver.blocked.set()
                    receiver.release.wait(20)
                answer = b""
                if isinstance(action, tuple):
                    action, answer = action
                status = action if isinstance(action, int) else 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
