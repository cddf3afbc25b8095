"""Every example of docs/agents/ as a user would run it: registered from examples/agents.toml,
one chat turn over the WebSocket, and one run cancelled midway.

The model-backed examples talk to the server's OpenAI-compatible model (``OPENAI_BASE_URL``),
here the scripted one on loopback: each real framework makes its real HTTP calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import cancel_run, token_of, wait_run, ws_url

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parent.parent

# agent name → (docs page, example file, a prompt and the final answer, a prompt that runs long)
EXAMPLES = {
    "spell": ("python.md", "plain_python.py", "hi there", "H-I T-H-E-R-E ", "a b c d e f g h"),
    "lg-weather": (
        "langgraph.md",
        "langgraph_agent.py",
        "weather?",
        "The weather: sunny in Paris",
        "count slowly",
    ),
    "smol-weather": (
        "smolagents.md",
        "smolagents_agent.py",
        "weather?",
        "The weather: sunny in Paris",
        "count slowly",
    ),
    "pai-weather": (
        "pydantic_ai.md",
        "pydantic_ai_agent.py",
        "weather?",
        "The weather: sunny in Paris",
        "count slowly",
    ),
    "sdk-weather": (
        "openai_agents.md",
        "openai_agents_agent.py",
        "weather?",
        "The weather: sunny in Paris",
        "count slowly",
    ),
    "assistant": ("openai_chat.md", "tools.py", "weather?", "The weather: sunny in Paris", "count slowly"),
}


@pytest.fixture
def examples(live: str) -> None:
    """The agents of examples/agents.toml, registered as UAI_AGENTS_FILE would."""
    from uai.agents.models import Agent
    from uai.agents.registry import load_agents_file

    for name, spec in load_agents_file(str(ROOT / "examples" / "agents.toml")).items():
        Agent.objects.create(name=name, source=Agent.Source.FILE, streams=True, **spec)


def websocket_turn(live: str, token: str, agent: str, text: str) -> list[dict]:
    async def talk() -> list[dict]:
        async with websockets.connect(ws_url(live, f"/chat/ex-{agent}?agent={agent}&token={token}")) as ws:
            await ws.send(json.dumps({"type": "client", "message": text, "message_id": "m1"}))
            frames = []
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 20)))["type"] != "message_end":
                frames.append(frame)
            return frames

    return asyncio.run(talk())


@pytest.mark.parametrize("agent", list(EXAMPLES))
def test_example__websocket_turn_and_cancelled_run(
    agent: str, live: str, examples: None, alice: httpx.Client
) -> None:
    _page, _example, prompt, answer, long_prompt = EXAMPLES[agent]
    frames = websocket_turn(live, token_of(alice), agent, prompt)
    assert frames, "no frames"
    assert all(f["type"] == "agent_step" for f in frames), frames
    assert frames[-1]["step_type"] == "FinalAnswerStep" and frames[-1]["message"] == answer, frames
    if agent != "spell":
        assert any("get_weather" in f["message"] for f in frames if f["step_type"] == "ActionStep"), frames

    task = alice.post("/run/", json={"agent": agent, "input": long_prompt}).json()["task_id"]
    wait_run(alice, task, "running")
    time.sleep(0.5)
    cancel_run(alice, task)


@pytest.mark.parametrize("agent", list(EXAMPLES))
def test_example__docs_page_shows_the_example(agent: str) -> None:
    page, example, *_ = EXAMPLES[agent]
    text = (ROOT / "docs" / "agents" / page).read_text()
    assert (ROOT / "examples" / example).read_text().strip() in text
    entry = f"[agents.{agent}]"
    assert entry in text and entry in (ROOT / "examples" / "agents.toml").read_text()
