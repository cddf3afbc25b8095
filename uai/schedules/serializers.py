"""Input validation and OpenAPI shapes of the schedule API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from uai_project.api import AnyJSONField, StrictCharField


class ScheduleIn(serializers.Serializer[Any]):
    agent = StrictCharField(max_length=64)
    input = AnyJSONField(required=False, default=dict, help_text="Each run's input, as POST /run/ takes it.")
    cron = StrictCharField(
        max_length=200,
        help_text="minute hour day month weekday (a 6th field: seconds), or @hourly, @daily, …",
    )
    timezone = StrictCharField(max_length=64, required=False, default="UTC", help_text="An IANA zone name.")
    name = StrictCharField(max_length=200, required=False, default="", allow_blank=True)
    enabled = serializers.BooleanField(required=False, default=True)


class SchedulePatchIn(serializers.Serializer[Any]):
    agent = StrictCharField(max_length=64, required=False)
    input = AnyJSONField(required=False)
    cron = StrictCharField(max_length=200, required=False)
    timezone = StrictCharField(max_length=64, required=False)
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class ScheduleOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    agent = serializers.CharField()
    input = serializers.JSONField()
    cron = serializers.CharField()
    timezone = serializers.CharField()
    enabled = serializers.BooleanField()
    next_fire_at = serializers.DateTimeField(allow_null=True, help_text="Null while disabled.")
    last_fired_at = serializers.DateTimeField(allow_null=True)
    last_run_id = serializers.UUIDField(allow_null=True)
    last_error = serializers.CharField(allow_null=True, help_text="Why the last firing made no run.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
