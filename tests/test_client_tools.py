"""Front-end tools (``Run.request["tools"]``): a call of one waits in ``input_required`` with the
call on its event, and the front end's result, sent as the answer, goes back to the agent — for
plain Python, an OpenAI-compatible model, Pydantic AI and the OpenAI Agents SDK."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.conftest import register_agent, wait_run
from tests.openai_server import ScriptedOpenAI

LOCATION = {
    "name": "get_location",
    "description": "Where the user is.",
    "parameters": {
        "type": "object",
        "properties": {"precision": {"type": "string"}},
        "required": ["precision"],
    },
}
WEATHER = {
    "name": "get_weather",
    "description": "The weather the user sees out of the window.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def model() -> Any:
    with ScriptedOpenAI() as server:
        yield server


def send(client: httpx.Client, agent: str, text: str, tools: list[dict[str, Any]] | None) -> str:
    """A chat turn as a front-end facade starts one: the tools in the run's request."""
    from uai.chats.services import chat_create, chat_send

    chat = chat_create(owner_id=client.user.pk, agent_name=agent)  # type: ignore[attr-defined]
    run, _ = chat_send(chat=chat, text=text, request={"tools": tools} if tools is not None else None)
    return str(run.id)


def run_events(client: httpx.Client, task: str) -> list[dict[str, Any]]:
    """The run's whole stream, as a client reads it once the run is over."""
    with connect_sse(client, "GET", f"/run/{task}/stream", timeout=httpx.Timeout(30)) as source:
        return [json.loads(sse.data) for sse in source.iter_sse()]


def call_tool_and_answer(client: httpx.Client, task: str, result: str) -> tuple[dict[str, Any], dict]:
    """Wait for the run's tool call, answer it with ``result``; the call and the ended run."""
    from uai.runs.models import Event

    asked = wait_run(client, task, "input_required", "failed")
    assert asked["status"] == "input_required", asked
    question = Event.objects.get(run_id=task, type="input_required").data
    answered = client.post(f"/run/{task}/input", json={"text": result})
    assert answered.status_code == 200, answered.text
    return question, wait_run(client, task, "succeeded", "failed")


def assert_call_shown(events: list[dict[str, Any]], call: dict[str, Any], result: str) -> None:
    """The call step, then the question carrying the call, then the answer, then the result step."""
    kinds = [(e["type"], e["data"].get("data", {}).get("call_id")) for e in events]
    asked = kinds.index(("input_required", None))
    shown = [
        e for e in events if e["type"] == "step" and e["data"].get("data", {}).get("call_id") == call["id"]
    ]
    assert [s["data"]["data"].get("client") for s in shown] == [True, True]
    made, observed = shown
    assert events.index(made) < asked < events.index(observed)
    assert made["data"]["data"]["tool"] == call["name"]
    assert made["data"]["data"]["arguments"] == call["arguments"]
    assert made["data"]["content"] == f"Calling tool {call['name']}({call['arguments']})"
    assert observed["data"]["data"]["result"] == result
    assert [e["data"]["text"] for e in events if e["type"] == "input"] == [result]


@pytest.mark.parametrize("target", ["locates", "locates_sync"])
def test_client_tools__a_python_agent_calls_one_and_gets_its_result(alice: httpx.Client, target: str) -> None:
    register_agent("locator", "python", f"tests.agents_client_tools:{target}")
    task = send(alice, "locator", "where am I?", [LOCATION])
    question, done = call_tool_and_answer(alice, task, "Lyon")
    assert done["status"] == "succeeded", done.get("error")
    assert done["output"].startswith("You are in Lyon")
    call = question["tool_call"]
    assert call["name"] == "get_location" and json.loads(call["arguments"]) == {"precision": "city"}
    assert call["id"].startswith("call_") and len(call["id"]) == 29
    # The chat reads as a question and its answer: the prompt is the question message's text.
    assert (
        question["prompt"]
        == question["message"]["content"]
        == f"Run the tool get_location with {call['arguments']}"
    )
    assert_call_shown(run_events(alice, task), call, "Lyon")


def test_client_tools__the_agent_sees_the_offered_tools(alice: httpx.Client) -> None:
    register_agent("locator", "python", "tests.agents_client_tools:locates")
    task = send(alice, "locator", "where am I?", [LOCATION, WEATHER])
    _, done = call_tool_and_answer(alice, task, "Lyon")
    assert done["output"] == "You are in Lyon (offered: get_location, get_weather)"


