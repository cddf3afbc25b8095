"""SSE streams: /chat/{id}/stream, /run/{id}/stream and the SSE turn, with resume, via httpx-sse."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import httpx

from tests.conftest import cancel_run, collect, wait_for


def is_status(*statuses: str) -> Any:
    def check(sse: Any) -> bool:
        return sse.event == "status" and json.loads(sse.data)["data"]["status"] in statuses

    return check


def test_sse__chat_stream_follows_live_then_resumes_exactly(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    received: list[Any] = []

    def listen() -> None:
        # Last-Event-ID 0: whatever happens before this listener is subscribed is replayed.
        received.extend(
            collect(
                alice,
                "GET",
                f"/chat/{session}/stream",
                headers={"Last-Event-ID": "0"},
                until=is_status("succeeded"),
            )
        )

    listener = threading.Thread(target=listen)
    listener.start()
    threading.Event().wait(0.3)
    assert alice.post(f"/chat/{session}", json={"text": "5*5"}).status_code == 200
    listener.join(20)
    kinds = [e.event for e in received]
    assert "message" in kinds and kinds.count("step") == 3 and kinds[-1] == "status"
    ids = [int(e.id) for e in received]
    assert ids == sorted(ids)
    finals = [json.loads(e.data)["data"] for e in received if e.event == "step"]
    assert finals[-1]["content"] == "25"

    # A second turn, then a client resuming from the middle of the first one.
    alice.post(f"/chat/{session}", json={"text": "1+2"})
    middle = ids[len(ids) // 2]
    resumed = collect(
        alice,
        "GET",
        f"/chat/{session}/stream",
        headers={"Last-Event-ID": str(middle)},
        until=lambda e: (
            e.event == "status"
            and json.loads(e.data)["data"]["status"] == "succeeded"
            and int(e.id) > ids[-1]
        ),
    )
    resumed_ids = [int(e.id) for e in resumed]
    assert resumed_ids == list(range(middle + 1, resumed_ids[-1] + 1))  # no gap, no duplicate
    same = collect(
        alice,
        "GET",
        f"/chat/{session}/stream?last_event_id={middle}",
        until=lambda e: int(e.id) == resumed_ids[-1],
    )
    assert [e.data for e in same] == [e.data for e in resumed]


def test_sse__run_stream_from_start_to_end(alice: httpx.Client) -> None:
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 3, "delay": 0.1}}).json()["task_id"]
    events = collect(alice, "GET", f"/run/{task}/stream", until=lambda e: False)  # ends by itself
    kinds = [e.event for e in events]
    assert kinds.count("log") == 3 and kinds.count("progress") == 3
    assert json.loads(events[-1].data)["data"]["status"] == "succeeded"
    assert json.loads(events[-1].data)["data"]["output"]["steps"] == 3
    # After the fact, from a number: the rest, then the end.
    later = collect(
        alice, "GET", f"/run/{task}/stream", headers={"Last-Event-ID": events[2].id}, until=lambda e: False
    )
    assert [e.id for e in later] == [e.id for e in events[3:]]
    # From its last event (as an EventSource reconnects when a stream closes): nothing will ever
    # come, and 204 is what stops an EventSource from reconnecting. It waited forever.
    done = alice.get(f"/run/{task}/stream", headers={"Last-Event-ID": events[-1].id}, timeout=10)
    assert (done.status_code, done.content) == (204, b"")


def test_sse__a_cancelled_runs_stream_after_its_end(alice: httpx.Client) -> None:
    """Events can follow a run's final status (what a cancelled agent still wrote, a client's
    log): reconnecting after that status, the stream waited forever for an end gone by."""
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 50, "delay": 0.1}}).json()["task_id"]
    wait_for(lambda: alice.get(f"/run/{task}").json()["progress"] > 0)
    cancel_run(alice, task)  # and its job aborted: nothing writes while the test's data is flushed
    events = collect(alice, "GET", f"/run/{task}/stream", until=lambda e: False)
    assert json.loads(events[-1].data)["data"]["status"] == "cancelled"
    assert alice.post(f"/run/{task}/logs", json={"message": "after the end"}).status_code == 201
    done = alice.get(f"/run/{task}/stream", headers={"Last-Event-ID": events[-1].id}, timeout=10)
    assert done.status_code == 204


def test_sse__a_turns_run_stream_after_its_end(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    turn = alice.post(f"/chat/{session}", json={"text": "hi"}).json()
    run_id = turn["messages"][0]["run_id"]
    events = collect(alice, "GET", f"/run/{run_id}/stream", until=lambda e: False)
    assert json.loads(events[-1].data)["data"]["status"] == "succeeded"
    done = alice.get(f"/run/{run_id}/stream?last_event_id={events[-1].id}", timeout=10)
    assert done.status_code == 204


def test_sse__followers_hold_no_database_connection(alice: httpx.Client) -> None:
    """More open streams than the server's connection pool holds, and a turn still runs: each
    stream's request kept the connection of its look-ups until the stream closed."""
    from django.conf import settings

    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]
    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    assert alice.post(f"/chat/{session}", json={"text": "first"}).status_code == 200
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 50, "delay": 0.2}}).json()["task_id"]
    with contextlib.ExitStack() as streams:
        for i in range(pool + 4):  # each replays from the start: its first bytes come at once
            path = f"/chat/{session}/stream?last_event_id=0" if i % 2 else f"/run/{task}/stream"
            response = streams.enter_context(alice.stream("GET", path, timeout=httpx.Timeout(8)))
            assert response.status_code == 200
        reply = alice.post(f"/chat/{session}", json={"text": "still served"}, timeout=20)
        assert reply.status_code == 200
        assert reply.json()["messages"][-1]["content"] == "still served"
    cancel_run(alice, task)


