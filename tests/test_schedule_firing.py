"""Firing due schedules in one tick, in the database alone (no server: the rows stay in this
test's transaction, out of every worker's sight)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest


@pytest.mark.django_db
def test_fire_due__a_fault_of_one_schedules_run_is_recorded_and_the_next_still_fire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from uai.agents.models import Agent
    from uai.runs import services as run_services
    from uai.schedules import services
    from uai.schedules.models import Firing, Schedule

    owner = get_user_model().objects.create_user(f"fire-{uuid.uuid4().hex[:6]}")
    agent = Agent.objects.get(name="echo")
    now = timezone.now()
    first, second = (
        Schedule.objects.create(
            owner=owner, agent=agent, input={"text": text}, cron="0 * * * *", next_fire_at=now - ago
        )
        for text, ago in (("faulty", datetime.timedelta(minutes=2)), ("fine", datetime.timedelta(minutes=1)))
    )
    real_create = run_services.run_create

    def run_create(**kwargs: Any) -> Any:
        if kwargs["schedule_id"] == first.pk:  # the earlier due: fired first
            raise RuntimeError("the queue said no")
        return real_create(**kwargs)

    monkeypatch.setattr(run_services, "run_create", run_create)

    assert services.schedule_fire_due(now=now) == 2

    faulty, fine = Firing.objects.get(schedule=first), Firing.objects.get(schedule=second)
    assert faulty.run is None and "could not be created" in faulty.error
    assert "the queue said no" not in faulty.error  # (in the log only)
    assert fine.run is not None and fine.error == ""
    first.refresh_from_db()
    assert first.last_error == faulty.error and first.next_fire_at is not None and first.next_fire_at > now
