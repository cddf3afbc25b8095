from __future__ import annotations

from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "uai.chats"
    verbose_name = "Chats"
