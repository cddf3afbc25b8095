"""Every chat list holds at most UAI_MAX_CHAT_LIST chats, the newest (in the database alone:
the rows stay in this test's transaction)."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.test import override_settings


@pytest.mark.django_db
@override_settings(UAI_MAX_CHAT_LIST=2)
def test_chat_list__the_newest_up_to_the_setting() -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from uai.agents.models import Agent
    from uai.chats import selectors
    from uai.chats.models import Chat

    owner = get_user_model().objects.create_user(f"list-{uuid.uuid4().hex[:6]}")
    agent = Agent.objects.get(name="echo")
    now = timezone.now()
    made = [Chat.objects.create(owner=owner, agent=agent) for _ in range(3)]
    for chat, age in zip(made, (3, 1, 2), strict=True):  # (created_at is set on insert)
        Chat.objects.filter(pk=chat.pk).update(created_at=now - datetime.timedelta(minutes=age))
    newest_first = [made[1].id, made[2].id]
    assert [c.id for c in selectors.chat_list(user=owner)] == newest_first
    assert [c.id for c in selectors.chat_list(user=owner, previews=True)] == newest_first
