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
    client.get(f"/a2a/count-echo/tasks{query}")  # once before: the user's own limits, then cached
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


def test_a2a_queries__a_task_snapshot_reads_a_stretch_of_deltas_as_one(
    owner_and_agent: tuple[Any, Any],
) -> None:
    """``task_stories`` reads far fewer rows than every event, and the task reads the same."""
    from tests.test_a2a_events import event, status, step
    from uai.chats.models import Message
    from uai.chats.selectors import run_messages, run_messages_of
    from uai.dialects import a2a_events
    from uai.runs.models import Event, Run
    from uai.runs.selectors import run_events, task_stories

    owner, agent = owner_and_agent
    [chat] = add_chats(owner, agent, 1)
    run = Run.objects.filter(chat=chat).order_by("created_at").first()
    assert run is not None
    story = [status(1, "running")]
    story += [event(2 + i, "delta", text=f"a{i} ") for i in range(40)]
    story += [step(42, "ActionStep", "tool"), event(43, "log", level="info", message="x", source="agent")]
    story += [event(44 + i, "delta", text=f"b{i} ") for i in range(40)]
    story += [
        event(84, "input_required", prompt="Which?"),
        status(85, "input_required", input_prompt="Which?"),
    ]
    story += [event(86, "input", text="this"), status(87, "running")]
    story += [event(88 + i, "delta", text=f"c{i} ") for i in range(40)]
    story += [step(128, "FinalAnswerStep", "done."), status(129, "succeeded", output="done.")]
    for e in story:
        Event.objects.create(run=run, chat=chat, seq=100 + e["seq"], type=e["type"], data=e["data"])
    stored = run_events(run_id=run.id)
    read = task_stories(run_ids=[run.id])[str(run.id)]
    assert len(read) < 15 < len(stored)
    Run.objects.filter(pk=run.pk).update(status="succeeded")
    run.refresh_from_db()

    def task(events: list[Any]) -> dict[str, Any]:
        return a2a_events.task_of(run, events=events, messages=None, history_length=None, base_url="")

    assert task(read) == task(stored)
    assert [a["artifactId"] for a in task(read)["artifacts"]] == ["answer", "answer-2"]
    # the newest N messages, sliced in SQL, per run too
    for number in range(3, 7):
        Message.objects.create(chat=chat, run=run, seq=number, role="agent", content=f"m{number}")
    newest = [m.content for m in run_messages(run_id=run.id, newest=2)]
    assert newest == ["m5", "m6"]
    assert [m.content for m in run_messages_of(run_ids=[run.id], newest=2)[str(run.id)]] == newest
