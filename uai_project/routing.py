"""WebSocket routes."""

from __future__ import annotations

from django.urls import re_path

from uai.chats.websocket import ChatStepConsumer

websocket_urlpatterns = [
    re_path(r"^chat/(?P<chat_id>[^/]+)/?$", ChatStepConsumer.as_asgi()),
]
