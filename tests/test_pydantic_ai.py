"""The Pydantic AI adapter against real Pydantic AI with its FunctionModel."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from httpx_sse import connect_sse

from tests.conftest import cancel_run, register_agent, wait_run


def register(name: str, target: str) -> None:
    register_agent(name, "pydantic_ai", target, streams=True)


def test_pydantic_ai__tool_calls_are_action_steps(alice: httpx.Client) -> None:
    register("pai", "tests.pai:weather_agent")
    session = alice.post("/chat/", json={"agent": "pai"}).json()["session_id"]
    turn = alice.post(f"/chat/{session}", json={"text": "weather in Paris?"}).json()
    assert turn["status"] == "succeeded", turn
    assert [(m["step_type"], m["content"]) for m in turn["messages"][1:]] == [
        ("ActionStep", 'Calling tool get_weather({"city":"Paris"})'),
        ("ActionStep", "Observation from get_weather: sunny in Paris"),
        ("FinalAnswerStep", "It is sunny in Paris."),
    ]
    # The history reaches the model on the next turn.
    again = alice.post(f"/chat/{session}", json={"text": "hello"}).json()
    assert again["messages"][-1]["content"] == "1 earlier, you said: hello"


def test_pydantic_ai__text_streams(alice: httpx.Client) -> None:
    register("pai", "tests.pai:weather_agent")
    with connect_sse(alice, "POST", "/chat/stream", json={"message": "hi", "agent": "pai"}) as source:
        chunks = [json.loads(e.data) for e in source.iter_sse()]
    assert "".join(c["content"] for c in chunks) == "0 earlier, you said: hi"
    assert chunks[0]["is_final"] is False


def test_pydantic_ai__cancel(alice: httpx.Client) -> None:
    register("dots", "tests.pai:slow_agent")
    task = alice.post("/run/", json={"agent": "dots", "input": "go"}).json()["task_id"]
    wait_run(alice, task, "running")
    time.sleep(0.3)
    cancel_run(alice, task)


@pytest.mark.django_db
def test_pydantic_ai__not_an_agent() -> None:
    from uai.agents.models import Agent
    from uai.agents.registry import AgentConfigError, build_adapter

    with pytest.raises(AgentConfigError, match="not a Pydantic AI agent"):
        build_adapter(Agent(name="p", adapter="pydantic_ai", target="tests.agents:__doc__"))
