"""The LangGraph adapter against real LangGraph with LangChain's scripted chat model."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets
from httpx_sse import connect_sse

from tests.conftest import cancel_run, register_agent, token_of, wait_for, wait_run, ws_url


def register(name: str, target: str) -> None:
    register_agent(name, "langgraph", target, streams=True)


def test_langgraph__steps_over_websocket_and_state_between_turns(live: str, alice: httpx.Client) -> None:
    from uai.chats.models import Chat

    register("graph", "tests.graphs:chat_graph")

    async def talk() -> list[dict]:
        async with websockets.connect(
            ws_url(live, f"/chat/lg-chat?agent=graph&token={token_of(alice)}")
        ) as ws:
            frames = []
            for n in range(2):
                await ws.send(json.dumps({"type": "client", "message": f"turn {n}", "message_id": str(n)}))
                while (frame := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] != "message_end":
                    frames.append(frame)
            return frames

    frames = asyncio.run(talk())
    steps = [(f["step_type"], f["message"]) for f in frames]
    assert steps == [
        ("PlanningStep", "plan for turn 1"),
        ("ActionStep", "hello there friend"),
        ("FinalAnswerStep", "hello there friend"),
        ("PlanningStep", "plan for turn 2"),  # the graph saw the first turn: state survived
        ("ActionStep", "hello there friend"),
        ("FinalAnswerStep", "hello there friend"),
    ]
    saved = Chat.objects.get(pk="lg-chat").state["langgraph"]["messages"]["__messages__"]
    assert [m["type"] for m in saved] == ["human", "ai", "ai", "human", "ai", "ai"]


def test_langgraph__token_chunks_are_deltas(alice: httpx.Client) -> None:
    register("graph", "tests.graphs:chat_graph")
    with connect_sse(alice, "POST", "/chat/stream", json={"message": "hi", "agent": "graph"}) as source:
        chunks = [json.loads(e.data) for e in source.iter_sse()]
    # The tokens came as deltas (coalesced by UAI), before the final chunk, which adds nothing.
    assert chunks[0] == {"content": "hello there friend", "is_final": False, "metrics": None}
    assert chunks[-1]["is_final"] is True
    assert chunks[-1]["content"] == ""


def test_langgraph__interrupt_is_input_required(alice: httpx.Client) -> None:
    register("asker", "tests.graphs:asking_graph")
    task = alice.post("/run/", json={"agent": "asker", "input": "hello"}).json()["task_id"]
    assert wait_run(alice, task, "input_required")["input_prompt"] == "Your name?"
    alice.post(f"/run/{task}/input", json={"text": "Ada"})
    assert wait_run(alice, task, "succeeded")["output"] == "Hi Ada"


def test_langgraph__a_static_breakpoint_waits_for_the_user_then_goes_on(alice: httpx.Client) -> None:
    """A graph compiled with interrupt_before: its empty interrupt failed the run (IndexError)."""
    register("approver", "tests.graphs:breakpoint_graph")
    task = alice.post("/run/", json={"agent": "approver", "input": "hello"}).json()["task_id"]
    waiting = wait_run(alice, task, "input_required")
    assert waiting["input_prompt"] == "Paused before act. Answer to go on."
    alice.post(f"/run/{task}/input", json={"text": "ok"})
    assert wait_run(alice, task, "succeeded", "failed")["output"] == "acted"


def test_langgraph__parallel_interrupts_are_each_asked(alice: httpx.Client) -> None:
    """Two nodes interrupting at once: only the first was asked, and resuming failed ("you must
    specify the interrupt id")."""
    from uai.runs.models import Event

    register("two-asks", "tests.graphs:parallel_asking_graph")
    task = alice.post("/run/", json={"agent": "two-asks", "input": "hello"}).json()["task_id"]
    answers = {"Your name?": "Ada", "Your city?": "Paris"}
    asked = []
    for _ in answers:
        prompt = wait_run(alice, task, "input_required")["input_prompt"]
        asked.append(prompt)
        assert alice.post(f"/run/{task}/input", json={"text": answers[prompt]}).status_code == 200
        wait_for(lambda p=prompt: alice.get(f"/run/{task}").json()["input_prompt"] != p)
    assert sorted(asked) == sorted(answers)
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["status"] == "succeeded", done
    steps = Event.objects.filter(run_id=task, type="step").values_list("data", flat=True)
    assert {"Hi Ada", "City Paris"} <= {step["content"] for step in steps}


def test_langgraph__cancel_stops_the_graph(alice: httpx.Client) -> None:
    register("crawler", "tests.graphs:slow_graph")
    task = alice.post("/run/", json={"agent": "crawler", "input": "go"}).json()["task_id"]
    wait_run(alice, task, "running")
    time.sleep(0.3)
    cancel_run(alice, task)


@pytest.mark.django_db
def test_langgraph__not_a_graph() -> None:
    from uai.agents.models import Agent
    from uai.agents.registry import AgentConfigError, build_adapter

    with pytest.raises(AgentConfigError, match="not a compiled LangGraph graph"):
        build_adapter(Agent(name="g", adapter="langgraph", target="tests.agents:__doc__"))
