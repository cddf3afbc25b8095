"""The OpenAI-compatible chat-model adapter, against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest
import websockets

from tests.conftest import token_of, ws_url
from tests.openai_server import ScriptedOpenAI


@pytest.fixture
def model() -> ScriptedOpenAI:
    with ScriptedOpenAI() as server:
        yield server


def register(model: ScriptedOpenAI, **options: object) -> None:
    from uai.agents.models import Agent

    Agent.objects.create(
        name="chatbot",
        adapter="openai_chat",
        streams=True,
        options={
            "base_url": model.base_url,
            "model": "scripted",
            "system_prompt": "Be brief.",
            "api_key_env": "UAI_TEST_OPENAI_KEY",
            **options,
        },
    )


def test_openai_chat__streams_over_the_websocket(
    live: str, alice: httpx.Client, model: ScriptedOpenAI
) -> None:
    register(model)

    async def talk() -> list[dict]:
        url = ws_url(live, f"/chat/model-chat?agent=chatbot&token={token_of(alice)}")
        async with websockets.connect(url) as ws:
            frames = []
            for n, text in enumerate(["hello model", "second turn"]):
                await ws.send(json.dumps({"type": "client", "message": text, "message_id": str(n)}))
                while (frame := json.loads(await asyncio.wait_for(ws.recv(), 15)))["type"] != "message_end":
                    frames.append(frame)
            return frames

    frames = asyncio.run(talk())
    assert [f["message"] for f in frames if f["type"] == "agent_step"] == ["hello model", "second turn"]
    second = model.requests[-1]
    assert second["stream"] is True
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][0]["content"] == "Be brief."
    stats = alice.get("/api/chat/playground/model-chat/chatData").json()["stats"]
    assert any(s["data"].get("tokens") == 8 for s in stats)


def test_openai_chat__tool_calls_are_action_steps(alice: httpx.Client, model: ScriptedOpenAI) -> None:
    register(model, tools=["tests.agents:get_weather"])
    turn = alice.post("/chat/", json={"agent": "chatbot"}).json()
    reply = alice.post(f"/chat/{turn['session_id']}", json={"text": "what is the weather?"}).json()
    assert reply["status"] == "succeeded", reply
    steps = [(m["step_type"], m["content"]) for m in reply["messages"][1:]]
    assert steps == [
        ("ActionStep", 'Calling tool get_weather({"city": "Paris"})'),
        ("ActionStep", "Observation from get_weather: sunny in Paris"),
        ("FinalAnswerStep", "The weather: sunny in Paris"),
    ]
    offered = model.requests[0]["tools"][0]["function"]
    assert offered["name"] == "get_weather"
    assert offered["parameters"]["required"] == ["city"]
    assert model.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "sunny in Paris",
    }


def test_openai_chat__chunks_on_the_sse_stream(alice: httpx.Client, model: ScriptedOpenAI) -> None:
    from httpx_sse import connect_sse

    register(model)
    with connect_sse(
        alice, "POST", "/chat/stream", json={"message": "abcdefghi", "agent": "chatbot"}
    ) as source:
        chunks = [json.loads(e.data) for e in source.iter_sse()]
    assert "".join(c["content"] for c in chunks) == "abcdefghi"
    assert chunks[-1]["metrics"]["tokens"] == 8


@pytest.mark.django_db
def test_openai_chat__bad_options_and_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from uai.agents.models import Agent
    from uai.agents.registry import AgentConfigError, build_adapter

    no_model = Agent(name="m1", adapter="openai_chat", options={"base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(AgentConfigError, match="model is required"):
        build_adapter(no_model)
    monkeypatch.setitem(sys.modules, "openai", None)  # as if the extra were not installed
    with pytest.raises(AgentConfigError, match=r"pip install 'uai\[openai\]'"):
        build_adapter(Agent(name="m2", adapter="openai_chat", options={"model": "x"}))
