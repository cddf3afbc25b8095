"""The floor app's ASGI application (daphne or uvicorn)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.floor_app.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
