"""List endpoints run the same number of queries for 2 rows as for 12, and every query a request
runs comes from a selector or a service, never from the dialect module serving it.

Requests run in-process (the view the URL resolves to, called with an authenticated request: no
server, no middleware): what is counted is the view's own statements on the test database.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.http import HttpResponse
from django.urls import resolve
from rest_framework.test import APIRequestFactory, force_authenticate

pytestmark = pytest.mark.django_db

UAI = Path(__file__).resolve().parent.parent / "uai"
DIALECTS = UAI / "dialects"


@contextlib.contextmanager
def recorded() -> Iterator[list[tuple[str, Path | None]]]:
    """Each statement run inside, with the innermost UAI module it came from."""
    seen: list[tuple[str, Path | None]] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        ours = [Path(f.filename) for f in traceback.extract_stack() if Path(f.filename).is_relative_to(UAI)]
        seen.append((sql, ours[-1] if ours else None))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def _in_dialects(seen: list[tuple[str, Path | None]]) -> list[str]:
    return [
        f"{where.name}: {sql}" for sql, where in seen if where is not None and where.is_relative_to(DIALECTS)
    ]


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("counter")


class Client:
    """GET requests of one user, answered by the view each path resolves to."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def get(self, path: str) -> HttpResponse:
        return self._send(APIRequestFactory().get(path), path)

    def post(self, path: str, body: Any) -> HttpResponse:
        return self._send(APIRequestFactory().post(path, body, format="json"), path)

    def _send(self, request: Any, path: str) -> HttpResponse:
        force_authenticate(request, self.user)
        match = resolve(path.split("?")[0])
        response = match.func(request, *match.args, **match.kwargs)
        return response.render() if hasattr(response, "render") else response


@pytest.fixture
def client(owner: Any) -> Client:
    return Client(owner)


@pytest.fixture
def agent() -> Any:
    from uai.agents.models import Agent

    return Agent.objects.create(name="count-echo", target="uai.agents.builtin.echo:echo")


def add_chats(owner: Any, agent: Any, count: int) -> list[Any]:
    """``count`` chats, each with two turns (runs), two messages (one with a file) and two log lines."""
    from uai.artifacts.models import Artifact
    from uai.chats.models import Chat, Message
    from uai.runs.models import Log, Run, Stat

    start = Chat.objects.filter(owner=owner).count()
    chats = []
    for i in range(start, start + count):
        chat = Chat.objects.create(id=f"count-{i}", owner=owner, agent=agent, name=f"chat {i}", last_seq=4)
        first = Run.objects.create(
            owner=owner, agent=agent, chat=chat, kind=Run.Kind.TURN, status="succeeded"
        )
        Run.objects.create(owner=owner, agent=agent, chat=chat, kind=Run.Kind.TURN, status="running")
        Run.objects.create(owner=owner, agent=agent, input={"n": i})  # a task: in /run/ only
        asked = Message.objects.create(chat=chat, run=first, seq=1, role="user", content="hi")
        Message.objects.create(
            chat=chat, run=first, seq=2, role="agent", content="hello", step_type="FinalAnswerStep"
        )
        Artifact.objects.create(owner=owner, chat=chat, message=asked, name="a.txt", data={"a": 1})
        Log.objects.create(chat=chat, run=first, seq=3, message="one")
        Log.objects.create(chat=chat, run=first, seq=4, message="two")
        Stat.objects.create(chat=chat, run=first, seq=4, name="run", data={"tokens": 2})
        chats.append(chat)
    return chats


LISTS = ["/api/workflows/", "/chats/", "/run/", "/chat/"]


@pytest.mark.parametrize("path", LISTS)
def test_query_counts__a_list_runs_as_many_queries_for_12_rows_as_for_2(
    path: str, client: Client, owner: Any, agent: Any
) -> None:
    counts = {}
    strays: list[str] = []
    client.get(path)  # once before: the user's own limits are read, then cached (uai.limits)
    for added, rows in ((2, 2), (10, 12)):
        add_chats(owner, agent, added)
        with recorded() as seen:
            response = client.get(path)
        assert response.status_code == 200, response.content
        assert len(json.loads(response.content)) == (rows * 3 if path == "/run/" else rows)
        counts[rows] = len(seen)
        strays += _in_dialects(seen)
    assert counts[2] == counts[12], counts
    assert strays == []


def test_query_counts__langgraph_s_thread_search_runs_as_many_queries_for_12_threads_as_for_2(
    client: Client, owner: Any, agent: Any
) -> None:
    counts = {}
    strays: list[str] = []
    client.post("/langgraph/threads/search", {})  # once before: the user's limits, then cached
    for added, rows in ((2, 2), (10, 12)):
        add_chats(owner, agent, added)
        with recorded() as seen:
            response = client.post("/langgraph/threads/search", {"limit": 100})
        assert response.status_code == 200, response.content
        found = json.loads(response.content)
        assert len(found) == rows and found[0]["values"]["messages"][0]["content"] == "hi"
        counts[rows] = len(seen)
        strays += _in_dialects(seen)
    assert counts[2] == counts[12], counts
    assert strays == []


def _routes(chat: Any, run: Any, log_id: int, message_id: Any) -> list[str]:
    """GET routes of every dialect that reads a chat's or a run's records."""
    return [
        f"/chat/{chat.id}",
        f"/chat/{chat.id}/messages?limit=1",
        f"/chat/{chat.id}/artifacts",
        f"/run/{run.id}",
        f"/run/{run.id}/logs",
        f"/history/{chat.id}",
        f"/api/workflows/{chat.id}",
        f"/api/workflows/{chat.id}/status",
        f"/api/workflows/{chat.id}/logs?logId={log_id}",
        f"/api/workflows/{chat.id}/messages?messageId={message_id}",
        f"/api/chat/playground/{chat.id}/chatData",
        f"/chats/{chat.id}",
        "/agents",
        f"/langgraph/threads/{chat.id}",
        f"/langgraph/threads/{chat.id}/state",
        f"/langgraph/threads/{chat.id}/runs",
        f"/langgraph/threads/{chat.id}/runs/{message_id}",
        "/langgraph/assistants/count-echo",
    ]


def test_query_counts__every_read_of_a_dialect_is_a_selector_s(
    client: Client, owner: Any, agent: Any
) -> None:
    from uai.chats.models import Message
    from uai.runs.models import Log, Run

    (chat,) = add_chats(owner, agent, 1)
    run = Run.objects.filter(chat=chat).order_by("created_at")[0]
    log_id = Log.objects.filter(chat=chat).order_by("seq")[0].id
    message_id = Message.objects.filter(chat=chat).order_by("seq")[0].id
    for path in _routes(chat, run, log_id, message_id):
        with recorded() as seen:
            response = client.get(path)
        assert response.status_code == 200, (path, response.content)
        assert seen, path
        assert _in_dialects(seen) == [], path


def test_query_counts__the_origin_check_sees_a_query_of_a_dialect_module(owner: Any, agent: Any) -> None:
    """What the source check cannot always tell (a relation read lazily, as ``run.chat`` was) is
    caught by where its query came from."""
    from uai.chats.models import Chat

    (chat,) = add_chats(owner, agent, 1)
    lazy = compile("found = [m.content for m in chat.messages.all()]", str(DIALECTS / "history.py"), "exec")
    with recorded() as seen:
        exec(lazy, {"chat": Chat.objects.get(pk=chat.id)})
    assert len(_in_dialects(seen)) == 1
