"""Seed 001's ``GET /history/{chat_id}``: a chat's conversation, as the WebSocket's steps read back."""

from __future__ import annotations

import datetime
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.chats import selectors
from uai.chats.models import Message

# Seed 001 has two roles; a system message reads as the agent's.
ROLES: dict[str, str] = {Message.Role.USER: "user", Message.Role.AGENT: "agent", Message.Role.SYSTEM: "agent"}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # as the seed shows it, in UTC


class HistoryItemOut(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=["user", "agent"])
    content = serializers.CharField()
    step_type = serializers.CharField(allow_null=True)
    timestamp = serializers.CharField(help_text="UTC, 'YYYY-MM-DD HH:MM:SS'.")


class HistoryView(APIView):
    @extend_schema(responses=HistoryItemOut(many=True))
    def get(self, request: Request, chat_id: str) -> Response:
        """The whole conversation of a chat, in order."""
        chat = selectors.chat_get(user=request.user, chat_id=chat_id)
        return Response(
            [
                {
                    "role": ROLES.get(role, "agent"),
                    "content": content,
                    "step_type": step_type,
                    "timestamp": created.astimezone(datetime.UTC).strftime(TIMESTAMP_FORMAT),
                }
                for role, content, step_type, created in selectors.history(chat=chat)
            ]
        )
