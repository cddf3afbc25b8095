"""Hostile input on seed 001's WebSocket, against the real server: bad frames, resumes past the end,
frames over the limit, junk in the handshake.

For each one: an ``agent_error`` or a refusal (a 4xx, a 44xx close, 1009 for a frame too big),
never a 1011, a 5xx or a hang — and the socket, or the server, still serves afterwards.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import token_of, ws_url
from tests.payloads import DEPTH, nest, nest_objects

FRAME_SECONDS = 10
WS_MAX_BYTES = 1024 * 1024  # UAI_WS_MAX_FRAME_BYTES's default


def connect(live: str, client: httpx.Client, chat_id: str, query: str = "") -> Any:
    return websockets.connect(
        ws_url(live, f"/chat/{chat_id}{query}"),
        additional_headers={"Authorization": f"Bearer {token_of(client)}"},
        open_timeout=FRAME_SECONDS,
        close_timeout=5,
    )


async def next_frame(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS))


async def a_turn(ws: Any, text: str) -> list[dict[str, Any]]:
    """Send a message; its frames up to its message_end."""
    await ws.send(json.dumps({"type": "client", "message": text, "message_id": text}))
    frames = []
    while not frames or frames[-1]["type"] != "message_end":
        frames.append(await next_frame(ws))
    return frames


WS_FRAMES: list[str | bytes] = [
    "not json",
    b"\xff\xfe not utf-8",
    "",
    "[1, 2]",
    '"a string"',
    "null",
    "NaN",
    json.dumps({"type": None}),
    json.dumps({"type": "shout"}),
    json.dumps({"type": "client"}),
    json.dumps({"type": "client", "message": ["x"], "message_id": "a"}),
    json.dumps({"type": "client", "message": "x", "message_id": ""}),
    json.dumps({"type": "client", "message": "x", "message_id": {"a": 1}}),
    json.dumps({"type": "client", "message": "x" * 6000, "message_id": "long"}),
    json.dumps({"type": "client", "message": "a\x00b", "message_id": "nul"}),
    json.dumps({"type": "resume"}),
    json.dumps({"type": "resume", "after_seq": -1}),
    json.dumps({"type": "resume", "after_seq": "5"}),
    json.dumps({"type": "resume", "after_seq": 1.5}),
    json.dumps({"type": "resume", "after_seq": True}),
    json.dumps({"type": "resume", "after_seq": 10**30}),
    '{"type": "resume", "after_seq": 1e999}',
    json.dumps({"type": "client", "message": json.loads(nest(DEPTH + 1)), "message_id": "d"}),
    '{"type": "client", "message": "x", "message_id": "d", "extra": ' + nest(400) + "}",  # was 1011
    nest(100_000),
    nest_objects(5000),
]


async def test_bad_input__websocket_frames(live: str, alice: httpx.Client) -> None:
    """Every bad frame gets an ``agent_error`` and the socket stays open; then a turn works."""
    chat = f"bad-frames-{uuid.uuid4().hex[:8]}"
    async with connect(live, alice, chat) as ws:
        for frame in WS_FRAMES:
            await ws.send(frame)
            answer = await next_frame(ws)
            assert answer["type"] == "agent_error" and answer["error"], (frame[:80], answer)
        frames = await a_turn(ws, "still here")
        assert [f["type"] for f in frames][-2:] == ["agent_step", "message_end"]
        assert frames[-2]["message"] == "still here"


async def test_bad_input__websocket_resume_past_the_end(live: str, alice: httpx.Client) -> None:
    """A resume past the chat's end silenced the socket: the next turn got no frames. Now it gets
    an ``agent_error`` whose ``seq`` is the chat's real last number, and the socket follows from
    there."""
    chat = f"resume-{uuid.uuid4().hex[:8]}"
    async with connect(live, alice, chat) as ws:
        first = await a_turn(ws, "one")
        last = first[-1]["seq"]
        await ws.send(json.dumps({"type": "resume", "after_seq": last + 1000}))
        told = await next_frame(ws)
        assert told["type"] == "agent_error" and told["seq"] == last, told
        assert "past the last event" in told["error"]
        second = await a_turn(ws, "two")
        assert second[-2]["message"] == "two" and second[0]["seq"] > last
    # The same on connect (?after_seq=), and on a chat no message has created yet.
    async with connect(live, alice, chat, f"?after_seq={last + 50}") as ws:
        told = await next_frame(ws)
        assert told["type"] == "agent_error" and told["seq"] >= last, told
        assert (await a_turn(ws, "three"))[-2]["message"] == "three"
    async with connect(live, alice, f"new-{uuid.uuid4().hex[:8]}", "?after_seq=7") as ws:
        told = await next_frame(ws)
        assert told["type"] == "agent_error" and told["seq"] == 0, told
        assert (await a_turn(ws, "four"))[-2]["message"] == "four"


async def test_bad_input__websocket_frame_over_the_limit_is_closed_with_1009(
    live: str, alice: httpx.Client
) -> None:
    """Over 1 MiB the TCP connection was dropped (daphne), with no close frame: now 1009 under
    both servers; the server serves the next connection."""
    chat = f"big-{uuid.uuid4().hex[:8]}"
    async with connect(live, alice, chat) as ws:
        await ws.send(json.dumps({"type": "client", "message": "x" * WS_MAX_BYTES, "message_id": "big"}))
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
    async with connect(live, alice, chat) as ws:  # a message at the limit's size is fine
        await ws.send(json.dumps({"type": "client", "message": "x" * 4000, "message_id": "ok"}))
        assert (await next_frame(ws))["type"] in ("agent_step", "message_end")


async def handshake(url: str) -> int:
    """How a handshake ends: the HTTP status of a refusal, the close code of a socket closed after
    it was accepted, or 0 for a socket that stays open and answers."""
    try:
        async with websockets.connect(url, open_timeout=FRAME_SECONDS, close_timeout=5) as ws:
            # Accepted (a query that is merely ignored): it answers, or it is closed with a 44xx.
            await ws.send(json.dumps({"type": "shout"}))
            await asyncio.wait_for(ws.recv(), FRAME_SECONDS)
            return 0
    except InvalidStatus as refused:
        return refused.response.status_code
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else 1006


async def test_bad_input__websocket_handshakes(live: str, alice: httpx.Client) -> None:
    """Junk in the handshake's path and query: refused (403 or a 44xx close), never a 1011 or a
    hang; then a good connection works."""
    token = token_of(alice)
    outcomes: list[tuple[str, int]] = []
    for path in [
        "/chat/" + "a" * 300,
        "/chat/a%00b",
        "/chat/%ff",
        "/chat/x?agent=%00",
        "/chat/x?agent=no-such-agent",
        "/chat/x?token=%00",
        "/chat/x?token=" + "t" * 5000,
        "/chat/x?after_seq=-5",
        "/chat/x?after_seq=" + "9" * 100,
        "/chat/x?after_seq=%C2%B2",
        "/no/such/socket",
        "/chat/" + "a" * 20_000,
    ]:
        separator = "&" if "?" in path else "?"
        url = ws_url(live, path) + ("" if "token=" in path else f"{separator}token={token}")
        outcomes.append((path[:60], await handshake(url)))
    # Open and answering, an HTTP 4xx, or a 4xxx close: never a 5xx, a 1011 or a dropped connection.
    fine = [0, *range(400, 500), *range(4000, 5000)]
    assert [(path, outcome) for path, outcome in outcomes if outcome not in fine] == []
    async with connect(live, alice, "after-handshakes") as ws:
        assert (await a_turn(ws, "fine"))[-2]["message"] == "fine"
