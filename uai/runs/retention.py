"""Retention of the event log: streams replay from it, so it is kept for a while, then pruned.

Messages, logs, artifacts and runs stay; only the numbered ``Event`` rows go. A client resuming
from a number older than what is kept is told so (a ``gap`` event), never silently skipped.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from uai.runs.models import Event


def prune_events(*, older_than_days: float | None = None) -> int:
    """Delete events older than the retention window; return how many."""
    days = settings.UAI_EVENT_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - datetime.timedelta(days=days)
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).delete()
    return deleted
