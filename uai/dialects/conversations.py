"""Seed 004: chats and conversations CRUD (``/chats/…``, ``/conversations/…``) and SSE inference.

A conversation is one message of a chat: role ``Human`` is UAI's ``user``, ``Assistant`` its
``agent`` (a stored Assistant conversation is a ``FinalAnswerStep``). Times are ISO 8601 (UTC).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import events as ev
from uai.agents import selectors as agent_selectors
from uai.chats import selectors, services
from uai.chats.models import Chat, Message
from uai.chats.serializers import DOUBLE_TEXTING_HELP
from uai.dialects import sse
from uai.dialects.reply_chunks import chunks
from uai.runs import selectors as run_selectors
from uai.runs.waiting import release_connection
from uai_project.api import StrictCharField, user_id, validated
from uai_project.schema import CHUNK_SSE, errors

ROLE_IN = {"Human": Message.Role.USER, "Assistant": Message.Role.AGENT}
ROLE_OUT: dict[str, str] = {
    Message.Role.USER: "Human",
    Message.Role.AGENT: "Assistant",
    Message.Role.SYSTEM: "Assistant",
}


def iso(value: datetime.datetime) -> str:
    """``2023-08-05T14:48:00.000Z``, as the document writes times."""
    return value.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chat_data(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.id,
        "name": chat.name,
        "created_at": iso(chat.created_at),
        "updated_at": iso(chat.updated_at),
    }


def conversation_data(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "role": ROLE_OUT.get(message.role, "Assistant"),
        "chat_id": message.chat_id,
        "message": message.content,
        "step_type": message.step_type,
        "created_at": iso(message.created_at),
        "updated_at": iso(message.created_at),
    }


class ChatIn(serializers.Serializer[Any]):
    name = StrictCharField(allow_blank=True, max_length=200)
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)


class ChatUpdateIn(serializers.Serializer[Any]):
    name = StrictCharField(allow_blank=True, max_length=200)
    updated_at = serializers.DateTimeField(required=False, help_text="Accepted; the server's clock wins.")


class ConversationCreateIn(serializers.Serializer[Any]):
    chat_id = StrictCharField(max_length=64)
    role = serializers.ChoiceField(choices=list(ROLE_IN))
    message = StrictCharField(trim_whitespace=False)


class ChatSummaryOut(serializers.Serializer[Any]):
    id = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChatDeletedOut(serializers.Serializer[Any]):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class ConversationOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=["Human", "Assistant"])
    chat_id = serializers.CharField()
    message = serializers.CharField()
    step_type = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChatsView(APIView):
    @extend_schema(responses=ChatSummaryOut(many=True), operation_id="chats_list")
    def get(self, request: Request) -> Response:
        """All of the user's chats."""
        return Response([chat_data(c) for c in selectors.chat_list(user=request.user)])


class ChatView(APIView):
    @extend_schema(responses=ChatSummaryOut, operation_id="chats_get")
    def get(self, request: Request, chat_id: str) -> Response:
        """One chat."""
        return Response(chat_data(selectors.chat_get(user=request.user, chat_id=chat_id)))


class ChatCreateView(APIView):
    @extend_schema(request=ChatIn, responses={201: ChatSummaryOut}, operation_id="chats_create")
    def post(self, request: Request) -> Response:
        """Create a chat with a name."""
        data = validated(ChatIn, request.data)
        chat = services.chat_create(
            owner_id=user_id(request), agent_name=data.get("agent") or None, name=data["name"]
        )
        return Response(chat_data(chat), status=status.HTTP_201_CREATED)


class ChatUpdateView(APIView):
    @extend_schema(request=ChatUpdateIn, responses=ChatSummaryOut, operation_id="chats_update")
    def put(self, request: Request, chat_id: str) -> Response:
        """Rename a chat."""
        chat = selectors.chat_get(user=request.user, chat_id=chat_id)
        data = validated(ChatUpdateIn, request.data)
        return Response(chat_data(services.chat_update(chat=chat, fields={"name": data["name"]})))


class ChatDeleteView(APIView):
    @extend_schema(responses={200: ChatDeletedOut}, operation_id="chats_delete")
    def delete(self, request: Request, chat_id: str) -> Response:
        """Delete a chat and its conversations."""
        services.chat_delete(chat=selectors.chat_get(user=request.user, chat_id=chat_id))
        return Response({"id": chat_id, "deleted": True})


class ConversationCreateView(APIView):
    @extend_schema(
        request=ConversationCreateIn,
        responses={201: ConversationOut, **errors({404: "No chat `chat_id` of this user's."})},
    )
    def post(self, request: Request) -> Response:
        """Add a Human or Assistant message to a chat (the agent does not run)."""
        data = validated(ConversationCreateIn, request.data)
        chat = selectors.chat_get(user=request.user, chat_id=data["chat_id"])
        role = ROLE_IN[data["role"]]
        message = services.message_add(
            chat=chat,
            role=role,
            content=data["message"],
            step_type=ev.FINAL_ANSWER_STEP if role == Message.Role.AGENT else None,
        )
        return Response(conversation_data(message), status=status.HTTP_201_CREATED)


class InferenceView(APIView):
    internet = False

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                {"type": "integer", "minimum": 0},
                OpenApiParameter.HEADER,
                description="Resume after this chunk's `id` (browsers send it on reconnect).",
            ),
            OpenApiParameter("last_event_id", {"type": "integer", "minimum": 0}, description="The same."),
            OpenApiParameter(
                "double_texting",
                {"type": "string", "enum": list(Chat.DoubleTexting.values)},
                description=DOUBLE_TEXTING_HELP,
            ),
        ],
        responses={
            (200, "text/event-stream"): CHUNK_SSE,
            204: OpenApiResponse(description="The answer had ended before `Last-Event-ID`: nothing more."),
            **errors(
                {
                    400: "The chat has no Human message to answer, or `Last-Event-ID` is not a number.",
                    409: "The chat's agent was disabled, or another turn is going and "
                    "double_texting is reject (`run_id`: that turn).",
                }
            ),
        },
    )
    def get(self, request: Request, chat_id: str) -> Any:
        """Stream (SSE) the agent's answer to the chat's latest Human message; it is stored."""
        resume = sse.last_event_id(request)
        chat = selectors.chat_get(user=request.user, chat_id=chat_id)
        agent = agent_selectors.agent_get(name=settings.UAI_SEARCH_AGENT) if self.internet else None
        run, after, new = services.chat_answer(
            chat=chat,
            agent=agent,
            resuming=resume is not None,
            double_texting=request.query_params.get("double_texting") or None,
        )
        if not new:  # asked again (an EventSource reconnecting): the answer already given, or going
            after = resume if resume is not None else after
        ended = not new and run_selectors.run_stream_ended(run=run, after=after)
        release_connection()
        if ended:
            return HttpResponse(status=204)  # what stops an EventSource from reconnecting
        return sse.response(chunks(chat_id=chat.id, run_id=str(run.id), after_seq=after, fresh=new))
