"""Reads of webhooks."""

from __future__ import annotations

from typing import Any

from uai.runs.models import Event, Run
from uai.webhooks.models import Delivery, Webhook


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
