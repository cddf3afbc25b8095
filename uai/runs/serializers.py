"""Input validation and OpenAPI shapes of the native run API (seed 000)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from uai.runs.models import Log, Run
from uai_project.api import AnyJSONField, StrictCharField


class RunCreateIn(serializers.Serializer[Any]):
    agent = StrictCharField(max_length=64)
    input = AnyJSONField(required=False, default=dict)


class RunInputIn(serializers.Serializer[Any]):
    text = StrictCharField(allow_blank=True, trim_whitespace=False)


class LogIn(serializers.Serializer[Any]):
    level = serializers.ChoiceField(choices=Log.Level.choices, default=Log.Level.INFO)
    message = StrictCharField(trim_whitespace=False)

    def validate_message(self, value: str) -> str:
        if len(value) > settings.UAI_MAX_LOG_CHARS:
            raise serializers.ValidationError(
                f"A log line is at most {settings.UAI_MAX_LOG_CHARS} characters."
            )
        return value

    data = serializers.DictField(required=False, default=dict)  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class


class RunOut(serializers.Serializer[Any]):
    task_id = serializers.UUIDField()
    id = serializers.UUIDField()
    agent = serializers.CharField()
    kind = serializers.ChoiceField(choices=Run.Kind.choices)
    chat_id = serializers.CharField(allow_null=True)
    schedule_id = serializers.UUIDField(allow_null=True, help_text="The schedule whose firing made it.")
    status = serializers.ChoiceField(choices=Run.Status.choices)
    progress = serializers.FloatField()
    current_step = serializers.CharField()
    input = serializers.JSONField()
    # Any JSON, null until the run succeeded (allow_null would make 3.1 schema's oneOf ambiguous).
    output = serializers.JSONField()
    error = serializers.CharField(allow_null=True)
    input_prompt = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()
    estimated_completion_time = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class LogOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    run_id = serializers.UUIDField(allow_null=True)
    chat_id = serializers.CharField(allow_null=True)
    level = serializers.ChoiceField(choices=Log.Level.choices)
    message = serializers.CharField()
    source = serializers.ChoiceField(choices=Log.Source.choices)  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class
    data = serializers.JSONField()  # type: ignore[assignment]  # a field, not the attribute: DRF's metaclass moves it off the class
    created_at = serializers.DateTimeField()
