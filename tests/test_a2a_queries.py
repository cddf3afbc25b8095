"""A2A's ListTasks runs as many queries for 24 tasks as for 4, with their history and artifacts,
and none from the dialect's own modules (as tests/test_query_counts.py checks the other lists)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_query_counts import Client, _in_dialects, add_chats, recorded

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_and_agent(django_user_model: Any) -> tuple[Any, Any]:
    from uai.agents.models import Agent

    owner = django_user_model.objects.create_user("a2a-counter")
    return owner, Agent.objects.create(name="count-echo", target="uai.agents.builtin.echo:echo")


@pytest.mark.parametrize("query", ["", "?includeArtifacts=true&historyLength=5&pageSize=100"])
def test_a2a_queries__list_tasks_runs_as_many_queries_for_24_tasks_as_for_4(
    owner_and_agent: tuple[Any, Any], query: str
) -> None:
    owner, agent = owner_and_agent
    client = Client(owner)
    counts = {}
    strays: list[str] = []
    for added, chats in ((2, 2), (10, 12)):
        add_chats(owner, agent, added)
        with recorded() as seen:
            response = client.get(f"/a2a/count-echo/tasks{query}")
        assert response.status_code == 200, response.content
        tasks = json.loads(response.content)["tasks"]
        assert len(tasks) == 2 * chats  # the turns, not the chat-less run
        if query:
            assert any(t.get("history") for t in tasks)
        counts[chats] = len(seen)
        strays += _in_dialects(seen)
    assert counts[2] == counts[12], counts
    assert strays == []
