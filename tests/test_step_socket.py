"""Seed 001's WebSocket step protocol at /chat/{chat_id}, driven with the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from tests.conftest import set_password, token_of, ws_url

FRAME_SECONDS = 15


async def frames_until_end(ws: Any, ends: int = 1) -> list[dict[str, Any]]:
    """Frames up to and including the ``ends``-th message_end."""
    got: list[dict[str, Any]] = []
    while ends:
        frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS))
        got.append(frame)
        if frame["type"] == "message_end":
            ends -= 1
    return got


def connect(live: str, client: httpx.Client, chat_id: str, *, query: str = "", **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token_of(client)}", **kwargs.pop("headers", {})}
    return websockets.connect(ws_url(live, f"/chat/{chat_id}{query}"), additional_headers=headers, **kwargs)


async def test_ws__seed_flow_and_same_chat_everywhere(live: str, alice: httpx.Client) -> None:
    async with connect(live, alice, "chat_id47", query="?agent=steps") as ws:
        await ws.send(json.dumps({"type": "client", "message": "get 2+3*4", "message_id": "abc123"}))
        frames = await frames_until_end(ws)
    steps = [f for f in frames if f["type"] == "agent_step"]
    assert [f["step_type"] for f in steps] == ["PlanningStep", "ActionStep", "FinalAnswerStep"]
    assert steps[-1]["message"] == "14"
    for frame in frames:
        assert frame["message_id"] == "abc123"
        assert frame["chat_id"] == "chat_id47"
        assert set(frame) <= {"type", "step_type", "message", "message_id", "chat_id", "seq"}
    assert frames[-1]["type"] == "message_end"
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs)

    assert alice.get("/chat/chat_id47").json()["agent"] == "steps"
    messages = alice.get("/chat/chat_id47/messages").json()
    assert [m["step_type"] for m in messages] == [None, "PlanningStep", "ActionStep", "FinalAnswerStep"]
    assert messages[0]["message_id"] == "abc123"
    history = alice.get("/history/chat_id47").json()
    assert [(h["role"], h["step_type"]) for h in history] == [
        ("user", None),
        ("agent", "PlanningStep"),
        ("agent", "ActionStep"),
        ("agent", "FinalAnswerStep"),
    ]


async def test_ws__auth_origin_and_ownership(live: str, alice: httpx.Client, bob: httpx.Client) -> None:
    url = ws_url(live, "/chat/owned-by-alice")
    async with websockets.connect(url + f"?token={token_of(alice)}") as ws:
        await ws.send(json.dumps({"type": "client", "message": "hi", "message_id": "1"}))
        assert (await frames_until_end(ws))[-1]["type"] == "message_end"
    # Without (good) credentials: accepted, told how to sign in, closed 4401 (tests/test_browser_chat.py).
    for bad in [url, url + "?token=wrong", url + "?token=%00"]:  # a NUL: the lookup failed, a 500
        async with websockets.connect(bad) as ws:
            assert "?token=" in json.loads(await ws.recv())["error"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with pytest.raises(InvalidStatus):
        async with connect(live, bob, "owned-by-alice"):
            pass
    with pytest.raises(InvalidStatus):
        async with connect(live, alice, "bad%20id"):
            pass
    for query in ["?agent=no-such-agent", "?agent=a%00b"]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(live, alice, "new-chat", query=query):
                pass
        assert refused.value.response.status_code == 403
    # A number to resume after that int() refuses (it takes "²" for a digit): follow from now.
    async with connect(live, alice, "owned-by-alice", query="?after_seq=%C2%B2") as ws:
        await ws.send(json.dumps({"type": "client", "message": "still", "message_id": "1b"}))
        assert (await frames_until_end(ws))[-1]["type"] == "message_end"
    with pytest.raises(InvalidStatus):
        async with connect(live, alice, "owned-by-alice", origin="http://evil.example"):
            pass
    async with connect(live, alice, "owned-by-alice", origin="http://127.0.0.1"):
        pass
    # JWT works on the socket too.
    await sync_to_async(set_password)(alice.user, "pw-alice-1")
    access = httpx.post(f"{live}/api/auth/token", json={"username": "alice", "password": "pw-alice-1"}).json()
    async with websockets.connect(url + f"?token={access['access']}") as ws:
        await ws.send(json.dumps({"type": "client", "message": "jwt", "message_id": "2"}))
        assert (await frames_until_end(ws))[-1]["type"] == "message_end"
    # A browser signed in to the pages: its session cookie, and no token (or a wrong one).
    with httpx.Client(base_url=live) as browser:
        browser.get("/login/")
        signed_in = browser.post(
            "/login/",
            data={
                "username": "alice",
                "password": "pw-alice-1",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
        )
        assert signed_in.status_code == 302, signed_in.text
        cookie = f"sessionid={browser.cookies['sessionid']}"
    for query in ["", "?token=wrong"]:
        async with websockets.connect(url + query, additional_headers={"Cookie": cookie}) as ws:
            await ws.send(json.dumps({"type": "client", "message": "cookie", "message_id": f"3{query}"}))
            assert (await frames_until_end(ws))[-1]["type"] == "message_end"


async def test_ws__a_chat_another_user_creates_later_is_not_followed(
    live: str, alice: httpx.Client, bob: httpx.Client
) -> None:
    """Chat ids are the clients': a socket opened on an id nobody had yet, which another user
    then takes (here by seed 003's conversation_id), got that user's frames — and a resume
    replayed the chat's whole history."""
    for query in ["", "?after_seq=0"]:
        chat_id = f"taken-later{len(query)}"
        async with connect(live, alice, chat_id, query=query) as ws:
            await asyncio.sleep(0.5)  # past the resume window: following live
            reply = await asyncio.to_thread(
                bob.post, "/chat/run", json={"message": "bob's secret", "conversation_id": chat_id}
            )
            assert reply.status_code == 200, reply.text
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS))
                    assert "secret" not in json.dumps(frame), frame
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # The socket's own first turn makes the chat its user's: followed as before.
    async with connect(live, alice, "alices-new-chat") as ws:
        await ws.send(json.dumps({"type": "client", "message": "mine", "message_id": "m"}))
        frames = await frames_until_end(ws)
        assert frames[-1]["type"] == "message_end" and frames[-2]["message"] == "mine"


