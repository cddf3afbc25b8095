"""OpenAPI shapes of artifacts (the data itself comes from ``artifacts.presenters``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ArtifactOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    artifact_id = serializers.UUIDField()
    name = serializers.CharField()
    media_type = serializers.CharField()
    size = serializers.IntegerField()
    checksum = serializers.CharField()
    origin = serializers.ChoiceField(choices=["agent", "user"])
    chat_id = serializers.CharField(allow_null=True)
    run_id = serializers.UUIDField(allow_null=True)
    message_id = serializers.UUIDField(allow_null=True)
    data = serializers.JSONField(help_text="A JSON artifact's value; null for a file.")  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class
    created_at = serializers.DateTimeField()
    download_url = serializers.URLField()
