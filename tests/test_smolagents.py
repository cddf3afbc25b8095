"""The smolagents adapter against real smolagents with a scripted Model subclass."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.conftest import cancel_run, register_agent, token_of, wait_for, wait_run, ws_url


def register(name: str, target: str) -> None:
    register_agent(name, "smolagents", target)


def test_smolagents__code_agent_steps_over_websocket(live: str, alice: httpx.Client) -> None:
    register("coder", "tests.smol:code_agent")

    async def talk() -> list[dict]:
        async with websockets.connect(ws_url(live, f"/chat/smol?agent=coder&token={token_of(alice)}")) as ws:
            await ws.send(json.dumps({"type": "client", "message": "what is 2+3*4", "message_id": "m"}))
            frames = []
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "message_end":
                frames.append(frame)
            return frames

    frames = asyncio.run(talk())
    assert [f["step_type"] for f in frames] == ["PlanningStep", "ActionStep", "FinalAnswerStep"]
    assert "Plan: compute it with Python." in frames[0]["message"]
    assert "result = 2+3*4" in frames[1]["message"]
    assert "14" in frames[1]["message"]
    assert frames[2]["message"] == "14"


def test_smolagents__tool_calling_agent(alice: httpx.Client) -> None:
    register("caller", "tests.smol:tool_agent")
    task = alice.post("/run/", json={"agent": "caller", "input": "weather in Paris?"}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed", timeout=30)
    assert done["status"] == "succeeded", done
    assert done["output"] == "It is sunny in Paris."


def test_smolagents__cancel_stops_at_the_next_step(alice: httpx.Client) -> None:
    register("ticker", "tests.smol:slow_agent")
    task = alice.post("/run/", json={"agent": "ticker", "input": "wait"}).json()["task_id"]
    wait_for(lambda: alice.get(f"/run/{task}").json()["current_step"] == "ActionStep", timeout=30)
    cancel_run(alice, task)
    from uai.runs.models import Event

    count = Event.objects.filter(run_id=task).count()
    time.sleep(0.8)
    assert Event.objects.filter(run_id=task).count() == count  # the agent's thread stopped


@pytest.mark.django_db
def test_smolagents__not_an_agent() -> None:
    from uai.agents.models import Agent
    from uai.agents.registry import AgentConfigError, build_adapter

    with pytest.raises(AgentConfigError, match="not a smolagents agent"):
        build_adapter(Agent(name="s", adapter="smolagents", target="tests.agents:__doc__"))
