"""UAI behind UAI: an agent of adapter ``a2a`` whose card is UAI's own A2A card of another agent
on the same live server, over both bindings. The outer run drives the inner one through the
A2A route: the steps keep their types, the answer arrives, a question of the inner agent is
answered through the outer run, and cancelling the outer run cancels the inner one.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.agents_a2a import REPORT
from tests.conftest import cancel_run, collect, register, register_agent, token_of, wait_for, wait_run

# The live server's environment holds OPENAI_API_KEY=sk-test (tests/conftest.py): the token of
# the service user this test makes, so the outer entry's token_env authenticates as that user.
SERVER_TOKEN_ENV = "OPENAI_API_KEY"
SERVER_TOKEN = "sk-test"
CANCEL_SECONDS = 5  # the outer run's cancel reaches the inner run's status within this


@pytest.fixture
def service(live: str) -> str:
    """A user whose token is the one in the server's environment; its username."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create(username="a2a-service")
    Token.objects.create(user=user, key=SERVER_TOKEN)
    return str(user.username)


def front(live: str, name: str, inner: str, binding: str, auth: dict[str, Any]) -> None:
    """An outer agent ``name``: adapter a2a, the card of UAI's own agent ``inner``."""
    card = f"{live}/a2a/{inner}/.well-known/agent-card.json"
    options = {"url": card, "binding": binding, **auth}
    register_agent(name, "a2a", options=options, streams=True, asks_input=True, accepts_files=True)


def inner_runs(agent: str) -> list[Any]:
    from uai.runs.models import Run

    return list(Run.objects.filter(agent_id=agent).order_by("created_at"))


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_a2a_loop__a_uai_agent_fronts_another_through_uais_own_a2a_route(
    live: str, alice: httpx.Client, service: str, binding: str
) -> None:
    register("inner-works", "tests.agents_a2a:works")
    register("inner-asks", "tests.agents_a2a:asks", asks_input=True)
    register("inner-slow", "tests.agents_a2a:slow")
    # JSON-RPC authenticates with the token from the server's environment (the service user's),
    # HTTP+JSON with a header the entry holds (alice's own token).
    if binding == "JSONRPC":
        auth: dict[str, Any] = {"token_env": SERVER_TOKEN_ENV}
        owner = service
    else:
        auth = {"headers": {"Authorization": f"Bearer {token_of(alice)}"}}
        owner = "alice"
    front(live, "outer-works", "inner-works", binding, auth)
    front(live, "outer-asks", "inner-asks", binding, auth)
    front(live, "outer-slow", "inner-slow", binding, auth)

    # Steps keep their types, the answer arrives, streamed.
    task = alice.post("/run/", json={"agent": "outer-works", "input": "the garden"}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["output"] == "Here is the report on the garden.", done
    events = collect(alice, "GET", f"/run/{task}/stream", until=lambda e: False)
    ran = [json.loads(e.data)["data"] for e in events if e.event == "step"]
    assert [(s["step_type"], s["content"]) for s in ran] == [
        ("PlanningStep", "plan: look, then report"),
        ("ActionStep", "looked around"),
        ("FinalAnswerStep", "Here is the report on the garden."),
    ]
    deltas = [json.loads(e.data)["data"]["text"] for e in events if e.event == "delta"]
    assert "".join(deltas).startswith("Here is the report ")  # streamed before the answer
    # The inner run's file arrives as the URL UAI serves it at (for the user the entry signs in as).
    made = {a["name"]: a for a in alice.get(f"/run/{task}/artifacts").json()}
    link = alice.get(f"/run/{task}/artifacts/{made['report.txt']['id']}/download").json()
    assert link["filename"] == "report.txt" and link["url"].startswith(live + "/"), link
    token = SERVER_TOKEN if binding == "JSONRPC" else token_of(alice)
    fetched = httpx.get(link["url"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert fetched.status_code == 200 and fetched.content == REPORT
    (inner,) = inner_runs("inner-works")
    assert inner.status == "succeeded" and inner.owner.username == owner

    # The inner agent's question is the outer run's; the answer resumes the same inner run.
    task = alice.post("/run/", json={"agent": "outer-asks", "input": "the fence"}).json()["task_id"]
    assert wait_run(alice, task, "input_required")["input_prompt"] == "Which colour?"
    (asking,) = inner_runs("inner-asks")
    assert wait_for(lambda: inner_runs("inner-asks")[0].status == "input_required")
    assert alice.post(f"/run/{task}/input", json={"text": "green"}).status_code == 200
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["output"] == "Painted it green (asked: the fence)", done
    (answered,) = inner_runs("inner-asks")  # one inner run, answered: no second one
    assert answered.pk == asking.pk and answered.status == "succeeded"

    # Cancelling the outer run cancels the inner one.
    task = alice.post("/run/", json={"agent": "outer-slow", "input": "go"}).json()["task_id"]
    wait_run(alice, task, "running")
    slow = wait_for(lambda: [r for r in inner_runs("inner-slow") if r.status == "running"])[0]
    started = time.monotonic()
    cancel_run(alice, task)
    wait_for(lambda: inner_runs("inner-slow")[0].status == "cancelled", timeout=CANCEL_SECONDS)
    assert time.monotonic() - started < CANCEL_SECONDS
    assert inner_runs("inner-slow")[0].pk == slow.pk
    assert wait_run(alice, task, "cancelled")["status"] == "cancelled"
