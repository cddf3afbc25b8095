"""``GET /agents``: the enabled agents a client can pick (the chat page's agent list)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors
from uai.agents.models import Agent

AgentOut = inline_serializer(
    "AgentOut",
    many=True,
    fields={
        "name": serializers.CharField(),
        "description": serializers.CharField(),
        "adapter": serializers.CharField(),
        "streams": serializers.BooleanField(),
        "accepts_files": serializers.BooleanField(),
        "asks_input": serializers.BooleanField(),
    },
)


def agent_data(agent: Agent) -> dict[str, object]:
    return {
        "name": agent.name,
        "description": agent.description,
        "adapter": agent.adapter,
        "streams": agent.streams,
        "accepts_files": agent.accepts_files,
        "asks_input": agent.asks_input,
    }


class AgentListView(APIView):
    @extend_schema(responses=AgentOut, tags=["agents"])
    def get(self, request: Request) -> Response:
        """The enabled agents, by name."""
        return Response([agent_data(a) for a in selectors.agent_list()])
