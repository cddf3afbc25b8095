"""ASGI entry point: HTTP (Django) and, in embedded mode, the in-process worker."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uai_project.settings")

from django.core.asgi import get_asgi_application

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope

# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core import signals  # noqa: E402
from django.db import close_old_connections, reset_queries  # noqa: E402

from uai.runs import embedded, waiting  # noqa: E402
from uai_project import gc_tuning, metrics  # noqa: E402
from uai_project.auth import UAIOriginValidator, WebSocketAuthMiddleware  # noqa: E402
from uai_project.body_limit import BodyLimit  # noqa: E402
from uai_project.routing import websocket_urlpatterns  # noqa: E402

# Clients bring a token; a browser signed in to the pages brings its session cookie.
websocket_app: Any = UAIOriginValidator(
    WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))  # type: ignore[arg-type]  # see routing
)
if settings.UAI_METRICS_ENABLED:
    websocket_app = metrics.LiveSockets(websocket_app)
router = ProtocolTypeRouter({"http": BodyLimit(django_asgi_app), "websocket": websocket_app})


# Django closes a thread's old connections when a request starts (and when it ends). Under ASGI
# every request's sync code runs in a thread of its own, new with the request: at the start there
# is nothing to close, but the receivers are sync, so the check cost every request a trip to a
# thread before its first middleware. The end's check stays: it hands the connection back.
def no_start_of_request_checks() -> None:
    """Leave a request's first hop to a thread to its view (Django's test clients reconnect
    the check after each request they make)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_started.disconnect(reset_queries)


no_start_of_request_checks()

# Start-up is done: what it built is frozen, out of the collector's way (see gc_tuning).
gc_tuning.tune()


async def shutdown() -> None:
    """Before the server's loop stops: end the requests still waiting for a turn (their threads
    would block the exit), then stop the embedded worker (its running jobs get their grace)."""
    await waiting.stop_waiting()
    await embedded.stop()
    await waiting.stop_waiting()  # the requests that came in while the worker's jobs ended


async def application(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Route by protocol; start the embedded worker with the first event of any kind."""
    embedded.start()
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await router(scope, receive, send)
