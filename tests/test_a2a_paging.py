"""A2A ListTasks' pages: a key over (updated_at, id), not an offset — a task updated between two
pages is neither repeated nor makes another skipped; a page token UAI did not give is
InvalidParams, never a 500."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest

from tests.test_query_counts import Client, add_chats

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_and_runs(django_user_model: Any) -> tuple[Client, list[Any]]:
    from uai.agents.models import Agent
    from uai.runs.models import Run

    owner = django_user_model.objects.create_user("a2a-pager")
    agent = Agent.objects.create(name="page-echo", target="uai.agents.builtin.echo:echo")
    add_chats(owner, agent, 2)  # four turns
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    runs = list(Run.objects.filter(owner=owner, chat__isnull=False).order_by("id"))
    for number, run in enumerate(runs):  # distinct update times: the newest last
        Run.objects.filter(pk=run.pk).update(updated_at=start + datetime.timedelta(minutes=number))
    return Client(owner), list(reversed(runs))  # newest first, as listed


def page(client: Client, token: str = "") -> dict[str, Any]:
    response = client.get(f"/a2a/page-echo/tasks?pageSize=2&pageToken={token}")
    assert response.status_code == 200, response.content
    result: dict[str, Any] = json.loads(response.content)
    return result


def test_a2a_paging__a_task_updated_between_pages_is_not_repeated(
    client_and_runs: tuple[Client, list[Any]],
) -> None:
    from uai.runs.models import Run

    client, runs = client_and_runs
    first = page(client)
    assert [t["id"] for t in first["tasks"]] == [str(r.id) for r in runs[:2]]
    assert first["totalSize"] == 4 and first["nextPageToken"]
    # the oldest task (not listed yet) is updated: it moves to the head; with an offset, the
    # second page started one later than it should and repeated the first page's last task
    Run.objects.filter(pk=runs[3].pk).update(updated_at=datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC))
    second = page(client, first["nextPageToken"])
    assert [t["id"] for t in second["tasks"]] == [str(runs[2].id)]
    assert second["nextPageToken"] == ""


def test_a2a_paging__pages_cover_every_task_once(client_and_runs: tuple[Client, list[Any]]) -> None:
    client, runs = client_and_runs
    seen: list[str] = []
    token = ""
    while True:
        found = page(client, token)
        seen += [t["id"] for t in found["tasks"]]
        token = found["nextPageToken"]
        if not token:
            break
    assert seen == [str(r.id) for r in runs]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        b64("o:99999999999999999999"),  # the old offsets' form, out of any range
        b64("o:2"),
        b64("k:2026-01-01T00:00:00+00:00|not-a-uuid"),
        b64("k:2026-01-01T00:00:00|12345678-1234-5678-1234-567812345678"),  # no time zone
        b64("k:yesterday|12345678-1234-5678-1234-567812345678"),
        b64("k:" + "9" * 300),
        "not base64!",
        "%FF",
    ],
)
def test_a2a_paging__a_token_uai_did_not_give_is_invalid_params(
    client_and_runs: tuple[Client, list[Any]], token: str
) -> None:
    client, _ = client_and_runs
    response = client.get(f"/a2a/page-echo/tasks?pageToken={token}")
    assert response.status_code == 400, response.content
    assert json.loads(response.content)["error"]["details"][0]["reason"] == "INVALID_PARAMS"