async def test_ws__failure_then_the_chat_stays_usable(live: str, alice: httpx.Client) -> None:
    async with connect(live, alice, "failing", query="?agent=fail") as ws:
        await ws.send(json.dumps({"type": "client", "message": "go", "message_id": "m1"}))
        frames = await frames_until_end(ws)
        assert [f["type"] for f in frames] == ["agent_step", "agent_error", "message_end"]
        assert "failed on purpose" in frames[1]["error"]
        assert frames[1]["chat_id"] == "failing"
        await ws.send(json.dumps({"type": "client", "message": "again", "message_id": "m2"}))
        again = await frames_until_end(ws)
        assert again[-1] == {**again[-1], "type": "message_end", "message_id": "m2"}


async def test_ws__malformed_frames_get_errors_and_the_socket_stays(live: str, alice: httpx.Client) -> None:
    async with connect(live, alice, "malformed") as ws:
        for bad, words in [
            ("not json", "JSON"),
            ("[1, 2]", "JSON"),
            (json.dumps({"type": "shout"}), "Unknown frame type"),
            (json.dumps({"type": "client", "message": "x"}), "message_id"),
            (json.dumps({"type": "client", "message": 5, "message_id": "a"}), "message"),
            (json.dumps({"type": "resume", "after_seq": "x"}), "after_seq"),
            (json.dumps({"type": "client", "message": "x" * 6000, "message_id": "long"}), "at most"),
            (json.dumps({"type": "client", "message": "a\u0000b", "message_id": "nul"}), "NUL"),
        ]:
            await ws.send(bad)
            frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS))
            assert frame["type"] == "agent_error", bad
            assert words in frame["error"], (bad, frame)
            assert frame["chat_id"] == "malformed"
        await ws.send(json.dumps({"type": "client", "message": "fine", "message_id": "ok"}))
        frames = await frames_until_end(ws)
        assert frames[-2]["message"] == "fine"


