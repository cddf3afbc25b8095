"""``manage.py serve``: run UAI under an ASGI server (daphne by default, or uvicorn)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve UAI (HTTP and WebSocket; the embedded worker too unless REDIS_URL is set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("UAI_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("UAI_PORT", "8000")))
        parser.add_argument(
            "--server",
            choices=["daphne", "uvicorn"],
            default=os.environ.get("UAI_SERVER", "daphne"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        self.stdout.write(f"UAI on http://{host}:{port}/ ({options['server']})")
        if options["server"] == "uvicorn":
            import uvicorn

            uvicorn.run(
                "uai_project.asgi:application",
                host=host,
                port=port,
                lifespan="on",
                log_level="warning",
                ws=settings.UAI_UVICORN_WS,
                backlog=settings.UAI_LISTEN_BACKLOG,
            )
            return
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from uai_project.asgi import application

        def ready() -> None:
            # daphne has no lifespan events: start the embedded worker once it listens.
            import asyncio

            from uai.runs import embedded

            asyncio.get_event_loop().call_soon(embedded.start)

        # A listen backlog for bursts of connections (Twisted's default is 50), and time for a
        # WebSocket handshake queued behind many others (daphne drops it after 5 s by default).
        endpoints = [
            f"{endpoint}:backlog={settings.UAI_LISTEN_BACKLOG}"
            for endpoint in build_endpoint_description_strings(host=host, port=port)
        ]
        Server(
            application=application,
            endpoints=endpoints,
            ready_callable=ready,
            verbosity=0,
            websocket_handshake_timeout=settings.UAI_WS_HANDSHAKE_TIMEOUT_SECONDS,
        ).run()
