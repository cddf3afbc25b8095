"""Input validation and OpenAPI shapes of the webhook endpoints API (``/webhooks/…``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from uai.webhooks.events import EVENT_TYPES
from uai.webhooks.models import Delivery, EndpointDelivery
from uai_project.api import AnyJSONField, StrictCharField


class StrictBooleanField(serializers.BooleanField):
    """true or false, not "yes", 1 or "on"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def _event_types() -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=40),
        required=False,
        max_length=len(EVENT_TYPES),
        help_text=f"Event types to receive; empty or left out: all ({', '.join(EVENT_TYPES)}).",
    )


def _agents() -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=64),
        required=False,
        max_length=100,
        help_text="Agents whose runs' events to receive; empty or left out: every agent.",
    )


class EndpointCreateIn(serializers.Serializer[Any]):
    url = StrictCharField(max_length=2000)
    event_types = _event_types()
    agents = _agents()
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    enabled = StrictBooleanField(required=False)
    secret = StrictCharField(
        max_length=200,
        required=False,
        help_text="The signing secret (whsec_<base64>, or any string); left out: one is made.",
    )


class EndpointUpdateIn(serializers.Serializer[Any]):
    url = StrictCharField(max_length=2000, required=False)
    event_types = _event_types()
    agents = _agents()
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    enabled = StrictBooleanField(required=False)


class RotateSecretIn(serializers.Serializer[Any]):
    secret = StrictCharField(
        max_length=200, required=False, help_text="The new secret; left out: one is made."
    )
    grace_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=30 * 86400,
        help_text="How long the old secret keeps signing beside the new one "
        f"(default UAI_WEBHOOK_ROTATION_GRACE_SECONDS, {settings.UAI_WEBHOOK_ROTATION_GRACE_SECONDS}).",
    )


class EndpointOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    agents = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until when the secret before the last rotation also signs."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointWithSecretOut(EndpointOut):
    secret = serializers.CharField(help_text="The signing secret: shown only when made or rotated.")


class AttemptOut(serializers.Serializer[Any]):
    attempt = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=Delivery.Outcome.choices)
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    response = serializers.CharField(help_text="The start of the receiver's answer.")
    duration_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class DeliveryOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(help_text="Also the webhook-id header of each of its POSTs.")
    endpoint_id = serializers.UUIDField()
    event_type = serializers.CharField()
    run_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=EndpointDelivery.Status.choices)
    error = serializers.CharField(allow_null=True)
    payload = AnyJSONField(help_text='The body POSTed: {"type", "timestamp", "data"}.')
    attempts = AttemptOut(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