async def test_ws__every_connection_sees_the_steps(live: str, alice: httpx.Client) -> None:
    async with (
        connect(live, alice, "shared", query="?agent=steps") as one,
        connect(live, alice, "shared") as two,
    ):
        await asyncio.sleep(0.4)  # both are live
        await one.send(json.dumps({"type": "client", "message": "6*7", "message_id": "q"}))
        first, second = await asyncio.gather(frames_until_end(one), frames_until_end(two))
    assert first == second
    assert first[-2]["message"] == "42"


async def test_ws__turns_go_on_without_the_client_and_queue_in_order(live: str, alice: httpx.Client) -> None:
    slow = json.dumps({"steps": 3, "delay": 0.2})
    async with connect(live, alice, "leaver", query="?agent=slow") as ws:
        await ws.send(json.dumps({"type": "client", "message": slow, "message_id": "first"}))
        await ws.send(
            json.dumps({"type": "client", "message": '{"steps": 1, "delay": 0}', "message_id": "second"})
        )
    # The client left mid-turn; both turns still run, in order.
    messages: list[dict[str, Any]] = []
    for _ in range(150):
        response = alice.get("/chat/leaver/messages")  # 404 until the server handled the frames
        messages = response.json() if response.status_code == 200 else []
        if sum(m["step_type"] == "FinalAnswerStep" for m in messages) == 2:
            break
        await asyncio.sleep(0.1)
    finals = [m for m in messages if m["step_type"] == "FinalAnswerStep"]
    assert [f["content"] for f in finals] == ["Done after 3 steps.", "Done after 1 steps."]

    async with connect(live, alice, "orderly", query="?agent=slow") as ws:
        await ws.send(json.dumps({"type": "client", "message": slow, "message_id": "a"}))
        await ws.send(json.dumps({"type": "client", "message": '{"steps": 0}', "message_id": "b"}))
        frames = await frames_until_end(ws, ends=2)
    assert [(f["type"], f["message_id"]) for f in frames] == [
        ("agent_step", "a"),
        ("message_end", "a"),
        ("agent_step", "b"),
        ("message_end", "b"),
    ]


async def test_ws__reconnect_and_resume_gets_exactly_what_was_missed(live: str, alice: httpx.Client) -> None:
    async with connect(live, alice, "resumer", query="?agent=steps") as ws:
        await ws.send(json.dumps({"type": "client", "message": "1+1", "message_id": "one"}))
        seen = [json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS))]
    # Gone after the first frame; the turn finishes meanwhile, and another one runs.
    httpx_turn = alice.post("/chat/resumer", json={"text": "2+2"})
    assert httpx_turn.status_code == 200
    async with connect(live, alice, "resumer") as ws:
        await ws.send(json.dumps({"type": "resume", "after_seq": seen[-1]["seq"]}))
        missed = await frames_until_end(ws, ends=2)
        await ws.send(json.dumps({"type": "client", "message": "3+3", "message_id": "three"}))
        live_frames = await frames_until_end(ws)
    async with connect(live, alice, "resumer", query="?after_seq=0") as ws:
        everything = await frames_until_end(ws, ends=3)
    assert seen + missed + live_frames == everything
    assert [f["message"] for f in everything if f.get("step_type") == "FinalAnswerStep"] == ["2", "4", "6"]


async def test_ws__question_answered_by_the_next_message(live: str, alice: httpx.Client) -> None:
    async with connect(live, alice, "asker", query="?agent=slow") as ws:
        ask = json.dumps({"steps": 2, "delay": 0.05, "ask": "Which colour?"})
        await ws.send(json.dumps({"type": "client", "message": ask, "message_id": "q"}))
        question = await frames_until_end(ws)
        assert question[-2] == {**question[-2], "step_type": "InputRequestStep", "message": "Which colour?"}
        await ws.send(json.dumps({"type": "client", "message": "teal", "message_id": "answer"}))
        answer = await frames_until_end(ws)
    assert "You answered: teal" in answer[-2]["message"]
    assert answer[-1]["message_id"] == "q"  # the same turn, resumed


async def test_ws__many_concurrent_chats(live: str, alice: httpx.Client) -> None:
    async def one(index: int) -> str:
        async with connect(live, alice, f"crowd-{index}") as ws:
            await ws.send(json.dumps({"type": "client", "message": f"hi {index}", "message_id": str(index)}))
            frames = await frames_until_end(ws)
            return frames[-2]["message"]

    answers = await asyncio.gather(*(one(i) for i in range(24)))
    assert answers == [f"hi {i}" for i in range(24)]


