"""The native schedule API: ``/schedules/…`` — an agent run on a cron expression, in a time zone."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.runs.presenters import run_data
from uai.runs.serializers import RunOut
from uai.schedules import selectors, services
from uai.schedules.presenters import schedule_data
from uai.schedules.serializers import ScheduleIn, ScheduleOut, SchedulePatchIn
from uai_project.api import user_id, validated
from uai_project.errors import InvalidInput
from uai_project.schema import errors


class ScheduleListCreateView(APIView):
    @extend_schema(responses=ScheduleOut(many=True))
    def get(self, request: Request) -> Response:
        """The user's schedules, newest first."""
        return Response([schedule_data(s) for s in selectors.schedule_list(user=request.user)])

    @extend_schema(request=ScheduleIn, responses={201: ScheduleOut})
    def post(self, request: Request) -> Response:
        """Schedule an agent: each time ``cron`` gives in ``timezone``, a run with ``input`` starts
        (400 for a bad expression, zone or agent)."""
        data = validated(ScheduleIn, request.data)
        schedule = services.schedule_create(
            owner_id=user_id(request),
            agent=agent_selectors.agent_get(name=data["agent"]),
            input=data["input"],
            cron_expression=data["cron"],
            tz_name=data["timezone"],
            name=data["name"],
            enabled=data["enabled"],
        )
        return Response(schedule_data(schedule), status=status.HTTP_201_CREATED)


class ScheduleDetailView(APIView):
    @extend_schema(responses=ScheduleOut)
    def get(self, request: Request, schedule_id: str) -> Response:
        """The schedule, with its next and last firing."""
        return Response(schedule_data(selectors.schedule_get(user=request.user, schedule_id=schedule_id)))

    @extend_schema(request=SchedulePatchIn, responses=ScheduleOut)
    def patch(self, request: Request, schedule_id: str) -> Response:
        """Change a schedule (``"enabled": false`` stops its firings; its runs go on)."""
        schedule = selectors.schedule_get(user=request.user, schedule_id=schedule_id)
        if not isinstance(request.data, dict) or not request.data:
            raise InvalidInput("Send the fields to change: " + ", ".join(services.EDITABLE) + ".")
        changes: dict[str, Any] = dict(validated(SchedulePatchIn, request.data))
        if "agent" in changes:
            changes["agent"] = agent_selectors.agent_get(name=changes["agent"])
        return Response(schedule_data(services.schedule_update(schedule=schedule, changes=changes)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, schedule_id: str) -> Response:
        """Delete the schedule; the runs it made stay."""
        services.schedule_delete(schedule=selectors.schedule_get(user=request.user, schedule_id=schedule_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduleRunsView(APIView):
    @extend_schema(responses={200: RunOut(many=True), **errors({404: "No such schedule of yours."})})
    def get(self, request: Request, schedule_id: str) -> Response:
        """The runs the schedule made, newest first (at most UAI_MAX_RUN_LIST)."""
        schedule = selectors.schedule_get(user=request.user, schedule_id=schedule_id)
        return Response([run_data(r) for r in selectors.schedule_runs(schedule=schedule)])
