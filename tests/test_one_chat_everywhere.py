"""One chat with every kind of event, read back through every surface (README: "One chat everywhere").

Recorded by real clients: the chat is created through seed 004, a turn that fails is sent through
seed 003's stream, and a turn with steps, text deltas, logs, an artifact, a figure and a question is
sent — and its question answered — through seed 001's WebSocket, which follows the chat throughout.

The chat's native event stream (seed 000's SSE, replayed from the start) is the record. As in
Zulip's tests, which replay captured events onto old state and compare with a fresh fetch, each
surface's view is computed from that record with the surface's documented mapping and must equal
what the surface serves: the same entries, in the same order, with the same contents and step
types, in its own terms (its roles, its field names).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import httpx
from httpx_sse import connect_sse
from websockets.sync.client import ClientConnection, connect

from tests.conftest import register_agent, token_of, ws_url
from tests.everything_agent import CANVAS

FRAME_SECONDS = 15
FAILURE = "RuntimeError: out of paint"
ANSWER = "Painted it blue."
TURN_ENDS = ("input_required", "succeeded", "failed", "cancelled")  # what ends a turn's stream

Events = list[dict[str, Any]]  # the record: the chat's native stream events, in order

# The record, as the agent makes it (tests/everything_agent.py). Text deltas are coalesced as
# they are written, so consecutive ones are joined here; queued/running statuses are left out.
RECORD = [
    ("user", "fail"),
    ("ActionStep", "checking the brushes"),
    ("log", "warning", "the brushes are dry"),
    ("text", "Trying anyway…"),
    ("stats", "turn"),
    ("end", "failed", FAILURE),
    ("user", "paint"),
    ("PlanningStep", "plan: prepare a canvas, ask for a colour, paint"),
    ("log", "info", "planned"),
    ("text", "Let me paint. "),
    ("ActionStep", "canvas()"),
    ("artifact", "canvas.txt"),
    ("stats", "run"),
    ("InputRequestStep", "Which colour?"),
    ("end", "input_required", None),
    ("user", "blue"),
    ("input", "blue"),
    ("log", "info", "colour: blue"),
    ("text", ANSWER),
    ("FinalAnswerStep", ANSWER),
    ("stats", "turn"),
    ("end", "succeeded", None),
]

ROLES_001 = {"user": "user", "agent": "agent"}  # /history: two roles
ROLES_002 = {"user": "user", "agent": "assistant"}  # workflows: UAI's agent is the assistant


def transcript(events: Events) -> list[tuple[Any, ...]]:
    """The record's entries as RECORD writes them."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        kind, data = event["type"], event["data"]
        if kind == "message":
            out.append((data["message"]["role"], data["message"]["content"]))
        elif kind == "step":
            out.append((data["step_type"], data["content"]))
        elif kind == "input_required":
            out.append(("InputRequestStep", data["prompt"]))
        elif kind == "log":
            out.append(("log", data["level"], data["message"]))
        elif kind == "delta" and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + data["text"])
        elif kind == "delta":
            out.append(("text", data["text"]))
        elif kind == "artifact":
            out.append(("artifact", data["name"]))
        elif kind == "stats":
            out.append(("stats", data["name"]))
        elif kind == "input":
            out.append(("input", data["text"]))
        elif kind == "status" and data["status"] in TURN_ENDS:
            out.append(("end", data["status"], data["error"]))
    return out


def messages_of(events: Events) -> list[dict[str, Any]]:
    """The messages the record's events carry: users' messages, steps and questions."""
    return [e["data"]["message"] for e in events if e["type"] in ("message", "step", "input_required")]


def frames_of(events: Events, message_ids: dict[str, str]) -> list[dict[str, Any]]:
    """Seed 001's frames for the record (README, WebSocket): a step or a question is an
    ``agent_step``; a turn's end (or its question) a ``message_end``, after an ``agent_error``
    when the agent failed; every other event has no frame."""
    frames: list[dict[str, Any]] = []
    for event in events:
        kind, data = event["type"], event["data"]
        base = {"chat_id": event["chat_id"], "seq": event["seq"], "message_id": message_ids[event["run_id"]]}
        if kind == "step":
            frames.append(
                {"type": "agent_step", "step_type": data["step_type"], "message": data["content"], **base}
            )
        elif kind == "input_required":
            frames.append(
                {"type": "agent_step", "step_type": "InputRequestStep", "message": data["prompt"], **base}
            )
        elif kind == "status" and data["status"] == "failed":
            frames += [
                {"type": "agent_error", "error": data["error"], **base},
                {"type": "message_end", **base},
            ]
        elif kind == "status" and data["status"] in TURN_ENDS:
            frames.append({"type": "message_end", **base})
    return frames