def test_client_tools__an_openai_compatible_model_calls_one(
    alice: httpx.Client, model: ScriptedOpenAI
) -> None:
    register_agent(
        "chatbot",
        "openai_chat",
        streams=True,
        options={"base_url": model.base_url, "model": "scripted", "api_key_env": "UAI_TEST_OPENAI_KEY"},
    )
    task = send(alice, "chatbot", "what is the weather?", [WEATHER])
    question, done = call_tool_and_answer(alice, task, "rainy in Lyon")
    assert done["status"] == "succeeded", done.get("error")
    assert done["output"] == "The weather: rainy in Lyon"
    # The tool was offered as the front end described it; its result went back as the tool message.
    assert model.requests[0]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": WEATHER["description"],
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert model.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "rainy in Lyon",
    }
    call = question["tool_call"]
    assert call == {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert_call_shown(run_events(alice, task), call, "rainy in Lyon")


def test_client_tools__an_openai_compatible_models_own_tool_steps_carry_the_call(
    alice: httpx.Client, model: ScriptedOpenAI
) -> None:
    register_agent(
        "chatbot",
        "openai_chat",
        streams=True,
        options={
            "base_url": model.base_url,
            "model": "scripted",
            "api_key_env": "UAI_TEST_OPENAI_KEY",
            "tools": ["tests.agents:get_weather"],
        },
    )
    # The agent's own tool wins over a front-end tool of its name: no question, run on the server.
    task = send(alice, "chatbot", "what is the weather?", [WEATHER])
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["output"] == "The weather: sunny in Paris"
    assert [t["function"]["name"] for t in model.requests[0]["tools"]] == ["get_weather"]
    steps = [
        e["data"]["data"] for e in run_events(alice, task) if e["type"] == "step" and "data" in e["data"]
    ]
    assert steps == [
        {"tool": "get_weather", "call_id": "call_1", "arguments": '{"city": "Paris"}'},
        {
            "tool": "get_weather",
            "call_id": "call_1",
            "arguments": '{"city": "Paris"}',
            "result": "sunny in Paris",
        },
    ]


def test_client_tools__a_pydantic_ai_agent_calls_one(alice: httpx.Client) -> None:
    register_agent("pai", "pydantic_ai", "tests.agents_client_tools:pai_locator", streams=True)
    task = send(alice, "pai", "where am I?", [LOCATION])
    question, done = call_tool_and_answer(alice, task, "Lyon")
    assert done["status"] == "succeeded", done.get("error")
    assert done["output"] == "You are in Lyon"
    call = question["tool_call"]
    assert call["id"] == "pai_1" and call["name"] == "get_location"
    assert json.loads(call["arguments"]) == {"precision": "city"}
    assert_call_shown(run_events(alice, task), call, "Lyon")


def test_client_tools__an_openai_agents_sdk_agent_calls_one(alice: httpx.Client) -> None:
    register_agent("sdk", "openai_agents", "tests.agents_client_tools:sdk_locator", streams=True)
    task = send(alice, "sdk", "where am I?", [LOCATION])
    question, done = call_tool_and_answer(alice, task, "Lyon")
    assert done["status"] == "succeeded", done.get("error")
    assert done["output"] == "You are in Lyon"
    call = question["tool_call"]
    assert call == {"id": "sdk_1", "name": "get_location", "arguments": '{"precision":"city"}'}
    assert_call_shown(run_events(alice, task), call, "Lyon")


def test_client_tools__a_sessionless_call_cannot_run_one(alice: httpx.Client) -> None:
    register_agent("locator", "python", "tests.agents_client_tools:locates")
    response = alice.post("/agent/run", json={"task": "where am I?", "agent": "locator"})
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert "InputNotSupported" in detail and "get_location" in detail and "sessionless" in detail


def test_client_tools__a_question_carries_no_tool_call(alice: httpx.Client) -> None:
    from uai.runs.models import Event

    register_agent("asker", "python", "tests.agents_client_tools:asks")
    task = send(alice, "asker", "hi", [LOCATION])
    wait_run(alice, task, "input_required")
    question = Event.objects.get(run_id=task, type="input_required").data
    assert set(question) == {"prompt", "message"} and question["prompt"] == "Who is asking?"
    alice.post(f"/run/{task}/input", json={"text": "Ann"})
    assert wait_run(alice, task, "succeeded")["output"] == "Hello Ann"
    assert not [e for e in run_events(alice, task) if e["type"] == "step" and "data" in e["data"]]
