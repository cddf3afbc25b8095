"""LangGraph's own JavaScript client (``@langchain/langgraph-sdk``), unchanged, run by node against
the live server's Agent Server API (``/langgraph``): a run streamed in ``values`` and
``messages-tuple``, the thread's state and runs, and the run joined again from its start, as a
LangGraph front end (Agent Chat UI, ``useStream``) calls them (tests/node-langgraph/stream_run.mjs).

The npm project is installed once into ``var/test-node-langgraph/`` (gitignored), and again only
when tests/node-langgraph/package.json changes.
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

from tests.conftest import ROOT, npm_project, register_agent, token_of

SOURCE = ROOT / "tests" / "node-langgraph"
WORK = ROOT / "var" / "test-node-langgraph"
RUN_SECONDS = 60


@pytest.fixture(scope="module")
def node_project() -> Path:
    """tests/node-langgraph copied into ``WORK``, its packages installed (once per package.json)."""
    return npm_project(SOURCE, WORK)


def stream_run(client: httpx.Client, project: Path, assistant: str, text: str) -> dict[str, Any]:
    """Run stream_run.mjs as ``client``'s user; what it printed (the streamed run, the thread's
    state and runs, the run joined again)."""
    env = {
        **os.environ,
        "LANGGRAPH_URL": str(client.base_url).rstrip("/"),
        "LANGGRAPH_TOKEN": token_of(client),
    }
    ran = subprocess.run(
        ["node", "stream_run.mjs", assistant, text],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stderr == "", ran.stderr  # no warning or error of the client's about what it read
    result: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    assert "thrown" not in result["streamed"], result["streamed"]
    assert "thrown" not in result["joined"], result["joined"]
    return result


def events(chunks: list[dict[str, Any]], name: str) -> list[Any]:
    return [c["data"] for c in chunks if c["event"] == name]


def texts(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["type"], m["content"]) for m in values["messages"]]


def check_stream(result: dict[str, Any], assistant: str, answer: str) -> list[tuple[str, str]]:
    """What every run streamed to the JS client shows; the final messages."""
    chunks = result["streamed"]["chunks"]
    first = chunks[0]
    assert first["event"] == "metadata" and uuid.UUID(first["data"]["run_id"])
    run_id = first["data"]["run_id"]
    # the run the client read from the response's Content-Location (onRunCreated)
    assert [r["run_id"] for r in result["created"]] == [run_id]
    assert chunks[-1]["event"] == "end" and chunks[-1]["data"] == {"run_id": run_id, "status": "success"}
    assert {c["event"] for c in chunks} <= {"metadata", "values", "messages", "end"}
    tuples = events(chunks, "messages")
    assert tuples and all(len(t) == 2 for t in tuples)
    assert all(m["type"] == "AIMessageChunk" for m, _ in tuples)
    assert all(meta["run_id"] == run_id for _, meta in tuples)
    assert "".join(m["content"] for m, _ in tuples) == answer
    final = texts(events(chunks, "values")[-1])
    assert final[-1] == ("ai", answer)
    # the thread's state and its one run, as the client reads them afterwards
    assert texts(result["state"]["values"]) == final and result["state"]["next"] == []
    (run,) = result["runs"]
    assert run["run_id"] == run_id and run["status"] == "success" and run["assistant_id"] == assistant
    # joined again from the start (Last-Event-ID: -1): the same events, with the same ids
    again = result["joined"]["chunks"]
    assert again[0]["event"] == "metadata" and again[0]["data"]["run_id"] == run_id
    assert [(c["event"], c["data"], c["id"]) for c in again[1:]] == [
        (c["event"], c["data"], c["id"]) for c in chunks[1:]
    ]
    return final


def test_langgraph_node__streams_a_uai_agent(alice: httpx.Client, node_project: Path) -> None:
    result = stream_run(alice, node_project, "echo", "Hello from node")
    final = check_stream(result, "echo", "Hello from node")
    assert final == [("human", "Hello from node"), ("ai", "Hello from node")]
    start = events(result["streamed"]["chunks"], "values")[0]
    assert texts(start) == [("human", "Hello from node")]


def test_langgraph_node__streams_a_langgraph_agent(alice: httpx.Client, node_project: Path) -> None:
    register_agent("graph", "langgraph", "tests.graphs:chat_graph", streams=True)
    result = stream_run(alice, node_project, "graph", "hi")
    final = check_stream(result, "graph", "hello there friend")
    assert final[0] == ("human", "hi") and final[-1] == ("ai", "hello there friend")
    start = events(result["streamed"]["chunks"], "values")[0]
    assert texts(start) == [("human", "hi")]
