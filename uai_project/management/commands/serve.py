"""``manage.py serve``: run UAI under an ASGI server (daphne by default, or uvicorn)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from uai_project.startup import port_problem, where_data

SERVERS = ["daphne", "uvicorn"]
EXIT_AFTER_SECONDS = 2.0  # once the server has stopped, how long threads may take to end

logger = logging.getLogger(__name__)


def exit_soon() -> None:
    """End the process shortly after the server stopped, whatever its threads are doing.

    Python joins its threads at exit. A request thread that had asked the server's loop for
    something (``async_to_sync``: waiting for a turn, publishing after a commit) just as the loop
    stopped waits for ever, and the process never exited on SIGTERM: an orchestrator had to kill
    it. The shutdown has already ended what it could (UAI's waits, the worker's jobs).
    """

    def leave() -> None:
        stuck = [
            t.name for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon
        ]
        logger.warning(
            "server stopped; %d thread(s) still blocked (%s): exiting", len(stuck), ", ".join(stuck)
        )
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(EXIT_AFTER_SECONDS, leave)
    timer.daemon = True  # (runs while the interpreter joins the others)
    timer.start()


def port_number(value: str) -> int:
    """A TCP port, 0 to 65535 (0: any free one)."""
    port = int(value)  # argparse turns a ValueError into "invalid port_number value"
    if not 0 <= port <= 65535:
        raise ValueError(value)
    return port


class Command(BaseCommand):
    help = "Serve UAI (HTTP and WebSocket; the embedded worker too unless REDIS_URL is set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("UAI_HOST", "127.0.0.1"))
        # A string default goes through ``type`` as typed: a bad UAI_PORT is a usage error.
        parser.add_argument("--port", type=port_number, default=os.environ.get("UAI_PORT", "8000"))
        parser.add_argument("--server", choices=SERVERS, default=os.environ.get("UAI_SERVER", "daphne"))

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        if options["server"] not in SERVERS:  # argparse checks choices on the command line only
            raise CommandError(f"UAI_SERVER must be one of {', '.join(SERVERS)}, not {options['server']!r}")
        problem = port_problem(host, port)  # before anything slow: the app, the worker
        if problem:
            raise CommandError(problem)
        if options["server"] == "uvicorn":
            import uvicorn

            from uai_project import uvicorn_http

            command = self

            class ReadyServer(uvicorn.Server):
                async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                    await super().startup(sockets)
                    if self.started:  # bound and listening
                        command.announce(host, self.servers[0].sockets[0].getsockname()[1], "uvicorn")

            config = uvicorn.Config(
                "uai_project.asgi:application",
                host=host,
                port=port,
                lifespan="on",
                http=uvicorn_http.HTTPProtocol,  # bad HTTP answered with {detail, code}
                log_level="warning",
                ws=settings.UAI_UVICORN_WS,
                ws_max_size=settings.UAI_WS_MAX_FRAME_BYTES,  # a larger message: closed with 1009
                backlog=settings.UAI_LISTEN_BACKLOG,
                # Open streams (SSE) would hold a shutdown forever; then the lifespan's shutdown
                # stops the embedded worker (its own grace for running jobs).
                # A number of seconds, for asyncio.timeout: the int of uvicorn's annotation is too narrow.
                timeout_graceful_shutdown=settings.UAI_SHUTDOWN_GRACE_SECONDS,  # type: ignore[arg-type]
            )
            uv_server = ReadyServer(config)
            try:
                uv_server.run()
            except SystemExit:
                # uvicorn exits with 3 on a startup failure (after logging why)
                if not uv_server.started:
                    raise CommandError(
                        f"the server did not start on {host}:{port} (see the line above)"
                    ) from None
                raise
            if not uv_server.started:
                raise CommandError(f"the server did not start on {host}:{port} (see the line above)")
            exit_soon()
            return
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from uai_project import daphne_http
        from uai_project.asgi import application

        daphne_http.install()

        def ready() -> None:
            # daphne has no lifespan events: start the embedded worker once it listens, and run
            # the shutdown before the reactor goes (Twisted waits for the Deferred): requests
            # waiting for a turn end (else their threads kept the process from exiting), the
            # worker's running jobs get their grace, and the ones still running go back to the
            # queue instead of being dropped with the loop (and failed later as stalled).
            import asyncio

            from twisted.internet import defer, reactor

            from uai.runs import embedded
            from uai_project.asgi import shutdown

            # A message over the limit is refused with a 1009 close (autobahn drops the TCP
            # connection on any failure by default: the client learnt nothing).
            server.ws_factory.setProtocolOptions(failByDrop=False)
            loop = asyncio.get_event_loop()
            loop.call_soon(embedded.start)
            # Listening already (Twisted binds a TCP endpoint at once): told once the reactor runs.
            reactor.callWhenRunning(lambda: self.announce(host, server.listening_addresses[0][1], "daphne"))
            # A zope Interface's methods are declared without self: mypy reads "before" as it.
            reactor.addSystemEventTrigger(
                "before",
                "shutdown",  # type: ignore[arg-type]
                lambda: defer.Deferred.fromFuture(loop.create_task(shutdown())),
            )

        # A listen backlog for bursts of connections (Twisted's default is 50), and time for a
        # WebSocket handshake queued behind many others (daphne drops it after 5 s by default).
        endpoints = [
            f"{endpoint}:backlog={settings.UAI_LISTEN_BACKLOG}"
            for endpoint in build_endpoint_description_strings(host=host, port=port)
        ]
        server = Server(
            application=application,
            endpoints=endpoints,
            ready_callable=ready,
            verbosity=0,
            websocket_handshake_timeout=settings.UAI_WS_HANDSHAKE_TIMEOUT_SECONDS,
            websocket_max_message_size=settings.UAI_WS_MAX_FRAME_BYTES,
            websocket_max_frame_size=settings.UAI_WS_MAX_FRAME_BYTES,
        )
        server.run()
        if not server.listening_addresses:  # daphne logs the listen failure and returns
            raise CommandError(
                f"could not listen on {host}:{port}: {port_problem(host, port) or 'see the line above'}"
            )
        exit_soon()

    def announce(self, host: str, port: int, server: str) -> None:
        """The ready line, once the port accepts connections, with what to do next."""
        self.stdout.write(
            f"UAI ready on http://{host}:{port}/ ({server}); data: {where_data()}\n"
            f"Next: .venv/bin/python manage.py create_token NAME --password PASSWORD "
            f"(prints an API token; then sign in at http://{host}:{port}/login/)"
        )
        self.stdout.flush()
