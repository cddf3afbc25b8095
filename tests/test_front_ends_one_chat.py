"""One chat, two front-end protocols: a thread driven through AG-UI, then through the AI SDK's
route, then AG-UI again, is one UAI chat — it reads the same at ``/chat/{id}/messages`` and at
seed 001's ``/history/{id}``, and each protocol reads its own runs back."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from httpx_sse import connect_sse

STREAM_TIMEOUT = 30


def events(client: httpx.Client, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
    """A stream's JSON events (the AI SDK's ``[DONE]`` left out)."""
    with connect_sse(client, method, path, timeout=STREAM_TIMEOUT, **kwargs) as source:
        assert source.response.status_code == 200, source.response.read()
        return [json.loads(e.data) for e in source.iter_sse() if e.data != "[DONE]"]


def agui_turn(client: httpx.Client, thread: str, text: str) -> tuple[str, list[dict[str, Any]]]:
    """An AG-UI run of ``text`` on the thread: its runId and events."""
    run_id = str(uuid.uuid4())
    body = {
        "threadId": thread,
        "runId": run_id,
        "state": {},
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": text}],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    }
    return run_id, events(client, "POST", "/ag-ui/echo", json=body)


def ai_sdk_turn(client: httpx.Client, chat: str, text: str) -> list[dict[str, Any]]:
    """An AI SDK turn of ``text`` on the chat, as DefaultChatTransport sends it: its parts."""
    body = {
        "id": chat,
        "trigger": "submit-message",
        "messageId": None,
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "parts": [{"type": "text", "text": text}]}],
    }
    return events(client, "POST", "/ai-sdk/echo", json=body)


def test_front_ends__a_thread_through_agui_and_the_ai_sdk_is_one_chat(alice: httpx.Client) -> None:
    thread = str(uuid.uuid4())
    first_run, first = agui_turn(alice, thread, "first")
    assert first[-1]["type"] == "RUN_FINISHED"
    parts = ai_sdk_turn(alice, thread, "second")
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == "second"
    assert parts[-1]["type"] == "finish"
    _, third = agui_turn(alice, thread, "third")
    assert "".join(e["delta"] for e in third if e["type"] == "TEXT_MESSAGE_CONTENT") == "third"

    said = [(role, text) for text in ("first", "second", "third") for role in ("user", "agent")]
    assert [(m["role"], m["content"]) for m in alice.get(f"/chat/{thread}/messages").json()] == said
    assert [(m["role"], m["content"]) for m in alice.get(f"/history/{thread}").json()] == said
    # Each protocol reads its own runs back: AG-UI its first run, by the client's runId; the AI
    # SDK sees no turn going on (204: nothing to resume).
    again = events(alice, "GET", f"/ag-ui/echo/{thread}/runs/{first_run}/events")
    assert again == first
    assert alice.get(f"/ai-sdk/echo/{thread}/stream").status_code == 204
