"""OpenAI ``/v1/conversations``: a UAI chat, and its messages as conversation items.

A conversation's id is the chat's own, so what a client writes here reads the same at
``/chat/{id}/messages``, ``/history/{id}`` and ``/api/workflows/{id}/messages`` (and a response
created ``conversation=<id>`` is a turn of that chat). Its items are the chat's messages:

- a user's message: a ``message`` of role ``user`` (``input_text``, its files as ``input_file``
  with their download URL); a system message: role ``system``;
- the agent's answer (``FinalAnswerStep``) and its questions (``InputRequestStep``): role
  ``assistant``, ``output_text``;
- the agent's other steps (planning, actions, …): ``reasoning`` items, the step as summary text.

Item ids are ``msg_<message uuid hex>`` and ``rs_<…>``. Items added by a client are stored as
they are, without running the agent: user, system and developer (a system message) and
assistant (the agent's answer) messages with text content.

The item builders (``message_item`` and its parts) are plain functions of a stored message and
the request's base URL, for the responses module's output and input items too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.urls import re_path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from uai.agents import events as ev
from uai.artifacts.models import Artifact
from uai.artifacts.presenters import download_path
from uai.chats import selectors, services
from uai.chats.models import Chat, Message
from uai.dialects.openai_common import BadParameter, OpenAIView, epoch
from uai_project import errors
from uai_project.api import StrictCharField, base_url, user_id, validated

MAX_ITEMS = 20  # per request, as OpenAI takes them
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
DEFAULT_PAGE = 20
MAX_PAGE = 100

MESSAGE_PREFIX = "msg_"
REASONING_PREFIX = "rs_"

# The agent's messages a client reads as the assistant's words; its other steps are reasoning.
ASSISTANT_STEPS = frozenset({None, "", ev.FINAL_ANSWER_STEP, ev.INPUT_REQUEST_STEP})
# What an added item's role is stored as (OpenAI's developer messages are system messages).
ROLE_IN = {
    "user": Message.Role.USER,
    "system": Message.Role.SYSTEM,
    "developer": Message.Role.SYSTEM,
    "assistant": Message.Role.AGENT,
}
TEXT_PARTS = {"input_text": "text", "output_text": "text", "text": "text", "refusal": "refusal"}


# --- Items: a stored message as OpenAI writes it ----------------------------------------------


def is_reasoning(message: Message) -> bool:
    """Whether the message is one of the agent's steps before its answer (a ``reasoning`` item)."""
    return message.role == Message.Role.AGENT and message.step_type not in ASSISTANT_STEPS


def item_id(message: Message) -> str:
    """The message's item id: ``rs_<hex>`` for a step, ``msg_<hex>`` otherwise."""
    return (REASONING_PREFIX if is_reasoning(message) else MESSAGE_PREFIX) + message.id.hex


def output_text(text: str) -> dict[str, Any]:
    """An assistant's text as a content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def input_file(artifact: Artifact, base: str) -> dict[str, Any]:
    """A file of a user's message as a content part, with where to download it (absolute)."""
    return {"type": "input_file", "filename": artifact.name, "file_url": base + download_path(artifact)}


def reasoning_item(message: Message) -> dict[str, Any]:
    """One of the agent's steps as a ``reasoning`` item (the step's text as its summary)."""
    return {
        "type": "reasoning",
        "id": item_id(message),
        "summary": [{"type": "summary_text", "text": message.content}],
        "status": "completed",
    }


def message_item(message: Message, base: str, files: Sequence[Artifact] = ()) -> dict[str, Any]:
    """A stored message as a conversation item; ``base`` is the request's ``scheme://host`` (for
    the files' URLs), ``files`` the message's attached files (``selectors.message_files``)."""
    if is_reasoning(message):
        return reasoning_item(message)
    if message.role == Message.Role.AGENT:
        role, content = "assistant", [output_text(message.content)]
    else:
        role = "system" if message.role == Message.Role.SYSTEM else "user"
        content = [{"type": "input_text", "text": message.content}] if message.content or not files else []
        content += [input_file(artifact, base) for artifact in files]
    return {
        "type": "message",
        "id": item_id(message),
        "role": role,
        "status": "completed",
        "content": content,
    }


