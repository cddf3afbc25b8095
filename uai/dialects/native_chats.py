"""The native chat API of seed 000: ``/chat/…``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.artifacts import selectors as artifact_selectors
from uai.artifacts.presenters import artifact_data
from uai.chats import selectors, services
from uai.chats.presenters import chat_data, chat_list_data, message_data
from uai.chats.serializers import (
    ChatCreateIn,
    ChatListItemOut,
    ChatNextIn,
    ChatNextOut,
    ChatOut,
    ChatSendDoc,
    ChatSendIn,
    ChatUpdateIn,
    MessageOut,
    TurnOut,
)
from uai.dialects import native_streams, sse
from uai.runs import selectors as run_selectors
from uai.runs.models import Run
from uai.runs.waiting import TurnWatch, release_connection
from uai_project.api import base_url, flag, uploaded_files, user_id, validated, whole_number
from uai_project.errors import AgentFailed, Conflict, InvalidInput
from uai_project.schema import NATIVE_SSE, errors


def chat_scope(user: Any, session_id: str, **kwargs: Any) -> dict[str, Any]:
    """Artifact routes under ``/chat/{session_id}``."""
    return {"chat_id": selectors.chat_get(user=user, chat_id=session_id).id}


class ChatListCreateView(APIView):
    @extend_schema(responses=ChatListItemOut(many=True))
    def get(self, request: Request) -> Response:
        """The user's chats, newest first, each with the start of its first message (``preview``)."""
        return Response([chat_list_data(c) for c in selectors.chat_list(user=request.user, previews=True)])

    @extend_schema(request=ChatCreateIn, responses={201: ChatOut})
    def post(self, request: Request) -> Response:
        """Create a chat session; returns its ``session_id``."""
        data = validated(ChatCreateIn, request.data)
        chat = services.chat_create(
            owner_id=user_id(request),
            agent_name=data.get("agent") or None,
            name=data["name"],
            metadata=data["metadata"],
            double_texting=data.get("double_texting") or "",
        )
        return Response(chat_data(chat), status=status.HTTP_201_CREATED)


