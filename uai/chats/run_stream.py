"""Seed 003: ``POST /chat/run`` (whole reply) and ``POST /chat/stream`` (SSE chunks).

A conversation is a chat: ``conversation_id`` is the chat id, chosen by the client (an unknown id
starts a conversation with that id) or by the server when omitted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.chats import services
from uai.chats.models import Chat
from uai.runs import sse, streams
from uai.runs.models import Run
from uai.runs.waiting import release_connection, wait_for_run
from uai_project.api import StrictCharField, validated
from uai_project.errors import HTTP_STATUS, Conflict, ErrorCode, NotFound, outage
from uai_project.schema import CHUNK_SSE, errors

logger = logging.getLogger(__name__)

TURN_ENDS = (*Run.TERMINAL, Run.Status.INPUT_REQUIRED)


class ConversationIn(serializers.Serializer):
    message = StrictCharField(trim_whitespace=False)
    # null as omitted: typed clients send their unset optional fields as null.
    conversation_id = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)


class ChatRunOut(serializers.Serializer):
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
    final = run.messages.filter(step_type="FinalAnswerStep").order_by("-seq").first()
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
                    "was disabled).",
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
        run, _ = services.chat_send(chat=chat, text=data["message"])
        wait_for_run(run.id, chat_id=chat.id, timeout=settings.UAI_TURN_WAIT_SECONDS, until=TURN_ENDS)
        run = Run.objects.filter(pk=run.id).first()
        if run is None:
            raise NotFound("Conversation not found: it was deleted.")
        if run.status == Run.Status.CANCELLED:  # stopped (seed 002) or cancelled (/run/{id})
            raise Conflict("The turn was cancelled before the agent answered.")
        if run.status == Run.Status.FAILED:
            return Response(
                {"detail": f"The agent failed: {run.error}", "code": ErrorCode.AGENT_FAILED.value},
                status=HTTP_STATUS[ErrorCode.AGENT_FAILED],
            )
        if run.status not in TURN_ENDS:
            return Response(
                {"detail": "The agent did not answer in time.", "code": ErrorCode.TIMEOUT.value},
                status=HTTP_STATUS[ErrorCode.TIMEOUT],
            )
        reply = _reply(run) if run.status == Run.Status.SUCCEEDED else (run.input_prompt or "")
        return Response({"response": reply, "conversation_id": chat.id})


class ChatStreamView(APIView):
    @extend_schema(
        request=ConversationIn,
        responses={
            (200, "text/event-stream"): CHUNK_SSE,
            **errors(
                {
                    404: "The conversation is another user's.",
                    409: "The conversation's agent was disabled.",
                }
            ),
        },
        operation_id="conversation_stream",
    )
    def post(self, request: Request) -> Any:
        """Run one turn and stream the reply as SSE ``{content, is_final, metrics}`` chunks."""
        data = validated(ConversationIn, request.data)
        chat = conversation_chat(
            user=request.user,
            conversation_id=data.get("conversation_id") or "",
            agent=data.get("agent") or "",
        )
        run, message = services.chat_send(chat=chat, text=data["message"])
        release_connection()  # the stream must not hold this request's connection
        return sse.response(chunks(chat_id=chat.id, run_id=str(run.id), after_seq=message.seq))


async def chunks(*, chat_id: str, run_id: str, after_seq: int, fresh: bool = True) -> AsyncIterator[bytes]:
    """The turn's text as it comes (coalesced deltas), then a final chunk with metrics.

    ``fresh``: ``after_seq`` was written or read a moment ago (see ``streams.follow``); False to
    replay a turn that may have ended already.
    """
    started = time.monotonic()
    first_chunk_at: float | None = None
    streamed: list[str] = []
    round_start = 0  # where the last round of streamed text starts
    final_text: str | None = None
    agent_stats: dict[str, Any] = {}
    count = 0
    try:
        async for event in streams.follow(
            chat_id=chat_id,
            after_seq=after_seq,
            idle_seconds=settings.UAI_STREAM_KEEPALIVE_SECONDS,
            fresh=fresh,
        ):
            if event is None:
                yield sse.KEEPALIVE
                continue
            if event.get("run_id") != run_id:
                continue
            kind, data = event["type"], event["data"]
            if kind == "delta" and data["text"]:
                first_chunk_at = first_chunk_at or time.monotonic()
                streamed.append(data["text"])
                count += 1
                yield sse.encode(event["seq"], {"content": data["text"], "is_final": False, "metrics": None})
            elif kind == "step" and data["step_type"] == "FinalAnswerStep":
                final_text = data["content"]
            elif kind == "step":
                round_start = len(streamed)  # the text after a step (a tool call) is a new round
            elif kind == "input_required":
                final_text = data["prompt"]
            elif kind == "stats":
                agent_stats.update(data.get("data") or {})
            elif kind == "status" and data["status"] in TURN_ENDS:
                so_far = "".join(streamed)
                text = final_text or ""
                last_round = "".join(streamed[round_start:])
                if text.startswith(so_far):
                    rest = text[len(so_far) :]  # what the deltas did not carry
                elif last_round and text.startswith(last_round):
                    # The answer is the last round's text (after a tool call's step): what came
                    # before it was streamed, and is not said again.
                    rest = text[len(last_round) :]
                else:
                    rest = text
                first_chunk_at = first_chunk_at or time.monotonic()
                metrics = {
                    "tokens": agent_stats.get("tokens", len((final_text or so_far).split())),
                    "chunks": count + 1,
                    "time_to_first_chunk_ms": round((first_chunk_at - started) * 1000, 3),
                    "total_ms": round((time.monotonic() - started) * 1000, 3),
                    "status": data["status"],
                    "run_id": run_id,
                    "conversation_id": chat_id,
                }
                final: dict[str, Any] = {"content": rest, "is_final": True, "metrics": metrics}
                if data["status"] == Run.Status.FAILED:
                    final["error"] = data.get("error") or "The agent failed."
                yield sse.encode(event["seq"], final)
                return
    except streams.StreamOverflow as exc:
        yield sse.encode(None, {"content": "", "is_final": True, "metrics": None, "error": str(exc)})
    except streams.ChatGone:
        gone = "The conversation was deleted."
        yield sse.encode(None, {"content": "", "is_final": True, "metrics": None, "error": gone})
    except DatabaseError as error:
        if outage(error) is None:
            raise  # a bug, not an outage: logged with its traceback where the server logs them
        logger.warning("a stream's database went away; ending it with an error chunk")
        away = "The database is unreachable for a moment; try again shortly."
        yield sse.encode(None, {"content": "", "is_final": True, "metrics": None, "error": away})