def message_uuid(raw: str) -> uuid.UUID | None:
    """The message id inside an item id (``msg_<32 hex>`` or ``rs_<32 hex>``); None otherwise."""
    for prefix in (MESSAGE_PREFIX, REASONING_PREFIX):
        hex_part = raw.removeprefix(prefix)
        if hex_part != raw and len(hex_part) == 32:
            try:
                return uuid.UUID(hex=hex_part)
            except ValueError:
                return None
    return None


# --- Items a client adds ----------------------------------------------------------------------


def _part_text(part: Any, param: str) -> str:
    if not isinstance(part, dict):
        raise BadParameter("A content part must be an object.", param=param)
    kind = part.get("type")
    if kind not in TEXT_PARTS:
        raise BadParameter(
            f"Content of type {kind!r} cannot be added to a conversation: it takes text "
            "(files and images reach an agent in a response's input).",
            param=f"{param}.type",
        )
    text = part.get(TEXT_PARTS[kind])
    if not isinstance(text, str):
        raise BadParameter(f"A {kind} part needs its text as a string.", param=f"{param}.{TEXT_PARTS[kind]}")
    return text


def message_in(item: Any, param: str) -> tuple[str, str, str | None]:
    """An input item as the ``(role, content, step_type)`` of the message it stores; a 400
    naming the parameter (``items.2.role``) for anything else."""
    if not isinstance(item, dict):
        raise BadParameter("An item must be an object.", param=param)
    kind = item.get("type", "message")
    if kind != "message":
        raise BadParameter(
            f"Items of type {kind!r} cannot be added to a conversation: it takes messages.",
            param=f"{param}.type",
        )
    role = item.get("role")
    if role not in ROLE_IN:
        raise BadParameter(f"A message's role is one of {', '.join(ROLE_IN)}.", param=f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "\n".join(_part_text(part, f"{param}.content.{i}") for i, part in enumerate(content))
    else:
        raise BadParameter("A message's content is a string or a list of parts.", param=f"{param}.content")
    stored = ROLE_IN[role]
    return stored, text, ev.FINAL_ANSWER_STEP if stored == Message.Role.AGENT else None


def messages_in(items: list[Any] | None) -> list[tuple[str, str, str | None]]:
    """The messages ``items`` store, in order."""
    return [message_in(item, f"items.{i}") for i, item in enumerate(items or [])]


class MetadataField(serializers.DictField):
    """OpenAI's metadata: up to 16 string values under keys of up to 64 characters; null is none."""

    child = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=MAX_METADATA_VALUE_CHARS)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value: dict[str, str] = super().to_internal_value(data)
        if len(value) > MAX_METADATA_KEYS:
            raise serializers.ValidationError(f"At most {MAX_METADATA_KEYS} metadata keys.")
        if any(len(key) > MAX_METADATA_KEY_CHARS for key in value):
            raise serializers.ValidationError(
                f"A metadata key is at most {MAX_METADATA_KEY_CHARS} characters."
            )
        return value


class OpenAIConversationIn(serializers.Serializer[Any]):
    items = serializers.ListField(
        child=serializers.JSONField(), required=False, allow_null=True, max_length=MAX_ITEMS
    )
    metadata = MetadataField(required=False, allow_null=True)


class OpenAIConversationUpdateIn(serializers.Serializer[Any]):
    metadata = MetadataField(allow_null=True)


class OpenAIItemsIn(serializers.Serializer[Any]):
    items = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=MAX_ITEMS)


