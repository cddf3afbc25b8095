"""Seed 001's stateless ``POST /agent/run``: one task, the agent's steps, nothing stored."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.chats import services
from uai_project.api import StrictCharField, validated
from uai_project.errors import AgentFailed
from uai_project.schema import errors


class AgentRunIn(serializers.Serializer[Any]):
    task = StrictCharField(trim_whitespace=False)
    chat_id = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)


class AgentStepOut(serializers.Serializer[Any]):
    step_type = serializers.CharField()
    content = serializers.CharField()


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
        agent = agent_selectors.agent_get(name=data.get("agent") or None)
        result = services.chat_next(agent=agent, text=data["task"], run_input=data["task"], state={})
        if result["error"]:
            raise AgentFailed(f"The agent failed: {result['error']}")
        return Response(result["steps"])
