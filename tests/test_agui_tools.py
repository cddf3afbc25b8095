"""Front-end tools over AG-UI: the tools a run offers reach the agent; its call of one ends the run
after the call's ``TOOL_CALL_*`` events, and the result the front end sends in the next run's
messages goes back to the same UAI run — with httpx (every event checked against the protocol's
models) and with AG-UI's own client."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from tests.conftest import register, register_agent, wait_run
from tests.openai_server import ScriptedOpenAI
from tests.test_agui import run, run_input, text_of, types, user
from tests.test_agui_node import node_project, run_agent

__all__ = ["node_project"]  # (the fixture, used by name)

PICK_COLOUR = {
    "name": "pick_colour",
    "description": "Ask the user to pick a colour in the page.",
    "parameters": {
        "type": "object",
        "properties": {"options": {"type": "array", "items": {"type": "string"}}},
    },
}


def test_agui__a_front_end_tool_call_ends_the_run_and_its_result_goes_back_to_the_agent(
    alice: httpx.Client,
) -> None:
    register("agui-painter", "tests.agents_agui:painter", asks_input=True)
    thread = str(uuid.uuid4())
    asked = user("paint")
    first = run(alice, "agui-painter", run_input(thread, asked, tools=[PICK_COLOUR]))
    assert types(first) == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "RUN_FINISHED",
    ]
    call = first[1]["toolCallId"]
    assert first[1]["toolCallName"] == "pick_colour"
    assert json.loads(first[2]["delta"]) == {"options": ["teal", "red"]}
    assert first[-1]["outcome"] == {"type": "success", "pendingToolCallIds": [call]}

    called = {
        "id": "a1",
        "role": "assistant",
        "toolCalls": [
            {
                "id": call,
                "type": "function",
                "function": {"name": "pick_colour", "arguments": first[2]["delta"]},
            }
        ],
    }
    result = {"id": "t1", "role": "tool", "toolCallId": call, "content": "teal"}
    wrong = {**result, "toolCallId": "call_other"}
    refused = alice.post(
        "/ag-ui/agui-painter", json=run_input(thread, asked, called, wrong, tools=[PICK_COLOUR])
    )
    assert refused.status_code == 400 and "call_other" in refused.json()["detail"]

    second = run(alice, "agui-painter", run_input(thread, asked, called, result, tools=[PICK_COLOUR]))
    # (no TOOL_CALL_RESULT: the front end has the result it sent)
    assert types(second) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert text_of(second) == "Painted it teal (offered: pick_colour)."
    messages = alice.get(f"/chat/{thread}/messages").json()
    (task,) = {m["run_id"] for m in messages}  # one UAI run throughout
    assert wait_run(alice, task, "succeeded")["status"] == "succeeded"


def test_agui_node__a_front_end_tool(alice: httpx.Client, node_project: Path) -> None:
    register("agui-painter", "tests.agents_agui:painter", asks_input=True)
    result = run_agent(alice, node_project, "tool", "agui-painter", "paint")
    first, second = result["runs"]
    assert first["finished"]["outcome"] == "success" and len(first["finished"]["pending"]) == 1
    assert second["finished"]["outcome"] == "success" and second["finished"]["pending"] == []
    assert result["messages"][-1] == {
        "role": "assistant",
        "content": "Painted it teal (offered: pick_colour).",
    }


def test_agui__an_openai_compatible_model_calls_a_front_end_tool(alice: httpx.Client) -> None:
    weather = {**PICK_COLOUR, "name": "get_weather", "description": "The weather out of the window."}
    thread = str(uuid.uuid4())
    asked = user("what is the weather?")
    with ScriptedOpenAI() as model:
        register_agent(
            "agui-chatbot",
            "openai_chat",
            streams=True,
            options={"base_url": model.base_url, "model": "scripted", "api_key_env": "UAI_TEST_OPENAI_KEY"},
        )
        first = run(alice, "agui-chatbot", run_input(thread, asked, tools=[weather]))
        (call,) = first[-1]["outcome"]["pendingToolCallIds"]
        assert [e["toolCallName"] for e in first if e["type"] == "TOOL_CALL_START"] == ["get_weather"]
        assert model.requests[0]["tools"][0]["function"]["name"] == "get_weather"
        result = {"id": "t1", "role": "tool", "toolCallId": call, "content": "rain in Lyon"}
        second = run(alice, "agui-chatbot", run_input(thread, asked, result, tools=[weather]))
    assert text_of(second).endswith("The weather: rain in Lyon") and "outcome" not in second[-1]
