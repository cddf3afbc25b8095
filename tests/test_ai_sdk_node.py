"""The official ``ai`` npm package (the AI SDK's UI side: ``DefaultChatTransport``,
``readUIMessageStream`` and the ``AbstractChat`` under ``useChat``), unchanged, run by node against a
UAI agent: what AI SDK front ends do (tests/node-ai-sdk/chat.mjs).

The transport checks every part against the package's own schema (a part it does not know, or
one missing a field, fails the stream). The npm project is installed once into
``var/test-node-ai-sdk/`` (gitignored), and again only when tests/node-ai-sdk/package.json changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agents_ai_sdk import TICKS
from tests.conftest import ROOT, npm_project, register, token_of, wait_run

SOURCE = ROOT / "tests" / "node-ai-sdk"
WORK = ROOT / "var" / "test-node-ai-sdk"
RUN_SECONDS = 90
DROP_AFTER_DELTAS = 5  # as chat.mjs drops its connection
WHOLE = "".join(f"tick{i} " for i in range(TICKS))


@pytest.fixture(scope="module")
def node_project() -> Path:
    """tests/node-ai-sdk copied into ``WORK``, its packages installed (once per package.json)."""
    return npm_project(SOURCE, WORK)


@pytest.fixture
def agents(live: str) -> None:
    register("ai-works", "tests.agents_ai_sdk:works")
    register("ai-ticker", "tests.agents_ai_sdk:ticker")
    register("ai-long", "tests.agents_ai_sdk:long_ticker")
    register("ai-breaks", "tests.agents_ai_sdk:breaks")
    register("ai-asks", "tests.agents_ai_sdk:asks")
    register("ai-locates", "tests.agents_ai_sdk:locates")


def run_node(
    client: httpx.Client, project: Path, mode: str, agent: str, chat_id: str, *args: str, **env: str
) -> Any:
    """Run chat.mjs as ``client``'s user; what it printed."""
    env = {**os.environ, "UAI_URL": str(client.base_url).rstrip("/"), "UAI_TOKEN": token_of(client), **env}
    ran = subprocess.run(
        ["node", "chat.mjs", mode, agent, chat_id, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return json.loads(ran.stdout.strip().splitlines()[-1])


def new_chat() -> str:
    return f"node-{uuid.uuid4().hex[:12]}"


def of_type(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [p for p in message["parts"] if p["type"] == kind]


def run_of(client: httpx.Client, chat_id: str) -> str:
    (run_id,) = {m["run_id"] for m in client.get(f"/chat/{chat_id}/messages").json() if m["run_id"]}
    return str(run_id)


def test_node_ai_sdk__a_turn_read_by_the_transport(
    alice: httpx.Client, node_project: Path, agents: None
) -> None:
    chat_id = new_chat()
    result = run_node(alice, node_project, "turn", "ai-works", chat_id, "the garden")
    assert result["errors"] == []
    message = result["message"]
    assert message["id"] == run_of(alice, chat_id) and message["role"] == "assistant"
    assert [p["type"] for p in message["parts"]] == [
        "step-start",
        "reasoning",
        "reasoning",
        "data-state",
        "file",
        "text",
    ]
    assert [p["text"] for p in of_type(message, "reasoning")] == [
        "plan: look, then write a report",
        "looked around",
    ]
    assert [p["state"] for p in of_type(message, "reasoning")] == ["done", "done"]
    assert of_type(message, "text") == [
        {"type": "text", "text": "Here is the report on the garden.", "state": "done"}
    ]
    (file,) = of_type(message, "file")
    assert file["mediaType"] == "text/plain" and alice.get(file["url"]).status_code == 200
    assert result["chunks"][-1] == {"type": "finish", "finishReason": "stop"}
    # The transient parts reached the client, not the message.
    assert {c["type"] for c in result["chunks"]} >= {"data-log", "data-progress"}


def test_node_ai_sdk__an_agent_error_reaches_the_client(
    alice: httpx.Client, node_project: Path, agents: None
) -> None:
    result = run_node(alice, node_project, "turn", "ai-breaks", new_chat(), "go")
    assert len(result["errors"]) == 1 and "the agent broke on purpose" in result["errors"][0]
    assert result["chunks"][-1] == {"type": "finish", "finishReason": "error"}
    assert [p["text"] for p in of_type(result["message"], "text")] == ["Almost"]


def test_node_ai_sdk__a_dropped_stream_resumes_with_no_part_lost_or_repeated(
    alice: httpx.Client, node_project: Path, agents: None
) -> None:
    chat_id = new_chat()
    result = run_node(alice, node_project, "resume", "ai-ticker", chat_id, "go")
    before, after = result["before"], result["after"]
    assert [c["type"] for c in before].count("text-delta") == DROP_AFTER_DELTAS
    assert after is not None and after["errors"] == []
    assert after["chunks"][: len(before)] == before  # the replay starts with what was read
    message = after["message"]
    assert message["id"] == run_of(alice, chat_id)
    assert "".join(p["text"] for p in of_type(message, "text")) == WHOLE
    assert [p["text"] for p in of_type(message, "reasoning")] == ["half way"]
    assert result["afterEnd"]  # the turn over, reconnecting finds nothing (204)


def test_node_ai_sdk__a_reloaded_chat_resumes_the_turn_as_use_chat_does(
    alice: httpx.Client, node_project: Path, agents: None
) -> None:
    chat_id = new_chat()
    result = run_node(alice, node_project, "reload", "ai-ticker", chat_id, "go")
    assert result["error"] is None and result["status"] == "ready"
    user, assistant = result["messages"]
    assert user["role"] == "user" and assistant["role"] == "assistant"
    assert assistant["id"] == run_of(alice, chat_id)
    assert [p["type"] for p in assistant["parts"]] == ["step-start", "text", "reasoning", "text"]
    assert "".join(p["text"] for p in of_type(assistant, "text")) == WHOLE  # rebuilt once, not doubled


def test_node_ai_sdk__stop_ends_the_stream(alice: httpx.Client, node_project: Path, agents: None) -> None:
    chat_id = new_chat()
    result = run_node(alice, node_project, "stop", "ai-long", chat_id, "go")
    run_id = run_of(alice, chat_id)
    assert result["stopped"] == {"status": 200, "body": {"chatId": chat_id, "runId": run_id, "stopped": True}}
    assert result["endedAfterMs"] < 2000
    assert [c["type"] for c in result["chunks"]][-3:] == ["text-end", "finish-step", "abort"]
    assert wait_run(alice, run_id, "cancelled")["status"] == "cancelled"


def test_node_ai_sdk__use_chat_answers_the_agents_question_and_the_run_goes_on(
    alice: httpx.Client, node_project: Path, agents: None
) -> None:
    chat_id = new_chat()
    result = run_node(alice, node_project, "answer", "ai-asks", chat_id, "hi", "Alice")
    assert result["error"] is None and result["status"] == "ready"
    run_id = run_of(alice, chat_id)  # one run: the answer went on with it
    (call,) = result["calls"]
    assert call["toolName"] == "uai_input" and call["input"] == {"question": "Who is asking?"}
    user, assistant = result["messages"]
    assert (
        user["role"] == "user" and assistant["id"] == run_id
    )  # one message: the answer's stream went on with it
    assert [p["type"] for p in assistant["parts"]] == [
        "step-start",
        "reasoning",
        "tool-uai_input",
        "step-start",
        "reasoning",
        "text",
    ]
    question = assistant["parts"][2]
    assert question["state"] == "output-available" and question["output"] == "Alice"
    assert assistant["parts"][-1]["text"] == "Hello Alice (you said: hi)"
    assert wait_run(alice, run_id, "succeeded")["status"] == "succeeded"


def test_node_ai_sdk__use_chat_runs_a_front_end_tool_the_agent_calls(
    alice: httpx.Client, node_project: Path, agents: None
) -> None:
    tools = [{"name": "get_location", "description": "Where the user is.", "parameters": {"type": "object"}}]
    chat_id = new_chat()
    answer = json.dumps({"city": "Paris"})
    result = run_node(
        alice, node_project, "answer", "ai-locates", chat_id, "where?", answer, UAI_TOOLS=json.dumps(tools)
    )
    assert result["error"] is None and result["status"] == "ready"
    (call,) = result["calls"]
    assert call["toolName"] == "get_location" and call["input"] == {"precision": "city"}
    _, assistant = result["messages"]
    assert assistant["id"] == run_of(alice, chat_id)
    assert [p["type"] for p in assistant["parts"]] == [
        "step-start",
        "tool-get_location",
        "step-start",
        "text",
    ]
    assert assistant["parts"][1]["output"] == {"city": "Paris"}
    assert assistant["parts"][-1]["text"] == 'You are in {"city": "Paris"} (offered: get_location)'
