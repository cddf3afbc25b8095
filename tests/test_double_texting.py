"""Double-texting: a message sent while the chat's turn is going is enqueued, rejected, or
interrupts or rolls back that turn — the chat's choice or the request's — on every surface that
starts turns, with two messages sent at once (real clients, against the live server).

The agent is ``slow``: a message ``{"steps": N, "delay": s}`` keeps its turn going N × s seconds,
a log line per step.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import websockets

from tests.conftest import token_of, wait_for, wait_run, ws_url

LONG = json.dumps({"steps": 40, "delay": 0.1})  # ~4 s: still going when the other message comes
SHORT = json.dumps({"steps": 1, "delay": 0.05})
FRAME_SECONDS = 15


def _chat(client: httpx.Client, **fields: Any) -> str:
    response = client.post("/chat/", json={"agent": "slow", **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def call(fn: Callable[[], Any]) -> Any:
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(call, calls))


def _messages(client: httpx.Client, chat: str) -> list[dict[str, Any]]:
    response = client.get(f"/chat/{chat}/messages")
    assert response.status_code == 200, response.text
    return list(response.json())


def _user_texts(client: httpx.Client, chat: str) -> list[str]:
    return [m["content"] for m in _messages(client, chat) if m["role"] == "user"]


def _stop(client: httpx.Client, *run_ids: str) -> None:
    """Cancel turns a test left going (their worker slot is the next test's)."""
    for run_id in run_ids:
        client.delete(f"/run/{run_id}")


def _settled(chat: str) -> None:
    """Wait until no job of the chat's turns is left to run or running: a cancelled turn's
    worker writes its last events after the cancel, and the next test's flush must not meet them."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    jobs = ProcrastinateJob.objects.filter(lock=f"chat:{chat}", status__in=["todo", "doing"])
    wait_for(lambda: not jobs.exists())


def _runs_by_message(client: httpx.Client, chat: str) -> list[str]:
    """The run ids of the chat's user messages, in the chat's order."""
    return [m["run_id"] for m in _messages(client, chat) if m["role"] == "user"]


# --- REST -----------------------------------------------------------------------------------------


def test_rest__reject_runs_exactly_one_of_two_messages_sent_at_once(alice: httpx.Client) -> None:
    chat = _chat(alice, double_texting="reject")
    assert alice.get(f"/chat/{chat}").json()["double_texting"] == "reject"

    def send(text: str) -> httpx.Response:
        return alice.post(f"/chat/{chat}?wait=false", json={"text": text})

    first, second = _at_once(lambda: send(LONG), lambda: send(LONG))
    assert sorted([first.status_code, second.status_code]) == [202, 409], (first.text, second.text)
    accepted, refused = (first, second) if first.status_code == 202 else (second, first)
    body = refused.json()
    assert body["code"] == "conflict"
    assert body["run_id"] == accepted.json()["run_id"]
    assert "reject" in body["detail"]
    # Exactly one turn: one user message, and it is the accepted turn's.
    assert _runs_by_message(alice, chat) == [accepted.json()["run_id"]]
    # The request overrides the chat: enqueued behind the going turn.
    queued = alice.post(f"/chat/{chat}?wait=false", json={"text": SHORT, "double_texting": "enqueue"})
    assert queued.status_code == 202, queued.text
    _stop(alice, accepted.json()["run_id"])
    assert wait_run(alice, queued.json()["run_id"], "succeeded")["status"] == "succeeded"
    # Nothing going: accepted again.
    done = alice.post(f"/chat/{chat}", json={"text": SHORT})
    assert done.status_code == 200 and done.json()["status"] == "succeeded", done.text
    _settled(chat)


def test_rest__interrupt_cancels_the_going_turn_and_keeps_what_it_did(alice: httpx.Client) -> None:
    chat = _chat(alice)  # the server's default: enqueue; the request asks for interrupt
    first = alice.post(f"/chat/{chat}?wait=false", json={"text": LONG}).json()["run_id"]
    wait_for(lambda: alice.get(f"/run/{first}/logs").json())  # it has done something
    second = alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": "interrupt"})
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "succeeded"
    assert alice.get(f"/run/{first}").json()["status"] == "cancelled"
    assert alice.get(f"/run/{first}/logs").json(), "the interrupted turn's logs are kept"
    assert _user_texts(alice, chat) == [LONG, SHORT]
    _settled(chat)


def test_rest__interrupt_of_two_messages_at_once_keeps_the_later(alice: httpx.Client) -> None:
    chat = _chat(alice, double_texting="interrupt")
    sent = _at_once(
        lambda: alice.post(f"/chat/{chat}?wait=false", json={"text": LONG}),
        lambda: alice.post(f"/chat/{chat}?wait=false", json={"text": LONG}),
    )
    assert [r.status_code for r in sent] == [202, 202], [r.text for r in sent]
    earlier, later = _runs_by_message(alice, chat)  # in the order the server took them
    assert {earlier, later} == {r.json()["run_id"] for r in sent}
    assert wait_run(alice, earlier, "cancelled")["status"] == "cancelled"
    assert wait_run(alice, later, "running")["status"] == "running"  # started once the other stopped
    _stop(alice, later)
    _settled(chat)


def test_rest__rollback_deletes_the_going_turn_and_a_resuming_stream_goes_on(alice: httpx.Client) -> None:
    chat = _chat(alice, double_texting="rollback")
    sent = _at_once(
        lambda: alice.post(f"/chat/{chat}?wait=false", json={"text": LONG}),
        lambda: alice.post(f"/chat/{chat}?wait=false", json={"text": SHORT}),
    )
    (kept,) = _runs_by_message(alice, chat)  # the earlier turn and its message are gone
    for response in sent:
        # Either accepted (202), or rolled back before its answer was written: a 409 naming it.
        assert response.status_code in (202, 409), response.text
    gone = next(r.json()["run_id"] for r in sent if r.json()["run_id"] != kept)
    refused = [r.json() for r in sent if r.status_code == 409]
    assert all(body["run_id"] == gone and "rolled back" in body["detail"] for body in refused), refused
    assert alice.get(f"/run/{gone}").status_code == 404
    assert wait_run(alice, kept, "succeeded")["status"] == "succeeded"
    messages = _messages(alice, chat)
    assert all(m["run_id"] == kept for m in messages)
    assert [m["role"] for m in messages] == ["user", "agent"]
    # The chat's stream, resumed from before the deleted turn: it goes on with what followed,
    # and says which messages were deleted.
    with alice.stream("GET", f"/chat/{chat}/stream", headers={"Last-Event-ID": "0"}) as stream:
        events = []
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("type") == "status" and events[-1]["data"].get("status") == "succeeded":
                    break
    assert all(e.get("run_id") != gone for e in events)
    deleted = {e["data"]["message_id"] for e in events if e["type"] == "message_deleted"}
    assert len(deleted) == 1  # the earlier turn's user message
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    _settled(chat)


def test_rest__rollback_of_a_running_turn_removes_its_logs(alice: httpx.Client) -> None:
    chat = _chat(alice)
    first = alice.post(f"/chat/{chat}?wait=false", json={"text": LONG}).json()["run_id"]
    wait_for(lambda: alice.get(f"/run/{first}/logs").json())
    second = alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": "rollback"})
    assert second.status_code == 200 and second.json()["status"] == "succeeded", second.text
    assert alice.get(f"/run/{first}/logs").status_code == 404
    assert _user_texts(alice, chat) == [SHORT]
    # The chat's setting changes with PATCH; null is the server's default again.
    patched = alice.patch(f"/chat/{chat}", json={"double_texting": "reject"})
    assert patched.status_code == 200 and patched.json()["double_texting"] == "reject", patched.text
    patched = alice.patch(f"/chat/{chat}", json={"double_texting": None})
    assert patched.json()["double_texting"] == "enqueue"
    _settled(chat)


def test_rest__bad_double_texting_is_a_clear_400(alice: httpx.Client) -> None:
    created = alice.post("/chat/", json={"agent": "slow", "double_texting": "sometimes"})
    assert created.status_code == 400
    assert "double_texting must be one of enqueue, reject, interrupt, rollback" in created.json()["detail"]
    chat = _chat(alice)
    for response in (
        alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": "later"}),
        alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": 3}),
        # (falsy values are refused too, not taken for "not given")
        alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": False}),
        alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": 0}),
        alice.post(f"/chat/{chat}", json={"text": SHORT, "double_texting": ""}),
        alice.patch(f"/chat/{chat}", json={"double_texting": "REJECT"}),
        alice.post("/chat/run", json={"message": SHORT, "double_texting": "x"}),
        alice.post("/chat/stream", json={"message": SHORT, "double_texting": "x"}),
    ):
        assert response.status_code == 400, response.text
        assert "double_texting must be one of" in response.json()["detail"]
    assert _messages(alice, chat) == []


# --- SSE ------------------------------------------------------------------------------------------


def test_sse__reject_streams_one_turn_and_refuses_the_other(alice: httpx.Client) -> None:
    chat = _chat(alice)

    def send() -> tuple[int, Any]:
        body = {"text": LONG, "double_texting": "reject"}
        headers = {"Accept": "text/event-stream"}
        with alice.stream("POST", f"/chat/{chat}", json=body, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                return response.status_code, response.json()
            for line in response.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["type"] == "status":
                        return 200, event["run_id"]
        raise AssertionError("the stream ended without the turn's status")

    results = _at_once(send, send)
    assert sorted(code for code, _ in results) == [200, 409], results
    (running,) = [run_id for code, run_id in results if code == 200]
    (refused,) = [body for code, body in results if code == 409]
    assert refused["run_id"] == running and refused["code"] == "conflict"
    assert _runs_by_message(alice, chat) == [running]
    _stop(alice, running)
    _settled(chat)


# --- seed 001: the WebSocket --------------------------------------------------------------------


async def _frames(ws: Any, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while not until(got):
        got.append(json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS)))
    return got


async def test_ws__reject_answers_the_second_frame_with_agent_error(live: str, alice: httpx.Client) -> None:
    url = ws_url(live, f"/chat/ws-reject?agent=slow&token={token_of(alice)}")
    async with websockets.connect(url) as ws:
        for message_id in ("m-1", "m-2"):  # back to back: the second comes while the first's turn goes
            frame = {"type": "client", "message": LONG, "message_id": message_id, "double_texting": "reject"}
            await ws.send(json.dumps(frame))
        frames = await _frames(ws, lambda got: any(f["type"] == "agent_error" for f in got))
    (error,) = [f for f in frames if f["type"] == "agent_error"]
    assert error["code"] == "conflict" and error["message_id"] == "m-2", error
    runs = await asyncio.to_thread(_runs_by_message, alice, "ws-reject")
    assert runs == [error["run_id"]]
    await asyncio.to_thread(_stop, alice, error["run_id"])
    await asyncio.to_thread(_settled, "ws-reject")


async def test_ws__interrupt_ends_the_first_turn_and_runs_the_second(live: str, alice: httpx.Client) -> None:
    url = ws_url(live, f"/chat/ws-interrupt?agent=slow&token={token_of(alice)}")
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "client", "message": LONG, "message_id": "m-1"}))
        await ws.send(
            json.dumps(
                {"type": "client", "message": SHORT, "message_id": "m-2", "double_texting": "interrupt"}
            )
        )
        frames = await _frames(ws, lambda got: sum(f["type"] == "message_end" for f in got) == 2)
        # A value the server does not know: an agent_error, and the socket stays.
        await ws.send(
            json.dumps({"type": "client", "message": SHORT, "message_id": "m-3", "double_texting": 1})
        )
        (bad,) = await _frames(ws, lambda got: bool(got))
    assert [f["message_id"] for f in frames if f["type"] == "message_end"] == ["m-1", "m-2"]
    assert bad["type"] == "agent_error" and bad["code"] == "invalid" and bad["message_id"] == "m-3"
    first, second = await asyncio.to_thread(_runs_by_message, alice, "ws-interrupt")
    assert (await asyncio.to_thread(alice.get, f"/run/{first}")).json()["status"] == "cancelled"
    assert (await asyncio.to_thread(alice.get, f"/run/{second}")).json()["status"] == "succeeded"

    # --- seeds 003 and 004 ------------------------------------------------------------------------------
    await asyncio.to_thread(_settled, "ws-interrupt")


def test_seed_003__chat_run_rejects_and_chat_stream_rolls_back(alice: httpx.Client) -> None:
    chat = "seed3-dt"
    one_second = json.dumps({"steps": 10, "delay": 0.1})

    def run() -> httpx.Response:
        body = {"message": one_second, "conversation_id": chat, "agent": "slow", "double_texting": "reject"}
        return alice.post("/chat/run", json=body)

    both = _at_once(run, run)
    assert sorted(r.status_code for r in both) == [200, 409], [r.text for r in both]
    answered = next(r for r in both if r.status_code == 200).json()
    refused = next(r for r in both if r.status_code == 409).json()
    assert answered["response"] == "Done after 10 steps." and answered["conversation_id"] == chat
    assert refused["code"] == "conflict"
    assert _runs_by_message(alice, chat) == [refused["run_id"]]  # the one that ran
    # A turn going, and /chat/stream rolls it back: deleted, and the new one answers.
    going = alice.post(f"/chat/{chat}?wait=false", json={"text": LONG}).json()["run_id"]
    body = {"message": SHORT, "conversation_id": chat, "double_texting": "rollback"}
    with alice.stream("POST", "/chat/stream", json=body) as stream:
        assert stream.status_code == 200
        chunks = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    assert chunks[-1]["is_final"] is True
    assert "".join(c["content"] for c in chunks) == "Done after 1 steps."
    assert alice.get(f"/run/{going}").status_code == 404
    assert _user_texts(alice, chat) == [one_second, SHORT]
    _settled(chat)


def test_seed_004__inference_rejects_or_interrupts_while_another_answer_goes(alice: httpx.Client) -> None:
    chat = _chat(alice, double_texting="reject")  # one chat, seen through seed 004's routes

    def human(text: str) -> None:
        response = alice.post(
            "/conversations/create", json={"chat_id": chat, "role": "Human", "message": text}
        )
        assert response.status_code == 201, response.text

    human(LONG)
    with alice.stream("GET", f"/conversations/inference/{chat}") as first:
        assert first.status_code == 200
        wait_for(lambda: _runs_by_message(alice, chat)[0])
        (going,) = _runs_by_message(alice, chat)
        human(SHORT)
        refused = alice.get(f"/conversations/inference/{chat}")
        assert refused.status_code == 409, refused.text
        assert refused.json()["run_id"] == going and refused.json()["code"] == "conflict"
        assert alice.get(f"/conversations/inference/{chat}?double_texting=never").status_code == 400
        with alice.stream("GET", f"/conversations/inference/{chat}?double_texting=interrupt") as second:
            assert second.status_code == 200
            chunks = [json.loads(line[5:]) for line in second.iter_lines() if line.startswith("data:")]
    assert "".join(c["content"] for c in chunks) == "Done after 1 steps."
    assert alice.get(f"/run/{going}").json()["status"] == "cancelled"
    runs = _runs_by_message(alice, chat)
    assert runs[0] == going and runs[1] not in (going, None)
    _settled(chat)