def chunks_of(events: Events, run_id: str, after: int) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    """Seed 003/004's stream of a turn after ``after``: one chunk per text delta (its ``id`` the
    event's number), up to the status that ends the turn (the final chunk's ``id``)."""
    deltas = []
    for event in events:
        if event["run_id"] != run_id or event["seq"] <= after:
            continue
        if event["type"] == "delta":
            deltas.append((event["seq"], event["data"]["text"]))
        if event["type"] == "status" and event["data"]["status"] in TURN_ENDS:
            return deltas, event
    raise AssertionError(f"run {run_id} has no end after {after}")


def sse(client: httpx.Client, method: str, path: str, **kwargs: Any) -> list[tuple[int, dict[str, Any]]]:
    """A seed 003/004 stream's chunks as (id, data), to its end."""
    with connect_sse(client, method, path, timeout=httpx.Timeout(30), **kwargs) as source:
        assert source.response.status_code == 200, source.response.read()
        return [(int(e.id), json.loads(e.data)) for e in source.iter_sse()]


def check_chunks(
    chunks: list[tuple[int, dict[str, Any]]],
    expected: tuple[list[tuple[int, str]], dict[str, Any]],
    final: str,
) -> None:
    """A stream's chunks are the turn's deltas, then a final chunk with ``final`` (what the deltas
    did not carry) and the turn's end in its metrics (and its error, if it failed)."""
    deltas, end = expected
    assert [(i, c["content"], c["is_final"], c["metrics"]) for i, c in chunks[:-1]] == [
        (seq, text, False, None) for seq, text in deltas
    ]
    last_id, last = chunks[-1]
    assert (last_id, last["content"], last["is_final"]) == (end["seq"], final, True)
    metrics = last["metrics"]
    assert (metrics["status"], metrics["run_id"], metrics["conversation_id"]) == (
        end["data"]["status"],
        end["run_id"],
        end["chat_id"],
    )
    assert last.get("error") == end["data"]["error"]


def frames_until_end(ws: ClientConnection, ends: int = 1) -> list[dict[str, Any]]:
    """Frames up to and including the ``ends``-th ``message_end``."""
    frames: list[dict[str, Any]] = []
    while ends:
        frames.append(json.loads(ws.recv(timeout=FRAME_SECONDS)))
        if frames[-1]["type"] == "message_end":
            ends -= 1
    return frames


def step_socket(live: str, client: httpx.Client, chat_id: str) -> ClientConnection:
    """Seed 001's WebSocket to the chat, following it from its first event."""
    headers = {"Authorization": f"Bearer {token_of(client)}"}
    return connect(ws_url(live, f"/chat/{chat_id}?after_seq=0"), additional_headers=headers)


