"""Seed 002: the chat playground (``/api/chat/playground/…``) and workflows (``/api/workflows/…``).

A workflow is a chat: its messages, logs, stats and documents (artifacts) are the chat's.
Fields are camelCase and times are Unix seconds (float). Roles: UAI's ``agent`` is ``assistant``
here. Another user's workflow answers 403, as the document says; an unknown id 404.
"""

from __future__ import annotations

import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from uai.artifacts import selectors as artifact_selectors
from uai.artifacts.models import Artifact
from uai.artifacts.presenters import download_path
from uai.chats import selectors, services
from uai.chats.models import Chat, Message
from uai.limits.throttling import UserRateThrottle
from uai.runs import selectors as run_selectors
from uai.runs.models import Log, Run, Stat
from uai_project.api import (
    JSONObjectField,
    StrictCharField,
    base_url,
    parse_uuid,
    user_id,
    validated,
    whole_number,
)
from uai_project.errors import Forbidden, InvalidInput, NotFound
from uai_project.schema import errors

MODES = {"actionplan": "Actionplan", "react": "React"}
ROLE_OUT: dict[str, str] = {
    Message.Role.USER: "user",
    Message.Role.AGENT: "assistant",
    Message.Role.SYSTEM: "system",
}
STATUS_OUT: dict[str, str] = {
    Run.Status.QUEUED: "running",
    Run.Status.RUNNING: "running",
    Run.Status.INPUT_REQUIRED: "input_required",
    Run.Status.SUCCEEDED: "completed",
    Run.Status.FAILED: "failed",
    Run.Status.CANCELLED: "stopped",
}


def ts(value: datetime.datetime | None) -> float | None:
    """A time as Unix seconds."""
    return value.timestamp() if value else None


def parse_ts(raw: str, name: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromtimestamp(float(raw), tz=datetime.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInput(f"{name} must be Unix seconds, like 1234567890.5.") from exc


def workflow_get(*, user: Any, workflow_id: str) -> Chat:
    """The user's workflow; 403 if it is someone else's, 404 if there is none."""
    chat = selectors.chat_find(chat_id=workflow_id)
    if chat is None:
        raise NotFound("Workflow not found.")
    if chat.owner_id != user.pk:
        raise Forbidden("This workflow belongs to another user.")
    return chat


def workflow_status(chat: Chat, run: Run | None) -> str:
    # A stopped workflow continued (a new start) is the new turn's, while it waits to run too.
    if chat.status == Chat.Status.STOPPED and (run is None or run.status not in Run.ACTIVE):
        return "stopped"
    return STATUS_OUT[run.status] if run is not None else "idle"


def workflow_data(chat: Chat, summary: selectors.ChatSummary) -> dict[str, Any]:
    """The ``ChatWorkflow`` object."""
    run = summary.latest_run
    return {
        "id": chat.id,
        "userId": str(chat.owner_id),
        "agent": chat.agent_id,
        "status": workflow_status(chat, run),
        "mode": chat.mode or "Actionplan",
        "name": chat.name,
        "description": chat.description,
        "tags": chat.tags,
        "metadata": chat.metadata,
        "messageIds": [str(i) for i in summary.message_ids],
        "logIds": [str(i) for i in summary.log_ids],
        "currentStep": run.current_step if run else "",
        "progress": run.progress if run else 0.0,
        "error": (run.error or None) if run else None,
        "createdAt": ts(chat.created_at),
        "updatedAt": ts(chat.updated_at),
        "stoppedAt": ts(chat.stopped_at),
    }


def document_data(artifact: Artifact, base: str) -> dict[str, Any]:
    return {
        "id": str(artifact.id),
        "workflowId": artifact.chat_id,
        "messageId": str(artifact.message_id) if artifact.message_id else None,
        "name": artifact.name,
        "mediaType": artifact.media_type,
        "size": artifact.size,
        "origin": artifact.origin,
        "downloadUrl": base + download_path(artifact),
        "timestamp": ts(artifact.created_at),
        "_createdAt": ts(artifact.created_at),
    }


def message_data(message: Message, base: str, files: list[Artifact]) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "workflowId": message.chat_id,
        "runId": str(message.run_id) if message.run_id else None,
        "role": ROLE_OUT.get(message.role, message.role),
        "content": message.content,
        "stepType": message.step_type,
        "messageId": message.client_message_id or None,
        "files": [document_data(a, base) for a in files],
        "seq": message.seq,
        "timestamp": ts(message.created_at),
        "_createdAt": ts(message.created_at),
    }


def log_data(log: Log) -> dict[str, Any]:
    return {
        "id": str(log.id),
        "workflowId": log.chat_id,
        "runId": str(log.run_id) if log.run_id else None,
        "level": log.level,
        "message": log.message,
        "source": log.source,
        "data": log.data,
        "seq": log.seq,
        "timestamp": ts(log.created_at),
        "_createdAt": ts(log.created_at),
    }


def stat_data(stat: Stat) -> dict[str, Any]:
    return {
        "id": str(stat.id),
        "workflowId": stat.chat_id,
        "runId": str(stat.run_id) if stat.run_id else None,
        "name": stat.name,
        "data": stat.data,
        "seq": stat.seq,
        "timestamp": ts(stat.created_at),
        "_createdAt": ts(stat.created_at),
    }


def _log_id(raw: str | None) -> int | None:
    """The log a client polls after (``logId``); an id that cannot exist is not found."""
    if not raw:
        return None
    try:
        return whole_number(raw, "Log", minimum=1)
    except InvalidInput as exc:
        raise NotFound("Log not found.") from exc


# --- What the routes answer (OpenAPI shapes; the data comes from the functions above) -----------

WORKFLOW_STATUSES = ["idle", "running", "input_required", "completed", "failed", "stopped"]


class ChatWorkflowOut(serializers.Serializer[Any]):
    id = serializers.CharField()
    userId = serializers.CharField()  # the seed's camelCase names
    agent = serializers.CharField()
    status = serializers.ChoiceField(choices=WORKFLOW_STATUSES)
    mode = serializers.ChoiceField(choices=list(MODES.values()))
    name = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    messageIds = serializers.ListField(child=serializers.CharField())
    logIds = serializers.ListField(child=serializers.CharField())
    currentStep = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField(allow_null=True)
    createdAt = serializers.FloatField(help_text="Unix seconds.")
    updatedAt = serializers.FloatField()
    stoppedAt = serializers.FloatField(allow_null=True)


class WorkflowStatusOut(serializers.Serializer[Any]):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=WORKFLOW_STATUSES)
    currentStep = serializers.CharField()
    progress = serializers.FloatField()
    updatedAt = serializers.FloatField()


