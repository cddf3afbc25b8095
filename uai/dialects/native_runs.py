"""The native run API of seed 000: ``/run/…``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.runs import selectors, services
from uai.runs.models import Run
from uai.runs.presenters import log_data, run_data
from uai.runs.serializers import LogIn, LogOut, RunCreateIn, RunInputIn, RunOut
from uai_project.api import uploaded_files, user_id, validated, whole_number
from uai_project.errors import InvalidInput
from uai_project.schema import errors


def run_scope(user: Any, task_id: str, **kwargs: Any) -> dict[str, Any]:
    """Artifact routes under ``/run/{task_id}``."""
    return {"run_id": selectors.run_get(user=user, run_id=task_id).id}


class RunListCreateView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, many=True, enum=Run.Status.values),
            OpenApiParameter("agent", str),
            OpenApiParameter("kind", str, enum=Run.Kind.values),
            OpenApiParameter("schedule", OpenApiTypes.UUID, description="Only the runs of this schedule."),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
        ],
        responses=RunOut(many=True),
    )
    def get(self, request: Request) -> Response:
        """The user's runs, newest first (at most UAI_MAX_RUN_LIST), filtered by status, agent, kind or schedule."""
        runs = selectors.run_list(user=request.user, filters=request.query_params)
        return Response([run_data(r) for r in runs])

    @extend_schema(
        request={"application/json": RunCreateIn, "multipart/form-data": RunCreateIn},
        responses={201: RunOut},
    )
    def post(self, request: Request) -> Response:
        """Start a long-running task; returns its ``task_id`` and ``estimated_completion_time``."""
        data = validated(RunCreateIn, request.data)
        agent = agent_selectors.agent_get(name=data["agent"])
        run = services.run_start(
            owner_id=user_id(request), agent=agent, input=data["input"], files=uploaded_files(request)
        )
        return Response(run_data(run), status=status.HTTP_201_CREATED)


class RunDetailView(APIView):
    @extend_schema(responses=RunOut)
    def get(self, request: Request, task_id: str) -> Response:
        """Status, progress and current step; ``output`` once complete, ``error`` if it failed."""
        return Response(run_data(selectors.run_get(user=request.user, run_id=task_id)))

    # A DELETE's default in the schema is 204.
    @extend_schema(responses={200: RunOut, **errors({409: "The run had already ended."})})
    def delete(self, request: Request, task_id: str) -> Response:
        """Cancel the run (409 if it already ended)."""
        run = services.run_cancel(run=selectors.run_get(user=request.user, run_id=task_id))
        return Response(run_data(run))


class RunInputView(APIView):
    @extend_schema(
        request={"application/json": RunInputIn, "multipart/form-data": RunInputIn},
        responses={
            200: RunOut,
            **errors({409: "The run is not waiting for input (or its chat's agent was disabled)."}),
        },
    )
    def post(self, request: Request, task_id: str) -> Response:
        """Answer a run waiting in ``input_required`` (409 when it is not waiting)."""
        run = selectors.run_get(user=request.user, run_id=task_id)
        data = validated(RunInputIn, request.data)
        if run.chat_id:  # a chat's turn: the answer is the user's next message in the chat
            run, _ = chat_services.chat_send(
                chat=chat_selectors.chat_get(user=request.user, chat_id=run.chat_id),
                text=data["text"],
                files=uploaded_files(request),
                answering=run,
            )
        else:
            run = services.run_input_with_files(run=run, text=data["text"], files=uploaded_files(request))
        return Response(run_data(run))


class RunLogsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only logs after this log id.")],
        responses=LogOut(many=True),
    )
    def get(self, request: Request, task_id: str) -> Response:
        """The run's logs in order, the agent's and the clients'."""
        run = selectors.run_get(user=request.user, run_id=task_id)
        after = request.query_params.get("after") or request.query_params.get("logId")
        after_id = whole_number(after, "after (a log id)") if after else None
        return Response([log_data(log) for log in selectors.log_list(run=run, after_id=after_id)])

    @extend_schema(request=LogIn, responses={201: LogOut(many=True)})
    def post(self, request: Request, task_id: str) -> Response:
        """Append log lines: one ``{"level", "message"}`` or a list of them."""
        run = selectors.run_get(user=request.user, run_id=task_id)
        items = request.data if isinstance(request.data, list) else [request.data]
        if not items:
            raise InvalidInput("Send at least one log line.")
        serializer = LogIn(data=items, many=True)
        serializer.is_valid(raise_exception=True)
        logs = services.run_logs_append(run=run, items=list(serializer.validated_data))
        return Response([log_data(log) for log in logs], status=status.HTTP_201_CREATED)
