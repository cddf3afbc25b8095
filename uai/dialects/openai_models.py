"""OpenAI ``GET /v1/models`` and ``GET /v1/models/{model}``: the agents a user may use, as models.

A model's ``id`` is the agent's name; ``owned_by`` is ``uai`` (agents are the server's, not a
user's); ``created`` the agent's registration time.
"""

from __future__ import annotations

from typing import Any

from django.urls import re_path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from uai.agents import selectors
from uai.agents.models import Agent
from uai.dialects.openai_common import OpenAIView, epoch, model_agent

ModelOut = inline_serializer(
    "OpenAIModel",
    fields={
        "id": serializers.CharField(),
        "object": serializers.ChoiceField(choices=["model"]),
        "created": serializers.IntegerField(),
        "owned_by": serializers.CharField(),
    },
)
ModelListOut = inline_serializer(
    "OpenAIModelList",
    fields={"object": serializers.ChoiceField(choices=["list"]), "data": ModelOut.__class__(many=True)},
)


def model_data(agent: Agent) -> dict[str, Any]:
    return {"id": agent.name, "object": "model", "created": epoch(agent.created_at), "owned_by": "uai"}


class ModelListView(OpenAIView):
    @extend_schema(responses=ModelListOut, tags=["openai"], operation_id="openai_models_list")
    def get(self, request: Request) -> Response:
        """The agents the user may use, as OpenAI models."""
        return Response({"object": "list", "data": [model_data(a) for a in selectors.agent_list()]})


class ModelDetailView(OpenAIView):
    @extend_schema(responses=ModelOut, tags=["openai"], operation_id="openai_models_get")
    def get(self, request: Request, model: str) -> Response:
        """One agent as a model; 404 ``model_not_found`` for an unknown or disabled one."""
        return Response(model_data(model_agent(model)))


urlpatterns = [
    re_path(r"^models/?$", ModelListView.as_view(), name="openai-models"),
    re_path(r"^models/(?P<model>[^/]+)/?$", ModelDetailView.as_view(), name="openai-model"),
]
