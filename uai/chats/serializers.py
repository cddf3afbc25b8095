"""Input validation and OpenAPI shapes of the native chat API (seed 000)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from uai.artifacts.serializers import ArtifactOut
from uai.chats.models import Chat
from uai_project.api import AnyJSONField, JSONObjectField, StrictCharField

DOUBLE_TEXTING_HELP = (
    "What a message does while the chat's turn is going: enqueue (it runs after), reject (409 "
    "with the going turn's run_id), interrupt (cancel that turn, keep what it did), rollback "
    "(cancel it and delete what it did). Omitted or null: the chat's, else UAI_DOUBLE_TEXTING."
)


def double_texting_field() -> serializers.ChoiceField:
    """The optional ``double_texting`` of a chat or a turn request (null as omitted)."""
    choices = ", ".join(Chat.DoubleTexting.values)
    return serializers.ChoiceField(
        choices=Chat.DoubleTexting.values,
        required=False,
        allow_null=True,
        help_text=DOUBLE_TEXTING_HELP,
        error_messages={"invalid_choice": f"double_texting must be one of {choices}, not {{input!r}}."},
    )


class ChatCreateIn(serializers.Serializer[Any]):
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    name = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    metadata = JSONObjectField(required=False, default=dict)
    double_texting = double_texting_field()


class ChatUpdateIn(serializers.Serializer[Any]):
    name = StrictCharField(required=False, allow_blank=True, max_length=200)
    metadata = JSONObjectField(required=False)
    double_texting = double_texting_field()


class ChatSendIn(serializers.Serializer[Any]):
    text = StrictCharField(allow_blank=True, trim_whitespace=False)
    message_id = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    wait = serializers.BooleanField(required=False, default=True)


class ChatSendDoc(ChatSendIn):
    """``ChatSendIn`` as documented: ``double_texting`` is read from the body as it is and
    checked by the service (a field here is copied for every request: ~0.1 ms of each turn)."""

    double_texting = double_texting_field()


class ChatNextIn(serializers.Serializer[Any]):
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    # (null let through: a form's "null" is the text typed, and the view refuses JSON's null)
    user_input = AnyJSONField(allow_null=True)
    state = JSONObjectField(required=False, default=dict)


class ChatOut(serializers.Serializer[Any]):
    session_id = serializers.CharField()
    id = serializers.CharField()
    agent = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    mode = serializers.CharField()
    status = serializers.ChoiceField(choices=["idle", "running", "stopped"])
    metadata = serializers.JSONField()
    tags = serializers.ListField(child=serializers.CharField())
    state = serializers.JSONField()
    double_texting = serializers.ChoiceField(choices=Chat.DoubleTexting.values, help_text=DOUBLE_TEXTING_HELP)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChatListItemOut(ChatOut):
    preview = serializers.CharField(
        help_text="The start of the chat's first user message (80 characters on one line, then"
        ' "…"; "" before one): a title for a chat nobody named.'
    )


class MessageOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    chat_id = serializers.CharField()
    run_id = serializers.UUIDField(allow_null=True)
    seq = serializers.IntegerField()
    role = serializers.ChoiceField(choices=["user", "agent", "system"])
    content = serializers.CharField()
    step_type = serializers.CharField(allow_null=True)
    message_id = serializers.CharField(allow_null=True, help_text="The client's own message id.")
    created_at = serializers.DateTimeField()
    files = ArtifactOut(many=True)


class TurnOut(serializers.Serializer[Any]):
    messages = MessageOut(many=True, help_text="The turn's new messages, the user's first.")
    artifacts = ArtifactOut(many=True, help_text="Artifacts the agent produced in this turn.")
    run_id = serializers.UUIDField()
    status = serializers.CharField()
    error = serializers.CharField(allow_null=True)


class NextStepOut(serializers.Serializer[Any]):
    step_type = serializers.CharField()
    content = serializers.CharField()


class NextArtifactOut(serializers.Serializer[Any]):
    name = serializers.CharField()
    media_type = serializers.CharField()
    size = serializers.IntegerField(required=False)
    content_base64 = serializers.CharField(required=False)
    data = serializers.JSONField(required=False)  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class


class ChatNextOut(serializers.Serializer[Any]):
    state = serializers.JSONField()
    artifacts = NextArtifactOut(many=True)
    steps = NextStepOut(many=True)
    output = serializers.JSONField()
