"""Seed 001's REST routes: ``GET /history/{chat_id}`` and the stateless ``POST /agent/run``."""

from __future__ import annotations

import datetime

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import registry
from uai.chats import selectors, services
from uai.chats.models import Message
from uai_project.api import StrictCharField, validated
from uai_project.errors import HTTP_STATUS, ErrorCode
from uai_project.schema import errors

# Seed 001 has two roles; a system message reads as the agent's.
ROLES = {Message.Role.USER: "user", Message.Role.AGENT: "agent", Message.Role.SYSTEM: "agent"}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # as the seed shows it, in UTC


class HistoryItemOut(serializers.Serializer):
    role = serializers.ChoiceField(choices=["user", "agent"])
    content = serializers.CharField()
    step_type = serializers.CharField(allow_null=True)
    timestamp = serializers.CharField(help_text="UTC, 'YYYY-MM-DD HH:MM:SS'.")


class AgentRunIn(serializers.Serializer):
    task = StrictCharField(trim_whitespace=False)
    chat_id = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)


class AgentStepOut(serializers.Serializer):
    step_type = serializers.CharField()
    content = serializers.CharField()


class HistoryView(APIView):
    @extend_schema(responses=HistoryItemOut(many=True))
    def get(self, request: Request, chat_id: str) -> Response:
        """The whole conversation of a chat, in order."""
        chat = selectors.chat_get(user=request.user, chat_id=chat_id)
        rows = (
            Message.objects.filter(chat_id=chat.id)
            .order_by("seq")
            .values_list("role", "content", "step_type", "created_at")
        )
        return Response(
            [
                {
                    "role": ROLES.get(role, "agent"),
                    "content": content,
                    "step_type": step_type,
                    "timestamp": created.astimezone(datetime.UTC).strftime(TIMESTAMP_FORMAT),
                }
                for role, content, step_type, created in rows
            ]
        )


class AgentRunView(APIView):
    @extend_schema(
        request=AgentRunIn,
        responses={
            200: AgentStepOut(many=True),
            **errors(
                {502: "The agent failed (`detail` says how).", 504: "The agent did not answer in time."}
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Run the agent on a task without storing anything; returns its steps in order."""
        data = validated(AgentRunIn, request.data)
        agent = registry.get_agent(data.get("agent") or None)
        result = services.chat_next(agent=agent, text=data["task"], run_input=data["task"], state={})
        if result["error"]:
            return Response(
                {"detail": f"The agent failed: {result['error']}", "code": ErrorCode.AGENT_FAILED.value},
                status=HTTP_STATUS[ErrorCode.AGENT_FAILED],
            )
        return Response(result["steps"])