ConversationOut = inline_serializer(
    "OpenAIConversation",
    fields={
        "id": serializers.CharField(),
        "object": serializers.ChoiceField(choices=["conversation"]),
        "created_at": serializers.IntegerField(),
        "metadata": serializers.DictField(),
    },
)
ConversationDeletedOut = inline_serializer(
    "OpenAIConversationDeleted",
    fields={
        "id": serializers.CharField(),
        "object": serializers.ChoiceField(choices=["conversation.deleted"]),
        "deleted": serializers.BooleanField(),
    },
)
ItemOut = inline_serializer(
    "OpenAIConversationItem",
    fields={
        "type": serializers.ChoiceField(choices=["message", "reasoning"]),
        "id": serializers.CharField(),
        "role": serializers.ChoiceField(choices=["user", "system", "assistant"], required=False),
        "status": serializers.CharField(),
        "content": serializers.ListField(child=serializers.DictField(), required=False),
        "summary": serializers.ListField(child=serializers.DictField(), required=False),
    },
)
ItemListOut = inline_serializer(
    "OpenAIConversationItemList",
    fields={
        "object": serializers.ChoiceField(choices=["list"]),
        "data": ItemOut.__class__(many=True),
        "first_id": serializers.CharField(allow_null=True),
        "last_id": serializers.CharField(allow_null=True),
        "has_more": serializers.BooleanField(),
    },
)


# --- Views ------------------------------------------------------------------------------------


def conversation_get(request: Request, conversation_id: str) -> Chat:
    """The user's chat of that id, or OpenAI's 404 (another user's is not found either)."""
    try:
        return selectors.chat_get(user=request.user, chat_id=conversation_id)
    except errors.NotFound:
        raise errors.NotFound(f"Conversation with id '{conversation_id}' not found.") from None


def conversation_data(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.id,
        "object": "conversation",
        "created_at": epoch(chat.created_at),
        "metadata": chat.metadata,
    }


def item_get(chat: Chat, raw: str) -> Message:
    """The chat's message an item id names (its kind must match: ``rs_`` is a step), or 404."""
    found = message_uuid(raw)
    message = None
    if found is not None:
        try:
            message = selectors.message_get(chat=chat, message_id=str(found))
        except errors.NotFound:
            pass
    if message is None or item_id(message) != raw:
        raise errors.NotFound(f"Item with id '{raw}' not found.")
    return message


def item_list(messages: Sequence[Message], base: str, *, has_more: bool = False) -> dict[str, Any]:
    """OpenAI's list of items (``first_id`` and ``last_id`` are null when it is empty)."""
    files = selectors.message_files(messages)
    data = [message_item(m, base, files.get(m.id, [])) for m in messages]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadParameter(f"limit is a whole number from 1 to {MAX_PAGE}.", param="limit")
    return int(raw)


def _newest_first(raw: str | None) -> bool:
    if raw not in (None, "", "asc", "desc"):
        raise BadParameter("order is 'asc' or 'desc'.", param="order")
    return raw != "asc"


def _after_seq(chat: Chat, raw: str | None) -> int | None:
    """The number of the message ``after`` names (a 400 when the conversation has no such item)."""
    if not raw:
        return None
    found, seq = message_uuid(raw), None
    if found is not None:
        try:
            seq = selectors.message_seq(chat=chat, message_id=found)
        except errors.NotFound:
            pass
    if seq is None:
        raise BadParameter(f"No item '{raw}' in this conversation.", param="after")
    return seq


TAGS = ["openai"]


class ConversationCreateView(OpenAIView):
    @extend_schema(
        request=OpenAIConversationIn,
        responses=ConversationOut,
        tags=TAGS,
        operation_id="openai_conversations_create",
    )
    def post(self, request: Request) -> Response:
        """A new conversation (a UAI chat of the default agent), with up to 20 first items."""
        data = validated(OpenAIConversationIn, request.data)
        chat = services.chat_create_with_messages(
            owner_id=user_id(request),
            metadata=data.get("metadata") or {},
            messages=messages_in(data.get("items")),
        )
        return Response(conversation_data(chat))