# What every entry of a workflow has: its ids, number and times.
class _Entry(serializers.Serializer[Any]):
    id = serializers.CharField()
    workflowId = serializers.CharField(allow_null=True)
    timestamp = serializers.FloatField(help_text="Unix seconds.")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["_createdAt"] = serializers.FloatField(
            label="_createdAt", help_text="Unix seconds; sorts them."
        )
        return fields


class DocumentOut(_Entry):
    messageId = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    mediaType = serializers.CharField()
    size = serializers.IntegerField()
    origin = serializers.ChoiceField(choices=["agent", "user"])
    downloadUrl = serializers.URLField()


class _RunEntry(_Entry):
    """An entry a run may have made (a message, a log line, a stat), numbered in its chat."""

    runId = serializers.CharField(allow_null=True)
    seq = serializers.IntegerField()


class WorkflowMessageOut(_RunEntry):
    role = serializers.ChoiceField(choices=["user", "assistant", "system"])
    content = serializers.CharField()
    stepType = serializers.CharField(allow_null=True)
    messageId = serializers.CharField(allow_null=True, help_text="The client's own id.")
    files = DocumentOut(many=True)


class WorkflowLogOut(_RunEntry):
    level = serializers.CharField()
    message = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class
    data = serializers.JSONField()  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class


class WorkflowStatOut(_RunEntry):
    name = serializers.CharField()
    data = serializers.JSONField()  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class


class ChatDataOut(serializers.Serializer[Any]):
    messages = WorkflowMessageOut(many=True)
    logs = WorkflowLogOut(many=True)
    stats = WorkflowStatOut(many=True)
    documents = DocumentOut(many=True)


class WorkflowDeletedOut(serializers.Serializer[Any]):
    id = serializers.CharField()
    message = serializers.CharField()


class MessageDeletedOut(serializers.Serializer[Any]):
    workflowId = serializers.CharField()
    messageId = serializers.CharField()
    message = serializers.CharField()


class FileDeletedOut(MessageDeletedOut):
    fileId = serializers.CharField()


