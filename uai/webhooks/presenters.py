"""The JSON shapes of webhook endpoints and their deliveries (``/webhooks/…``)."""

from __future__ import annotations

from typing import Any

from uai.webhooks.models import Delivery, Endpoint, EndpointDelivery


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def endpoint_data(endpoint: Endpoint, *, with_secret: bool = False) -> dict[str, Any]:
    """An endpoint; its secret only when asked (the answers that make or rotate it)."""
    data: dict[str, Any] = {
        "id": str(endpoint.pk),
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "agents": endpoint.agents,
        "enabled": endpoint.enabled,
        "previous_secret_expires_at": _iso(
            endpoint.previous_secret_expires_at if endpoint.previous_secret else None
        ),
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
    }
    if with_secret:
        data["secret"] = endpoint.secret
    return data


def attempt_data(attempt: Delivery) -> dict[str, Any]:
    """One POST of a delivery."""
    return {
        "attempt": attempt.attempt,
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "error": attempt.error or None,
        "response": attempt.response,
        "duration_ms": attempt.duration_ms,
        "created_at": _iso(attempt.created_at),
    }


def delivery_data(delivery: EndpointDelivery) -> dict[str, Any]:
    """A delivery (its attempts prefetched, or read)."""
    return {
        "id": str(delivery.pk),
        "endpoint_id": str(delivery.endpoint_id),
        "event_type": delivery.event_type,
        "run_id": str(delivery.run_id) if delivery.run_id else None,
        "status": delivery.status,
        "error": delivery.error or None,
        "payload": delivery.payload,
        "attempts": [attempt_data(a) for a in delivery.attempts.all()],
        "created_at": _iso(delivery.created_at),
        "updated_at": _iso(delivery.updated_at),
    }
