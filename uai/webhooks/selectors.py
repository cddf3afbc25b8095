"""Reads of webhooks."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from uai.runs.models import Event, Run
from uai.webhooks.models import Delivery, Endpoint, EndpointDelivery, Webhook
from uai_project import errors
from uai_project.api import parse_uuid


def webhook_list(*, run: Any) -> list[Webhook]:
    """The run's webhooks, oldest first."""
    return list(Webhook.objects.filter(run=run).order_by("created_at"))


def webhook_get(*, run: Any, name: str) -> Webhook | None:
    """The run's webhook called ``name``, or None."""
    if not name:
        return None
    return Webhook.objects.filter(run=run, name=name).first()


def webhook_find(*, webhook_id: Any) -> Webhook | None:
    """The webhook of that id (the delivery job's read), None once deleted."""
    return Webhook.objects.filter(pk=webhook_id).select_related("run").first()


def delivery_list(*, webhook: Webhook) -> list[Delivery]:
    """A webhook's delivery attempts, in order."""
    return list(Delivery.objects.filter(webhook=webhook).order_by("id"))


def webhook_run(*, webhook_id: Any) -> Run | None:
    """The run of a webhook (its status now), None once the webhook is gone."""
    return Run.objects.filter(webhooks__id=webhook_id).first()


def run_has_events_after(*, run: Run, seq: int) -> bool:
    """Whether the run has stored events numbered after ``seq``."""
    return Event.objects.filter(run_id=run.id, seq__gt=seq).exists()


def delivery_attempts(*, webhook_id: Any, seq: int, index: int) -> tuple[int, int]:
    """How many times a body was POSTed already (by the jobs before this one): in all, and since
    its last ``failed`` or ``refused`` attempt (the ones its webhook's retries still count)."""
    rows = list(
        Delivery.objects.filter(webhook_id=webhook_id, seq=seq, index=index)
        .order_by("id")
        .values_list("outcome", flat=True)
    )
    ended = [
        i for i, outcome in enumerate(rows) if outcome in (Delivery.Outcome.FAILED, Delivery.Outcome.REFUSED)
    ]
    return len(rows), len(rows) - (ended[-1] + 1 if ended else 0)


def endpoint_list(*, user: Any) -> list[Endpoint]:
    """The user's endpoints, oldest first."""
    return list(Endpoint.objects.filter(owner_id=user.pk).order_by("created_at"))


def endpoint_get(*, user: Any, endpoint_id: str) -> Endpoint:
    """The user's endpoint of that id; 404 when there is none (or it is another user's)."""
    pk = parse_uuid(endpoint_id, "endpoint id")
    endpoint = Endpoint.objects.filter(pk=pk, owner_id=user.pk).first()
    if endpoint is None:
        raise errors.NotFound("No such webhook endpoint.")
    return endpoint


def endpoint_count(*, user_id: Any) -> int:
    return Endpoint.objects.filter(owner_id=user_id).count()


def endpoint_delivery_list(
    *, endpoint: Endpoint, limit: int, status: str | None = None
) -> list[EndpointDelivery]:
    """The endpoint's deliveries, newest first, with their attempts."""
    deliveries = EndpointDelivery.objects.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    return list(
        deliveries.order_by("-created_at", "-id").prefetch_related(
            Prefetch("attempts", queryset=Delivery.objects.order_by("id"))
        )[:limit]
    )


def endpoint_delivery_get(*, endpoint: Endpoint, delivery_id: str) -> EndpointDelivery:
    """One of the endpoint's deliveries with its attempts; 404 when it has none of that id."""
    pk = parse_uuid(delivery_id, "delivery id")
    delivery = (
        EndpointDelivery.objects.filter(pk=pk, endpoint=endpoint)
        .prefetch_related(Prefetch("attempts", queryset=Delivery.objects.order_by("id")))
        .first()
    )
    if delivery is None:
        raise errors.NotFound("No such delivery of this endpoint.")
    return delivery


def endpoint_delivery_find(*, delivery_id: Any) -> EndpointDelivery | None:
    """The delivery of that id with its endpoint (the delivery job's read), None once deleted."""
    return EndpointDelivery.objects.filter(pk=delivery_id).select_related("endpoint").first()
