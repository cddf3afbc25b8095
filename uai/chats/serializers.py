"""Input validation and OpenAPI shapes of the native chat API (seed 000)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from uai.artifacts.serializers import ArtifactOut
from uai_project.api import AnyJSONField, JSONObjectField, StrictCharField


class ChatCreateIn(serializers.Serializer[Any]):
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    name = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    metadata = JSONObjectField(required=False, default=dict)


class ChatSendIn(serializers.Serializer[Any]):
    text = StrictCharField(allow_blank=True, trim_whitespace=False)
    message_id = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    wait = serializers.BooleanField(required=False, default=True)


class ChatNextIn(serializers.Serializer[Any]):
    # null as omitted (the default agent), as on every route: typed clients send unset fields as null.
    agent = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)
    user_input = AnyJSONField()
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
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


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