def record(
    live: str, client: httpx.Client
) -> tuple[str, list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """Make the chat: created through seed 004, a failing turn through seed 003's stream, then a
    turn through seed 001's WebSocket, its question answered there. Returns the chat's id, the
    failing turn's chunks and the frames the socket received live, from the chat's first event."""
    register_agent("everything", "python", "tests.everything_agent:everything")
    created = client.post("/chats/create", json={"name": "everything", "agent": "everything"})
    assert created.status_code == 201, created.text
    chat_id = created.json()["id"]
    with step_socket(live, client, chat_id) as ws:
        chunks = sse(client, "POST", "/chat/stream", json={"message": "fail", "conversation_id": chat_id})
        frames = frames_until_end(ws)
        # Seed 002 has no entry for an error: a failed last turn is the workflow's state.
        workflow = client.get(f"/api/workflows/{chat_id}").json()
        assert (workflow["status"], workflow["error"]) == ("failed", FAILURE)
        ws.send(json.dumps({"type": "client", "message": "paint", "message_id": "m-paint"}))
        frames += frames_until_end(ws)  # up to the question
        ws.send(json.dumps({"type": "client", "message": "blue", "message_id": "m-blue"}))
        frames += frames_until_end(ws)
    return chat_id, chunks, frames


def native_events(client: httpx.Client, chat_id: str) -> Events:
    """The chat's events from its start (``GET /chat/{id}/stream``, ``Last-Event-ID: 0``), to the
    end of its last turn."""
    events: Events = []
    path = f"/chat/{chat_id}/stream"
    with connect_sse(
        client, "GET", path, headers={"Last-Event-ID": "0"}, timeout=httpx.Timeout(30)
    ) as source:
        for sent in source.iter_sse():
            events.append(json.loads(sent.data))
            assert (int(sent.id), sent.event) == (events[-1]["seq"], events[-1]["type"])
            if sent.event == "status" and events[-1]["data"]["status"] == "succeeded":
                return events
    raise AssertionError(f"the stream ended before the last turn did: {events}")


def check_native(client: httpx.Client, chat_id: str, events: Events) -> list[dict[str, Any]]:
    """Seed 000's REST reads: messages, each run's logs, status and artifacts. Returns the messages."""

    def entry(m: dict[str, Any]) -> tuple[Any, ...]:
        return (m["id"], m["seq"], m["run_id"], m["role"], m["step_type"], m["content"], m["message_id"])

    native = client.get(f"/chat/{chat_id}/messages").json()
    assert [entry(m) for m in native] == [entry(m) for m in messages_of(events)]
    runs = list(dict.fromkeys(e["run_id"] for e in events))
    logs = [e["data"] for e in events if e["type"] == "log"]
    assert [log for run in runs for log in client.get(f"/run/{run}/logs").json()] == logs
    for run in runs:
        end = [e["data"] for e in events if e["run_id"] == run and e["type"] == "status"][-1]
        shown = client.get(f"/run/{run}").json()
        assert (shown["status"], shown["error"], shown["output"]) == (
            end["status"],
            end["error"],
            end["output"],
        )
    assert shown["output"] == ANSWER

    artifacts = [e["data"] for e in events if e["type"] == "artifact"]
    listed = client.get(f"/chat/{chat_id}/artifacts").json()
    assert [(a["id"], a["name"], a["media_type"], a["size"], a["run_id"]) for a in listed] == [
        (a["id"], a["name"], a["media_type"], a["size"], a["run_id"]) for a in artifacts
    ]
    assert client.get(f"/run/{runs[-1]}/artifacts").json() == listed
    assert client.get(listed[0]["download_url"]).content == CANVAS
    # What the agent made during a turn is attached to its answer: in the record's answer step,
    # and in REST (the artifact event came before there was an answer to name).
    answer = messages_of(events)[-1]
    assert [f["id"] for f in answer["files"]] == [f["id"] for f in native[-1]["files"]] == [listed[0]["id"]]
    assert listed[0]["message_id"] == native[-1]["id"]
    return native


def check_seed_001(
    live: str,
    client: httpx.Client,
    chat_id: str,
    events: Events,
    native: list[dict[str, Any]],
    frames: list[dict[str, Any]],
) -> None:
    """The WebSocket's frames, live and replayed from 0, are the record's steps, questions, ends
    and errors (seed 001 has no frame for a log, a delta or an artifact); ``/history`` is the
    messages, in two roles (no logs, no errors: its format has neither)."""
    message_ids: dict[str, str] = {}  # a turn's: the client's id for its first message, or that message's id
    for m in native:
        if m["role"] == "user":
            message_ids.setdefault(m["run_id"], m["message_id"] or m["id"])
    assert list(message_ids.values())[-1] == "m-paint"
    assert frames == frames_of(events, message_ids)
    with step_socket(live, client, chat_id) as ws:
        assert frames_until_end(ws, ends=3) == frames
    history = client.get(f"/history/{chat_id}").json()
    assert [(h["role"], h["step_type"], h["content"], h["timestamp"]) for h in history] == [
        (ROLES_001[m["role"]], m["step_type"], m["content"], seconds(m["created_at"])) for m in native
    ]


def check_seed_002(client: httpx.Client, chat_id: str, events: Events, native: list[dict[str, Any]]) -> None:
    """The workflow, its messages and logs, and chatData's four arrays are the native ones in
    seed 002's terms (roles user/assistant, camelCase, Unix seconds), in the record's order."""

    messages = [
        {"id": m["id"], "seq": m["seq"], "runId": m["run_id"], "role": ROLES_002[m["role"]]}
        | {"stepType": m["step_type"], "content": m["content"], "messageId": m["message_id"]}
        | {"timestamp": unix(m["created_at"])}
        for m in native
    ]
    logs = [
        {"id": str(x["id"]), "seq": x["seq"], "runId": x["run_id"], "level": x["level"]}
        | {
            "message": x["message"],
            "source": x["source"],
            "data": x["data"],
            "timestamp": unix(x["created_at"]),
        }
        for x in (e["data"] for e in events if e["type"] == "log")
    ]
    workflow = client.get(f"/api/workflows/{chat_id}").json()
    assert (workflow["status"], workflow["error"]) == ("completed", None)  # its last turn's
    assert workflow["messageIds"] == [m["id"] for m in messages]
    assert workflow["logIds"] == [x["id"] for x in logs]
    assert like(client.get(f"/api/workflows/{chat_id}/messages").json(), messages) == messages
    assert like(client.get(f"/api/workflows/{chat_id}/logs").json(), logs) == logs

    data = client.get(f"/api/chat/playground/{chat_id}/chatData").json()
    assert like(data["messages"], messages) == messages
    assert like(data["logs"], logs) == logs
    stats = [(e["seq"], e["data"]["name"], e["data"]["data"]) for e in events if e["type"] == "stats"]
    assert [(s["seq"], s["name"], s["data"]) for s in data["stats"]] == stats
    artifacts = {e["data"]["id"]: e["seq"] for e in events if e["type"] == "artifact"}
    assert [(d["id"], d["name"], d["messageId"]) for d in data["documents"]] == [
        (f["id"], f["name"], native[-1]["id"]) for f in native[-1]["files"]
    ]
    assert [f["id"] for f in data["messages"][-1]["files"]] == list(artifacts)
    # "Unified chat data ... in chronological order", "all sorted by _createdAt": merged into
    # one timeline by _createdAt, the four arrays are in the record's order (README: "a later
    # entry never has an earlier _createdAt").
    timeline = [(x["_createdAt"], x["seq"]) for kind in ("messages", "logs", "stats") for x in data[kind]]
    timeline += [(d["_createdAt"], artifacts[d["id"]]) for d in data["documents"]]
    order = [seq for _, seq in sorted(timeline)]
    assert order == sorted(order), f"chatData's entries by _createdAt are, by seq: {order}"


def check_seed_004(client: httpx.Client, chat_id: str, events: Events, native: list[dict[str, Any]]) -> None:
    """The chat, and the answer to its latest Human message replayed as an EventSource resuming
    reads it. Seed 004 lists no conversations: that answer's stream is what it shows of them."""
    assert client.get(f"/chats/{chat_id}").json()["name"] == "everything"
    assert chat_id in [c["id"] for c in client.get("/chats/").json()]
    run = native[-1]["run_id"]
    path = f"/conversations/inference/{chat_id}"
    # From the turn's first message: up to its question, which the final chunk carries (as
    # seed 003 ends a turn that asks) ...
    start = next(m["seq"] for m in native if m["message_id"] == "m-paint")
    asked = sse(client, "GET", path, headers={"Last-Event-ID": str(start)})
    check_chunks(asked, chunks_of(events, run, after=start), final="Which colour?")
    # ... then the answer, whose text the deltas carried: the final chunk does not repeat it.
    answered = sse(client, "GET", path, headers={"Last-Event-ID": str(asked[-1][0])})
    check_chunks(answered, chunks_of(events, run, after=asked[-1][0]), final="")
    # Asked afresh: the answer already given to the latest Human message, not a new run.
    again = sse(client, "GET", path)
    assert [(i, c["content"], c["is_final"]) for i, c in again] == [
        (i, c["content"], c["is_final"]) for i, c in answered
    ]
    over = client.get(path, headers={"Last-Event-ID": str(answered[-1][0])})
    assert (over.status_code, over.content) == (204, b"")
    assert sorted(r["task_id"] for r in client.get("/run/").json()) == sorted({m["run_id"] for m in native})


def like(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with only the fields ``expected`` has."""
    return [{key: row[key] for key in expected[0]} for row in rows]


def seconds(iso: str) -> str:
    """A time as /history writes it: UTC, to the second."""
    return datetime.datetime.fromisoformat(iso).astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def unix(iso: str) -> float:
    """A time as seed 002 writes it: Unix seconds."""
    return datetime.datetime.fromisoformat(iso).timestamp()


def test_one_chat__every_event_reads_the_same_on_every_surface(live: str, alice: httpx.Client) -> None:
    chat_id, failed_chunks, frames = record(live, alice)
    events = native_events(alice, chat_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # numbered without a gap
    assert transcript(events) == RECORD
    native = check_native(alice, chat_id, events)
    check_seed_001(live, alice, chat_id, events, native, frames)
    # Seed 003: the failing turn's text came as deltas; its final chunk adds nothing (there is
    # no answer) and says why the turn ended.
    check_chunks(failed_chunks, chunks_of(events, events[0]["run_id"], after=0), final="")
    check_seed_004(alice, chat_id, events, native)
    check_seed_002(alice, chat_id, events, native)
