"""The official ``openai`` npm package, unchanged, run by node, streams a chat completion from a
UAI agent: what JavaScript front ends do (tests/node/chat_stream.mjs).

The npm project is installed once into ``var/test-node/`` (gitignored), and again only when
tests/node/package.json changes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, npm_project, token_of

pytestmark = pytest.mark.once

SOURCE = ROOT / "tests" / "node"
WORK = ROOT / "var" / "test-node"
RUN_SECONDS = 60


@pytest.fixture(scope="module")
def node_project() -> Path:
    """tests/node copied into ``WORK``, its packages installed (once per package.json)."""
    return npm_project(SOURCE, WORK)


def stream_with_node(client: httpx.Client, project: Path, *args: str) -> dict[str, Any]:
    """Run chat_stream.mjs as ``client``'s user; what it printed."""
    env = {
        **os.environ,
        "OPENAI_BASE_URL": str(client.base_url).rstrip("/") + "/v1",
        "OPENAI_API_KEY": token_of(client),
    }
    ran = subprocess.run(
        ["node", "chat_stream.mjs", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    return result


def test_node_openai_client__streams_a_chat_completion(alice: httpx.Client, node_project: Path) -> None:
    result = stream_with_node(alice, node_project, "Hello from node")
    assert result["error"] is None
    assert result["text"] == "Hello from node"
    assert result["role"] == "assistant" and result["finish"] == "stop"
    assert result["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert result["chunks"] >= 4  # role, text, finish, usage


def test_node_openai_client__raises_the_error_chunk_of_a_failing_agent(
    alice: httpx.Client, node_project: Path
) -> None:
    result = stream_with_node(alice, node_project, "go", "fail")
    assert result["reasoning"] == "Starting work that is bound to fail."  # its step, as thinking
    assert result["error"]["name"] == "APIError" and "failed on purpose" in result["error"]["message"]
    assert result["text"] == ""