def test_server__listens_with_a_backlog_for_bursts(live: str) -> None:
    """The server's listen backlog is UAI_LISTEN_BACKLOG (1024), not Twisted's 50: a burst of
    connections is queued, not dropped. (ss shows a listening socket's backlog as Send-Q.)"""
    import shutil
    import subprocess
    from pathlib import Path

    from django.conf import settings

    port = live.rsplit(":", 1)[1]
    ss = shutil.which("ss") or "/usr/sbin/ss"
    listing = subprocess.run([ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    backlogs = {int(line.split()[2]) for line in listing.stdout.splitlines() if line.strip()}
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert backlogs == {min(settings.UAI_LISTEN_BACKLOG, somaxconn)}, listing.stdout


async def test_ws__a_deleted_chat_ends_its_streams_before_its_id_is_anyone_elses(
    live: str, alice: httpx.Client, bob: httpx.Client
) -> None:
    """Chat ids are the clients': a stream left open on a chat its owner deleted went on following
    the id, so whoever made a chat under it next (here bob, by seed 003's conversation_id) had
    his steps sent to alice's socket and his messages to her SSE stream. Deleting one message
    of a chat ends nothing."""
    from httpx_sse import connect_sse

    chat_id = "deleted-then-reused"
    sse_events: list[Any] = []
    sse_open = threading.Event()
    # Alice's client is closed however the test ends (only her token is used after that): a
    # stream the server keeps alive would otherwise hold its reader thread, and the run, for good.

    def follow_sse() -> None:
        # From the start (the headers go out with the first event: the replayed history).
        replay = {"Last-Event-ID": "0"}
        with connect_sse(
            alice, "GET", f"/chat/{chat_id}/stream", headers=replay, timeout=httpx.Timeout(30)
        ) as source:
            sse_open.set()
            with contextlib.suppress(httpx.HTTPError):  # the client closed below, on a failure
                sse_events.extend(source.iter_sse())  # until the server ends the stream

    try:
        async with connect(live, alice, chat_id) as ws:
            await ws.send(json.dumps({"type": "client", "message": "mine", "message_id": "m"}))
            await frames_until_end(ws)
            sse_reader = asyncio.get_running_loop().run_in_executor(None, follow_sse)
            await asyncio.wait(
                [sse_reader, asyncio.ensure_future(asyncio.to_thread(sse_open.wait, FRAME_SECONDS))],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if sse_reader.done():
                await sse_reader  # it failed before it opened: say how
            assert sse_open.is_set()
            await asyncio.sleep(0.3)  # both follow live
            first = (await asyncio.to_thread(alice.get, f"/chat/{chat_id}/messages")).json()[0]["id"]
            removed = await asyncio.to_thread(alice.delete, f"/api/workflows/{chat_id}/messages/{first}")
            assert removed.status_code == 200, removed.text
            await ws.send(json.dumps({"type": "client", "message": "still here", "message_id": "m2"}))
            turn = await frames_until_end(ws)
            assert turn[-1]["type"] == "message_end" and turn[-1]["message_id"] == "m2"
            assert any(f.get("message") == "still here" for f in turn if f["type"] == "agent_step")

            assert (await asyncio.to_thread(alice.delete, f"/chat/{chat_id}")).status_code == 204
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS))
                    assert frame == {
                        "type": "agent_error",
                        "error": "The chat was deleted.",
                        "chat_id": chat_id,
                    }
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
            await asyncio.wait_for(sse_reader, FRAME_SECONDS)  # the SSE stream ended too
    finally:
        alice.close()
    kinds = [e.event for e in sse_events]
    assert "message_deleted" in kinds and kinds.count("status") >= 2  # it went on after that
    assert (sse_events[-1].event, json.loads(sse_events[-1].data)) == (
        "error",
        {"detail": "The chat was deleted.", "code": "gone"},
    )

    reply = await asyncio.to_thread(
        bob.post, "/chat/run", json={"message": "bob's", "conversation_id": chat_id}
    )
    assert reply.status_code == 200, reply.text
    # Alice's socket on the id now answers as for another user's chat.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(live, alice, chat_id):
            pass
    assert refused.value.response.status_code == 403