def test_sse__turn_streams_when_asked(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    events = collect(
        alice,
        "POST",
        f"/chat/{session}",
        json={"text": "3*3"},
        headers={"Accept": "text/event-stream"},
        until=lambda e: False,
    )
    assert events[0].event == "message"
    assert json.loads(events[0].data)["data"]["message"]["content"] == "3*3"
    steps = [json.loads(e.data)["data"]["step_type"] for e in events if e.event == "step"]
    assert steps == ["PlanningStep", "ActionStep", "FinalAnswerStep"]
    assert json.loads(events[-1].data)["data"]["status"] == "succeeded"


def test_sse__gap_after_retention_is_reported(alice: httpx.Client) -> None:
    from uai.runs.models import Event

    session = alice.post("/chat/", json={}).json()["session_id"]
    for text in ["a", "b"]:
        alice.post(f"/chat/{session}", json={"text": text})
    Event.objects.filter(chat_id=session, seq__lte=4).delete()  # as retention would
    events = collect(
        alice,
        "GET",
        f"/chat/{session}/stream",
        headers={"Last-Event-ID": "1"},
        until=lambda e: e.event != "gap",
    )
    gap = json.loads(events[0].data)
    assert events[0].event == "gap"
    assert gap["data"]["first_seq"] == 5
    assert int(events[1].id) == 5


def test_sse__refused_before_the_first_byte(live: str, alice: httpx.Client, bob: httpx.Client) -> None:
    session = alice.post("/chat/", json={}).json()["session_id"]
    with httpx.Client(base_url=live) as anonymous:
        response = anonymous.get(f"/chat/{session}/stream")
        assert response.status_code == 401
        assert response.json()["detail"]
    assert bob.get(f"/chat/{session}/stream").status_code == 404
    assert bob.get("/run/00000000-0000-0000-0000-000000000000/stream").status_code == 404
    bad = alice.get(f"/chat/{session}/stream", headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 400
    assert "Last-Event-ID" in bad.json()["detail"]
