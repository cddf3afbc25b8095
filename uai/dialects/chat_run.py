"""Seed 003: ``POST /chat/run`` (whole reply) and ``POST /chat/stream`` (SSE chunks).

A conversation is a chat: ``conversation_id`` is the chat id, chosen by the client (an unknown id
starts a conversation with that id) or by the server when omitted.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.chats import selectors, services
from uai.chats.models import Chat
from uai.chats.serializers import double_texting_field
from uai.dialects import reply_chunks, sse
from uai.runs import selectors as run_selectors
from uai.runs.models import Run
from uai.runs.waiting import release_connection, wait_for_run
from uai_project.api import StrictCharField, validated
from uai_project.errors import AgentFailed, Conflict, NotFound, Timeout
from uai_project.schema import CHUNK_SSE, errors

logger = logging.getLogger(__name__)


class ConversationIn(serializers.Serializer[Any]):
    message = StrictCharField(trim_whitespace=False)
    # null as omitted: typed clients send their unset optional fields as null.
    conversation_id = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    double_texting = double_texting_field()


class ChatRunOut(serializers.Serializer[Any]):
    response = serializers.CharField()
    conversation_id = serializers.CharField()


def conversation_chat(*, user: Any, conversation_id: str, agent: str) -> Chat:
    """The user's conversation of that id, created on first use; another user's is not found."""
    if not conversation_id:
        return services.chat_create(owner_id=user.pk, agent_name=agent or None)
    chat = services.chat_find_or_create(owner_id=user.pk, chat_id=conversation_id, agent_name=agent or None)
    if chat.owner_id != user.pk:
        raise NotFound("Conversation not found.")
    return chat


def _reply(run: Run) -> str:
    if isinstance(run.output, str):
        return run.output
    final = selectors.final_answer(run=run)
    return final.content if final else ""


class ChatRunView(APIView):
    @extend_schema(
        request=ConversationIn,
        responses={
            200: ChatRunOut,
            **errors(
                {
                    404: "The conversation is another user's, or was deleted while the turn ran.",
                    409: "The turn was stopped or cancelled before the agent answered (or its agent "
                    "was disabled, or a turn is going and double_texting is reject: `run_id`).",
                    502: "The agent failed (`detail` says how).",
                    504: "The agent did not answer within UAI_TURN_WAIT_SECONDS.",
                }
            ),
        },
        operation_id="conversation_run",
    )
    def post(self, request: Request) -> Response:
        """Run one turn and return the whole reply."""
        data = validated(ConversationIn, request.data)
        chat = conversation_chat(
            user=request.user,
            conversation_id=data.get("conversation_id") or "",
            agent=data.get("agent") or "",
        )
        run, _ = services.chat_send(
            chat=chat, text=data["message"], double_texting=data.get("double_texting")
        )
        wait_for_run(run.id, chat_id=chat.id, timeout=settings.UAI_TURN_WAIT_SECONDS, until=Run.TURN_ENDS)
        ended = run_selectors.run_find(run_id=run.id)
        if ended is None:
            if selectors.chat_find(chat_id=chat.id) is None:
                raise NotFound("Conversation not found: it was deleted.")
            raise Conflict(services.ROLLED_BACK, extra={"run_id": str(run.id)})  # by a newer message
        if ended.status == Run.Status.CANCELLED:  # stopped (seed 002) or cancelled (/run/{id})
            raise Conflict("The turn was cancelled before the agent answered.")
        if ended.status == Run.Status.FAILED:
            raise AgentFailed(f"The agent failed: {ended.error}")
        if ended.status not in Run.TURN_ENDS:
            raise Timeout("The agent did not answer in time.")
        reply = _reply(ended) if ended.status == Run.Status.SUCCEEDED else (ended.input_prompt or "")
        return Response({"response": reply, "conversation_id": chat.id})


class ChatStreamView(APIView):
    @extend_schema(
        request=ConversationIn,
        responses={
            (200, "text/event-stream"): CHUNK_SSE,
            **errors(
                {
                    404: "The conversation is another user's.",
                    409: "The conversation's agent was disabled, or a turn is going and "
                    "double_texting is reject (`run_id`: that turn).",
                }
            ),
        },
        operation_id="conversation_stream",
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        """Run one turn and stream the reply as SSE ``{content, is_final, metrics}`` chunks."""
        data = validated(ConversationIn, request.data)
        chat = conversation_chat(
            user=request.user,
            conversation_id=data.get("conversation_id") or "",
            agent=data.get("agent") or "",
        )
        run, message = services.chat_send(
            chat=chat, text=data["message"], double_texting=data.get("double_texting")
        )
        release_connection()  # the stream must not hold this request's connection
        return sse.response(reply_chunks.chunks(chat_id=chat.id, run_id=str(run.id), after_seq=message.seq))