class ChatDetailView(APIView):
    @extend_schema(responses=ChatOut)
    def get(self, request: Request, session_id: str) -> Response:
        """One chat."""
        return Response(chat_data(selectors.chat_get(user=request.user, chat_id=session_id)))

    @extend_schema(request=ChatUpdateIn, responses=ChatOut)
    def patch(self, request: Request, session_id: str) -> Response:
        """Change the chat's name, metadata or ``double_texting`` (null: the server's default)."""
        chat = selectors.chat_get(user=request.user, chat_id=session_id)
        data = validated(ChatUpdateIn, request.data)
        fields = {name: value for name, value in data.items() if name != "double_texting"}
        if "double_texting" in data:
            fields["double_texting"] = data["double_texting"] or ""
        return Response(chat_data(services.chat_update(chat=chat, fields=fields)))

    @extend_schema(
        request={"application/json": ChatSendDoc, "multipart/form-data": ChatSendDoc},
        parameters=[OpenApiParameter("wait", bool, description="Wait for the turn (default true).")],
        responses={
            (200, "application/json"): TurnOut,
            # With ``Accept: text/event-stream``: the turn's events, to its end.
            (200, "text/event-stream"): NATIVE_SSE,
            (202, "application/json"): TurnOut,
            **errors(
                {
                    409: "The chat's agent was disabled, or a turn is going and the message's "
                    "double_texting is reject (`run_id`: that turn)."
                }
            ),
        },
        operation_id="chat_send",
    )
    def post(self, request: Request, session_id: str) -> Response | StreamingHttpResponse:
        """Send a message (text, and files as multipart ``files``) and, by default, wait for the turn."""
        chat = selectors.chat_get(user=request.user, chat_id=session_id)
        data = validated(ChatSendIn, request.data)
        wait = flag(request.query_params.get("wait"), data["wait"])
        send = {
            "chat": chat,
            "text": data["text"],
            "files": uploaded_files(request),
            "client_message_id": data["message_id"],
            "double_texting": request.data.get("double_texting"),  # (checked by the service)
        }
        if "text/event-stream" in request.headers.get("Accept", ""):
            # The turn's events as they happen, from the user's message to the turn's end.
            run, message = services.chat_send(**send)
            release_connection()
            stream = native_streams.native_events(
                chat_id=chat.id,
                after_seq=message.seq - 1,
                only_run=run.id,
                stop=native_streams.ends_run(run.id, Run.TURN_ENDS),
                chat_born=chat.created_at,
            )
            return sse.response(stream)
        if not wait:
            run, message = services.chat_send(**send)
            return turn_response(request, chat_id=chat.id, run_id=run.id, after_seq=message.seq - 1)
        # Listening before the turn is sent, the request receives every event of it, and answers
        # from them: the tables are read again only if one went missing.
        watch = TurnWatch(chat.id)
        run, message = watch.send(
            lambda: services.chat_send(**send), timeout=settings.UAI_TURN_WAIT_SECONDS, until=Run.TURN_ENDS
        )
        body = watch.reply(run.id, after_seq=message.seq - 1)
        if body is None:
            return turn_response(request, chat_id=chat.id, run_id=run.id, after_seq=message.seq - 1)
        return Response(body, status=status.HTTP_200_OK)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, session_id: str) -> Response:
        """Delete the chat: cancels work in flight, removes its messages and stored files."""
        services.chat_delete(chat=selectors.chat_get(user=request.user, chat_id=session_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def turn_response(request: Request, *, chat_id: str, run_id: Any, after_seq: int) -> Response:
    """The messages and artifacts a turn added since ``after_seq``; 202 while it is still going."""
    run = run_selectors.run_find(run_id=run_id)
    chat = selectors.chat_get(user=request.user, chat_id=chat_id)  # deleted while the turn ran: 404
    if run is None:  # the chat is there: a newer message rolled the turn back
        raise Conflict(services.ROLLED_BACK, extra={"run_id": str(run_id)})
    base = base_url(request)
    messages = selectors.message_list(chat=chat, after_seq=after_seq, run_id=run_id)
    files = selectors.message_files(messages)
    artifacts = artifact_selectors.turn_artifacts(run_id=run_id, after_seq=after_seq)
    body = {
        "messages": [message_data(m, base_url=base, files=files.get(m.id, [])) for m in messages],
        "artifacts": [artifact_data(a, base_url=base) for a in artifacts],
        "run_id": str(run.id),
        "status": run.status,
        "error": run.error or None,
    }
    done = run.status in Run.TURN_ENDS
    return Response(body, status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED)


class ChatMessagesView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Only messages after this sequence number."),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1}, description="Only the newest N messages."
            ),
        ],
        responses=MessageOut(many=True),
    )
    def get(self, request: Request, session_id: str) -> Response:
        """All messages of the chat, in order."""
        chat = selectors.chat_get(user=request.user, chat_id=session_id)
        after = _int_param(request, "after")
        limit = _int_param(request, "limit")
        if limit is not None and limit < 1:
            raise InvalidInput("limit must be at least 1.")
        messages = selectors.message_list(chat=chat, after_seq=after, limit=limit)
        files = selectors.message_files(messages)
        base = base_url(request)
        return Response([message_data(m, base_url=base, files=files.get(m.id, [])) for m in messages])


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if not value:
        return None
    return whole_number(value, name)


class ChatNextView(APIView):
    @extend_schema(
        request={"application/json": ChatNextIn, "multipart/form-data": ChatNextIn},
        responses={
            200: ChatNextOut,
            **errors(
                {502: "The agent failed (`detail` says how).", 504: "The agent did not answer in time."}
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """A sessionless turn: ``user_input`` and ``state`` in, updated ``state`` and ``artifacts`` out."""
        data = validated(ChatNextIn, request.data)
        user_input = data["user_input"]
        if not isinstance(user_input, dict | str) and isinstance(raw := request.data.get("user_input"), str):
            user_input = raw  # a form field read as JSON ("42", "true"): the text as it was typed
        if isinstance(user_input, dict):
            text = user_input.get("text", "")
            if not isinstance(text, str):
                raise InvalidInput("user_input.text must be a string.")
        elif isinstance(user_input, str):
            text = user_input
        else:
            raise InvalidInput("user_input must be text or an object with a 'text'.")
        agent = agent_selectors.agent_get(name=data.get("agent") or None)
        result = services.chat_next(
            agent=agent,
            text=text,
            run_input=user_input,
            state=data["state"],
            files=uploaded_files(request),
        )
        if result["error"]:
            raise AgentFailed(f"The agent failed: {result['error']}")
        return Response({k: result[k] for k in ("state", "artifacts", "steps", "output")})
