"""The OpenAI Agents SDK adapter against the real SDK with its own ScriptedModel."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from httpx_sse import connect_sse

from tests.conftest import cancel_run, register_agent, wait_run


def register(name: str, target: str) -> None:
    register_agent(name, "openai_agents", target, streams=True)


def test_openai_agents__tool_calls_are_action_steps(alice: httpx.Client) -> None:
    register("sdk", "tests.oai_agents:weather_agent")
    session = alice.post("/chat/", json={"agent": "sdk"}).json()["session_id"]
    turn = alice.post(f"/chat/{session}", json={"text": "weather in Paris?"}).json()
    assert turn["status"] == "succeeded", turn
    assert [(m["step_type"], m["content"]) for m in turn["messages"][1:]] == [
        ("ActionStep", 'Calling tool get_weather({"city":"Paris"})'),
        ("ActionStep", "Observation from get_weather: sunny in Paris"),
        ("FinalAnswerStep", "It is sunny in Paris."),
    ]
    # The chat's earlier messages are the next run's input items.
    again = alice.post(f"/chat/{session}", json={"text": "hello"}).json()
    assert again["messages"][-1]["content"] == "1 earlier, you said: hello"
    stats = alice.get(f"/api/chat/playground/{session}/chatData").json()["stats"]
    assert [s["data"]["requests"] for s in stats if s["name"] == "run"] == [2, 1]


def test_openai_agents__text_streams(alice: httpx.Client) -> None:
    register("sdk", "tests.oai_agents:weather_agent")
    with connect_sse(alice, "POST", "/chat/stream", json={"message": "hi", "agent": "sdk"}) as source:
        chunks = [json.loads(e.data) for e in source.iter_sse()]
    assert "".join(c["content"] for c in chunks) == "0 earlier, you said: hi"
    assert chunks[0]["is_final"] is False


@pytest.mark.parametrize(("answer", "output"), [("yes", "Result: deleted a.txt"), ("no", None)])
def test_openai_agents__tool_approval_asks_the_user(alice: httpx.Client, answer: str, output: str) -> None:
    register("careful", "tests.oai_agents:careful_agent")
    task = alice.post("/run/", json={"agent": "careful", "input": "a.txt"}).json()["task_id"]
    asked = wait_run(alice, task, "input_required")
    assert asked["input_prompt"] == 'Allow delete_file({"path":"a.txt"})? (yes/no)'
    alice.post(f"/run/{task}/input", json={"text": answer})
    done = wait_run(alice, task, "succeeded")
    if output:
        assert done["output"] == output
    else:
        assert done["output"].startswith("Result: ") and "deleted" not in done["output"]


def test_openai_agents__cancel(alice: httpx.Client) -> None:
    register("crawler", "tests.oai_agents:slow_agent")
    task = alice.post("/run/", json={"agent": "crawler", "input": "go"}).json()["task_id"]
    wait_run(alice, task, "running")
    time.sleep(0.3)
    cancel_run(alice, task)


@pytest.mark.django_db
def test_openai_agents__not_an_agent() -> None:
    from uai.agents.models import Agent
    from uai.agents.registry import AgentConfigError, build_adapter

    with pytest.raises(AgentConfigError, match="not an OpenAI Agents SDK agent"):
        build_adapter(Agent(name="o", adapter="openai_agents", target="tests.agents:__doc__"))