class ConversationView(OpenAIView):
    @extend_schema(responses=ConversationOut, tags=TAGS, operation_id="openai_conversations_get")
    def get(self, request: Request, conversation_id: str) -> Response:
        """One conversation."""
        return Response(conversation_data(conversation_get(request, conversation_id)))

    @extend_schema(
        request=OpenAIConversationUpdateIn,
        responses=ConversationOut,
        tags=TAGS,
        operation_id="openai_conversations_update",
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        """Replace a conversation's metadata."""
        chat = conversation_get(request, conversation_id)
        data = validated(OpenAIConversationUpdateIn, request.data)
        chat = services.chat_update(chat=chat, fields={"metadata": data["metadata"] or {}})
        return Response(conversation_data(chat))

    @extend_schema(
        responses={200: ConversationDeletedOut},
        tags=TAGS,
        operation_id="openai_conversations_delete",
    )
    def delete(self, request: Request, conversation_id: str) -> Response:
        """Delete a conversation: the chat, its messages and files (work in flight is cancelled)."""
        services.chat_delete(chat=conversation_get(request, conversation_id))
        return Response({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


class ItemsView(OpenAIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
            OpenApiParameter("order", {"type": "string", "enum": ["asc", "desc"]}),
            OpenApiParameter("after", str, description="An item id: the items after it, in this order."),
            OpenApiParameter(
                "include", {"type": "array", "items": {"type": "string"}}, description="Ignored."
            ),
        ],
        responses=ItemListOut,
        tags=TAGS,
        operation_id="openai_conversation_items_list",
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        """The conversation's items (the chat's messages), newest first unless ``order=asc``."""
        chat = conversation_get(request, conversation_id)
        query = request.query_params
        limit, newest_first = _page_size(query.get("limit")), _newest_first(query.get("order"))
        messages, more = selectors.message_page(
            chat=chat, limit=limit, newest_first=newest_first, after_seq=_after_seq(chat, query.get("after"))
        )
        return Response(item_list(messages, base_url(request), has_more=more))

    @extend_schema(
        request=OpenAIItemsIn,
        responses=ItemListOut,
        tags=TAGS,
        operation_id="openai_conversation_items_create",
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        """Add up to 20 messages to the conversation (the agent does not run); the items made."""
        chat = conversation_get(request, conversation_id)
        data = validated(OpenAIItemsIn, request.data)
        messages = services.messages_add(chat=chat, messages=messages_in(data["items"]))
        return Response(item_list(messages, base_url(request)))


class ItemView(OpenAIView):
    @extend_schema(
        responses=ItemOut,
        tags=TAGS,
        operation_id="openai_conversation_items_get",
    )
    def get(self, request: Request, conversation_id: str, item_id: str) -> Response:
        """One item of the conversation."""
        message = item_get(conversation_get(request, conversation_id), item_id)
        files = selectors.message_files([message]).get(message.id, [])
        return Response(message_item(message, base_url(request), files))

    @extend_schema(
        responses={200: ConversationOut},
        tags=TAGS,
        operation_id="openai_conversation_items_delete",
    )
    def delete(self, request: Request, conversation_id: str, item_id: str) -> Response:
        """Remove one item (the message and its files); the conversation."""
        chat = conversation_get(request, conversation_id)
        services.message_delete(chat=chat, message=item_get(chat, item_id))
        return Response(conversation_data(chat))


CONVERSATION = r"^conversations/(?P<conversation_id>[^/]+)"

urlpatterns = [
    re_path(r"^conversations/?$", ConversationCreateView.as_view(), name="openai-conversations"),
    re_path(CONVERSATION + r"/?$", ConversationView.as_view(), name="openai-conversation"),
    re_path(CONVERSATION + r"/items/?$", ItemsView.as_view(), name="openai-conversation-items"),
    re_path(
        CONVERSATION + r"/items/(?P<item_id>[^/]+)/?$", ItemView.as_view(), name="openai-conversation-item"
    ),
]
