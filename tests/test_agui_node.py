"""AG-UI's own JavaScript client (``@ag-ui/client``), unchanged, run by node against the live server:
``HttpAgent.runAgent`` with its event verifier and schema checks on every stream, as a CopilotKit
front end runs it (tests/node-agui/run_agent.mjs).

The npm project is installed once into ``var/test-node-agui/`` (gitignored), and again only when
tests/node-agui/package.json changes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, npm_project, register, token_of

SOURCE = ROOT / "tests" / "node-agui"
WORK = ROOT / "var" / "test-node-agui"
RUN_SECONDS = 60


@pytest.fixture(scope="module")
def node_project() -> Path:
    """tests/node-agui copied into ``WORK``, its packages installed (once per package.json)."""
    return npm_project(SOURCE, WORK)


def run_agent(client: httpx.Client, project: Path, scenario: str, agent: str, text: str) -> dict[str, Any]:
    """Run run_agent.mjs as ``client``'s user; what it printed (every run, and the agent's messages)."""
    env = {**os.environ, "AGUI_URL": str(client.base_url).rstrip("/"), "AGUI_TOKEN": token_of(client)}
    ran = subprocess.run(
        ["node", "run_agent.mjs", scenario, agent, text],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "[ag-ui]" not in ran.stderr, ran.stderr  # no warning of the client's about what it read
    result: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    for one in result["runs"]:
        assert "thrown" not in one, one  # the verifier and the schema checks accepted the stream
    return result


def test_agui_node__a_text_turn(alice: httpx.Client, node_project: Path) -> None:
    result = run_agent(alice, node_project, "turn", "echo", "Hello from node")
    (only,) = result["runs"]
    assert only["events"][0] == "RUN_STARTED" and only["events"][-1] == "RUN_FINISHED"
    assert only["finished"]["outcome"] == "success" and only["error"] is None
    assert [(m["role"], m["content"]) for m in result["messages"]] == [
        ("user", "Hello from node"),
        ("assistant", "Hello from node"),
    ]


def test_agui_node__steps_state_and_files_pass_the_verifier(alice: httpx.Client, node_project: Path) -> None:
    register("agui-plans", "tests.agents_agui:plans")
    register("agui-keeper", "tests.agents_agui:keeper")
    (plans,) = run_agent(alice, node_project, "turn", "agui-plans", "x")["runs"]
    assert "REASONING_MESSAGE_CONTENT" in plans["events"] and "STEP_FINISHED" in plans["events"]
    (keeper,) = run_agent(alice, node_project, "turn", "agui-keeper", "x")["runs"]
    assert {"STATE_SNAPSHOT", "STATE_DELTA", "CUSTOM"} <= set(keeper["events"])
    assert keeper["result"] == "given {}"


def test_agui_node__a_tool_calling_agent(alice: httpx.Client, node_project: Path) -> None:
    register("agui-weather", "tests.agents_agui:weather")
    result = run_agent(alice, node_project, "turn", "agui-weather", "weather?")
    (only,) = result["runs"]
    assert only["finished"]["outcome"] == "success" and only["finished"]["pending"] == []
    call, answer = result["messages"][1], result["messages"][2]
    assert call["role"] == "assistant" and call["toolCalls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert answer == {"role": "tool", "toolCallId": "call_w1", "content": '{"forecast": "sunny"}'}
    assert result["messages"][-1]["content"] == "Sunny in Paris."


def test_agui_node__an_interrupt_answered_with_resume(alice: httpx.Client, node_project: Path) -> None:
    register("agui-greeter", "tests.agents_agui:greeter", asks_input=True)
    result = run_agent(alice, node_project, "answers", "agui-greeter", "hi|Ada|Paris")
    first, second, third = result["runs"]
    assert first["finished"]["outcome"] == "interrupt"
    assert first["finished"]["interrupts"][0]["message"] == "What is your name?"
    assert second["finished"]["interrupts"][0]["message"] == "Where do you live, Ada?"
    assert third["finished"]["outcome"] == "success" and result["pendingInterrupts"] == []
    assert result["messages"][-1] == {"role": "assistant", "content": "Hello Ada from Paris!"}


def test_agui_node__an_agent_error(alice: httpx.Client, node_project: Path) -> None:
    result = run_agent(alice, node_project, "turn", "fail", "go")
    (only,) = result["runs"]
    assert only["events"] == ["RUN_STARTED", "STEP_STARTED", "STEP_FINISHED", "RUN_ERROR"]
    assert "failed on purpose" in only["error"]["message"] and only["finished"] is None