FOREIGN = {403: "The workflow is another user's."}


class Throttled(APIView):
    """Every seed 002 route shares one per-user rate limit (UAI_WORKFLOW_RATE, in the cache)."""

    throttle_classes = [UserRateThrottle, ScopedRateThrottle]  # (UAI_USER_RATE too)
    throttle_scope = "workflows"


class StartIn(serializers.Serializer[Any]):
    input = StrictCharField(trim_whitespace=False)
    files = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
    metadata = JSONObjectField(required=False, default=dict)


class UpdateIn(serializers.Serializer[Any]):
    name = StrictCharField(required=False, allow_blank=True, max_length=200)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    tags = serializers.ListField(child=StrictCharField(max_length=100), required=False, max_length=100)
    metadata = JSONObjectField(required=False)
    mode = serializers.ChoiceField(choices=list(MODES.values()), required=False)


def _file_ids(files: list[Any]) -> list[str]:
    ids = []
    for item in files:
        value = item.get("id") if isinstance(item, dict) else item
        if not isinstance(value, str):
            raise InvalidInput("files: each file is an artifact id, or an object with an 'id'.")
        ids.append(value)
    return ids


class StartView(Throttled):
    @extend_schema(
        request=StartIn,
        parameters=[
            OpenApiParameter("workflowId", str, description="Continue this workflow."),
            OpenApiParameter("workflowMode", str, enum=list(MODES.values()), default="Actionplan"),
        ],
        responses={
            200: ChatWorkflowOut,
            **errors(
                {
                    403: "`workflowId` is another user's workflow.",
                    404: "No workflow `workflowId`.",
                    409: "The workflow's agent was disabled.",
                }
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Start a workflow, or continue one, with the user's input."""
        data = validated(StartIn, request.data)
        raw_mode = request.query_params.get("workflowMode")
        mode = MODES.get((raw_mode or "Actionplan").lower())
        if mode is None:
            raise InvalidInput("workflowMode must be 'Actionplan' or 'React'.")
        uploads = services.copy_artifacts(owner_id=user_id(request), artifact_ids=_file_ids(data["files"]))
        workflow_id = request.query_params.get("workflowId")
        if workflow_id:
            chat = workflow_get(user=request.user, workflow_id=workflow_id)
            if raw_mode and chat.mode != mode:
                services.chat_update(chat=chat, fields={"mode": mode})
        else:
            metadata = data["metadata"]
            agent = metadata.get("agent")
            if agent is not None and not isinstance(agent, str):
                raise InvalidInput("metadata.agent must be an agent's name.")
            chat = services.chat_create(
                owner_id=user_id(request), agent_name=agent, mode=mode, metadata=metadata
            )
        services.chat_send(chat=chat, text=data["input"], files=uploads)
        chat = workflow_get(user=request.user, workflow_id=chat.id)
        return Response(workflow_data(chat, selectors.chat_summary(chat=chat)))


class StopView(Throttled):
    @extend_schema(request=None, responses={200: ChatWorkflowOut, **errors(FOREIGN)})
    def post(self, request: Request, workflow_id: str) -> Response:
        """Stop the workflow's work (within 2 s) and record ``stoppedAt``."""
        chat = services.chat_stop(chat=workflow_get(user=request.user, workflow_id=workflow_id))
        return Response(workflow_data(chat, selectors.chat_summary(chat=chat)))


class ChatDataView(Throttled):
    @extend_schema(
        parameters=[OpenApiParameter("afterTimestamp", float)],
        responses={200: ChatDataOut, **errors(FOREIGN)},
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        """Messages, logs, stats and documents, each sorted by ``_createdAt``, optionally only newer."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        raw = request.query_params.get("afterTimestamp")
        held = selectors.chat_data(chat=chat, after=parse_ts(raw, "afterTimestamp") if raw else None)
        base = base_url(request)
        return Response(
            {
                "messages": [message_data(m, base, held.message_files.get(m.id, [])) for m in held.messages],
                "logs": [log_data(x) for x in held.logs],
                "stats": [stat_data(x) for x in held.stats],
                "documents": [document_data(a, base) for a in held.documents],
            }
        )


class WorkflowListView(Throttled):
    @extend_schema(responses=ChatWorkflowOut(many=True), operation_id="workflows_list")
    def get(self, request: Request) -> Response:
        """All of the user's workflows, newest first."""
        chats = selectors.chat_list(user=request.user)
        summaries = selectors.chat_summaries(chats=chats)
        return Response([workflow_data(c, s) for c, s in zip(chats, summaries, strict=True)])


class WorkflowDetailView(Throttled):
    @extend_schema(responses={200: ChatWorkflowOut, **errors(FOREIGN)})
    def get(self, request: Request, workflow_id: str) -> Response:
        """One workflow."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        return Response(workflow_data(chat, selectors.chat_summary(chat=chat)))

    @extend_schema(request=UpdateIn, responses={200: ChatWorkflowOut, **errors(FOREIGN)})
    def put(self, request: Request, workflow_id: str) -> Response:
        """Update name, description, tags, metadata or mode."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        if hasattr(request.data, "keys"):
            unknown = set(request.data.keys()) - set(UpdateIn().fields)
            if unknown:
                raise InvalidInput(f"Cannot update {sorted(unknown)}; allowed: {sorted(UpdateIn().fields)}.")
        fields = validated(UpdateIn, request.data)
        if fields:
            services.chat_update(chat=chat, fields=fields)
        return Response(workflow_data(chat, selectors.chat_summary(chat=chat)))

    @extend_schema(responses={200: WorkflowDeletedOut, **errors(FOREIGN)})
    def delete(self, request: Request, workflow_id: str) -> Response:
        """Delete the workflow and everything it holds."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        services.chat_delete(chat=chat)
        return Response({"id": workflow_id, "message": "Workflow and associated data deleted successfully"})


class StatusView(Throttled):
    @extend_schema(responses={200: WorkflowStatusOut, **errors(FOREIGN)})
    def get(self, request: Request, workflow_id: str) -> Response:
        """A lightweight status check."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        run = selectors.chat_latest_run(chat=chat)
        return Response(
            {
                "id": chat.id,
                "status": workflow_status(chat, run),
                "currentStep": run.current_step if run else "",
                "progress": run.progress if run else 0.0,
                "updatedAt": ts(max(chat.updated_at, run.updated_at) if run else chat.updated_at),
            }
        )


class LogsView(Throttled):
    @extend_schema(
        parameters=[OpenApiParameter("logId", str)],
        responses={200: WorkflowLogOut(many=True), **errors(FOREIGN)},
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        """The workflow's logs, or only those after ``logId``."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        after_id = _log_id(request.query_params.get("logId"))
        return Response([log_data(x) for x in run_selectors.log_list(chat=chat, after_id=after_id)])


class MessagesView(Throttled):
    @extend_schema(
        parameters=[OpenApiParameter("messageId", str)],
        responses={200: WorkflowMessageOut(many=True), **errors(FOREIGN)},
    )
    def get(self, request: Request, workflow_id: str) -> Response:
        """The workflow's messages, or only those after ``messageId``."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        raw = request.query_params.get("messageId")
        after = selectors.message_seq(chat=chat, message_id=parse_uuid(raw, "Message")) if raw else None
        page = selectors.message_list(chat=chat, after_seq=after)
        files = selectors.message_files(page)
        base = base_url(request)
        return Response([message_data(m, base, files.get(m.id, [])) for m in page])


class MessageDeleteView(Throttled):
    @extend_schema(responses={200: MessageDeletedOut, **errors(FOREIGN)})
    def delete(self, request: Request, workflow_id: str, message_id: str) -> Response:
        """Delete one message (and its files)."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        services.message_delete(chat=chat, message=selectors.message_get(chat=chat, message_id=message_id))
        return Response(
            {"workflowId": chat.id, "messageId": message_id, "message": "Message deleted successfully"}
        )


class MessageFileDeleteView(Throttled):
    @extend_schema(responses={200: FileDeletedOut, **errors(FOREIGN)})
    def delete(self, request: Request, workflow_id: str, message_id: str, file_id: str) -> Response:
        """Delete one file from a message."""
        chat = workflow_get(user=request.user, workflow_id=workflow_id)
        message = selectors.message_get(chat=chat, message_id=message_id)
        artifact = artifact_selectors.message_file_get(message_id=message.id, file_id=file_id)
        services.message_file_delete(chat=chat, message=message, artifact=artifact)
        return Response(
            {
                "workflowId": chat.id,
                "messageId": message_id,
                "fileId": file_id,
                "message": "File reference deleted successfully",
            }
        )
