"""The A2A translator (uai/dialects/a2a_events.py), fed a run's events as the sink numbers them:
the StreamResponses it says, the task a run is, the push notification bodies."""

from __future__ import annotations

import datetime
import uuid
from types import SimpleNamespace
from typing import Any

from a2a.types import a2a_pb2
from google.protobuf.json_format import ParseDict

from uai.dialects import a2a_events as a2a

RUN = uuid.UUID("12345678123456781234567812345678")


def event(seq: int, kind: str, **data: Any) -> Any:
    return {"seq": seq, "type": kind, "chat_id": "c1", "run_id": str(RUN), "data": data, "created_at": ""}


def status(seq: int, value: str, **more: Any) -> Any:
    fields = {"progress": 0.0, "current_step": "", "error": None, "output": None, "input_prompt": None}
    fields.update(more)
    return event(seq, "status", status=value, estimated_completion_time=None, **fields)


def step(seq: int, step_type: str, content: str) -> Any:
    return event(seq, "step", step_type=step_type, content=content)


def artifact(seq: int, name: str, origin: str = "agent") -> Any:
    url = f"/chat/c1/artifacts/a{seq}/download"
    return event(
        seq, "artifact", id=f"a{seq}", name=name, media_type="text/plain", origin=origin, download_url=url
    )


def told(events: list[Any]) -> list[dict[str, Any]]:
    translator = a2a.A2AEvents(RUN, base_url="http://uai.test")
    return [out for e in events for out in translator.feed(e)]


def kind(response: dict[str, Any]) -> str:
    return next(iter(response))


A_TURN = [
    status(1, "queued"),
    event(2, "message", message={}),
    status(3, "running"),
    step(4, "PlanningStep", "plan"),
    event(5, "delta", text="Hel"),
    step(6, "ActionStep", "act"),
    event(7, "delta", text="lo"),
    artifact(8, "report.txt"),
    artifact(9, "upload.txt", origin="user"),
    event(10, "log", level="info", message="x", source="agent"),
    step(11, "FinalAnswerStep", "Hello there"),
    status(12, "succeeded", output="Hello there"),
    event(13, "delta", text="after the end"),
]


def test_a2a_events__a_turn_in_a2a_words() -> None:
    said = told(A_TURN)
    assert [(kind(r), a2a.seq_of(r)) for r in said] == [
        ("statusUpdate", 1),
        ("statusUpdate", 3),
        ("statusUpdate", 4),
        ("artifactUpdate", 5),
        ("statusUpdate", 6),
        ("artifactUpdate", 7),
        ("artifactUpdate", 8),
        ("artifactUpdate", 11),
        ("statusUpdate", 12),
    ]
    states = [r["statusUpdate"]["status"]["state"] for r in said if kind(r) == "statusUpdate"]
    assert states == [a2a.SUBMITTED, a2a.WORKING, a2a.WORKING, a2a.WORKING, a2a.COMPLETED]
    plan = said[2]["statusUpdate"]["status"]["message"]
    assert plan["role"] == "ROLE_AGENT" and plan["parts"][0]["text"] == "plan"
    assert plan["parts"][0]["metadata"] == {"uai": {"seq": 4, "type": "PlanningStep"}}
    chunks = [
        r["artifactUpdate"]
        for r in said
        if r.get("artifactUpdate", {}).get("artifact", {}).get("name") == "answer"
    ]
    assert [(c["artifact"]["parts"][0]["text"], c["append"], c["lastChunk"]) for c in chunks] == [
        ("Hel", False, False),
        ("lo", True, False),
        (" there", True, True),  # what the deltas did not say
    ]
    file = said[6]["artifactUpdate"]["artifact"]
    assert file["parts"] == [
        {
            "url": "http://uai.test/chat/c1/artifacts/a8/download",
            "mediaType": "text/plain",
            "filename": "report.txt",
        }
    ]
    for response in said:  # each one a StreamResponse of A2A 1.0
        ParseDict(response, a2a_pb2.StreamResponse())


def test_a2a_events__an_answer_that_does_not_continue_its_deltas_replaces_them() -> None:
    said = told([status(1, "running"), event(2, "delta", text="thinking…"), step(3, "FinalAnswerStep", "42")])
    last = said[-1]["artifactUpdate"]
    assert (last["artifact"]["parts"][0]["text"], last["append"], last["lastChunk"]) == ("42", False, True)


def test_a2a_events__a_question_ends_the_answer_and_asks_once() -> None:
    said = told(
        [
            status(1, "running"),
            event(2, "delta", text="Let me "),
            event(3, "input_required", prompt="Which colour?"),
            status(4, "input_required", input_prompt="Which colour?"),
            event(5, "input", text="blue"),
            status(6, "running"),
            step(7, "FinalAnswerStep", "Blue."),
            status(8, "failed", error="the paint ran out"),
        ]
    )
    assert [(kind(r), a2a.seq_of(r)) for r in said] == [
        ("statusUpdate", 1),
        ("artifactUpdate", 2),
        ("artifactUpdate", 3),  # the answer so far ends: lastChunk
        ("statusUpdate", 3),  # the question, once (its status event says nothing more)
        ("statusUpdate", 6),
        ("artifactUpdate", 7),
        ("statusUpdate", 8),
    ]
    assert said[2]["artifactUpdate"]["lastChunk"] and said[2]["artifactUpdate"]["append"]
    asked = said[3]["statusUpdate"]["status"]
    assert asked["state"] == a2a.INPUT_REQUIRED and asked["message"]["parts"][0]["text"] == "Which colour?"
    assert said[5]["artifactUpdate"]["artifact"]["artifactId"] == "answer-2"
    failed = said[6]["statusUpdate"]["status"]
    assert failed["state"] == a2a.FAILED and failed["message"]["parts"][0]["text"] == "the paint ran out"


def test_a2a_events__a_stream_resumed_is_the_replay_after_its_cursor() -> None:
    translator = a2a.A2AEvents(RUN, "c1")
    assert not translator.stopped_after(0)
    whole = told(A_TURN)
    again = told(A_TURN)
    assert whole == again  # deterministic
    resumed = [r for r in again if a2a.seq_of(r) > 6]
    assert resumed == whole[5:]
    for e in A_TURN:
        translator.feed(e)
    assert translator.stopped_after(11)


def test_a2a_events__the_task_a_run_is() -> None:
    run = SimpleNamespace(
        id=RUN,
        chat_id="c1",
        status="succeeded",
        updated_at=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        input_prompt="",
        error="",
    )
    messages = [
        SimpleNamespace(
            id=uuid.uuid4(), seq=2, role="user", content="hi", step_type=None, client_message_id="m1"
        ),
        SimpleNamespace(
            id=uuid.uuid4(),
            seq=11,
            role="agent",
            content="Hello there",
            step_type="FinalAnswerStep",
            client_message_id="",
        ),
    ]
    task = a2a.task_of(run, events=A_TURN, messages=messages, history_length=None, base_url="")
    ParseDict(task, a2a_pb2.Task())
    assert task["status"] == {"state": a2a.COMPLETED, "timestamp": "2026-01-02T03:04:05.000000Z"}
    assert {a["name"]: a["parts"][0].get("text") for a in task["artifacts"]} == {
        "answer": "Hello there",
        "report.txt": None,
    }
    assert [(m["role"], m["messageId"]) for m in task["history"]] == [
        ("ROLE_USER", "m1"),
        ("ROLE_AGENT", str(messages[1].id)),
    ]
    assert task["metadata"] == {"uai": {"seq": 13}}
    short = a2a.task_of(run, events=None, messages=messages, history_length=1, base_url="")
    assert len(short["history"]) == 1 and "artifacts" not in short and "metadata" not in short
    assert "history" not in a2a.task_of(run, events=None, messages=messages, history_length=0, base_url="")


def test_a2a_events__push_bodies_are_the_stream() -> None:
    webhook = SimpleNamespace(run_id=RUN)
    push = a2a.PushFormat(webhook, base_url="https://uai.example.com")
    bodies = [body for e in A_TURN for body in push.feed(e)]
    assert [a2a.seq_of(b) for b in bodies] == [a2a.seq_of(r) for r in told(A_TURN)]
    assert bodies[6]["artifactUpdate"]["artifact"]["parts"][0]["url"].startswith("https://uai.example.com/")
    assert bodies[-1]["statusUpdate"]["contextId"] == "c1"


def test_a2a_events__a_stream_resumed_at_the_question_stops_at_its_wait() -> None:
    # run_request_input stores the question (3) and then the input_required status (4): a client
    # resuming after the question's number must still see its stream stop, at the wait.
    translator = a2a.A2AEvents(RUN, "c1")
    for e in [
        status(1, "running"),
        event(2, "delta", text="Let me "),
        event(3, "input_required", prompt="Which colour?"),
        status(4, "input_required", input_prompt="Which colour?"),
    ]:
        translator.feed(e)
    assert translator.stopped_after(3) and not translator.stopped_after(4)


def test_a2a_events__an_ended_task_stops_whatever_the_cursor() -> None:
    # A cursor read after the run ended may be its final event's number: nothing follows it.
    translator = a2a.A2AEvents(RUN, "c1")
    for e in A_TURN:
        translator.feed(e)
    assert translator.stopped_after(12) and translator.stopped_after(13)


def test_a2a_events__one_event_saying_two_responses_gives_the_first_a_cursor() -> None:
    said = told([status(1, "running"), event(2, "delta", text="Let me "), status(3, "failed", error="x")])
    cursors = [a2a.cursor_of(r) for r in said]
    assert cursors == ["1", "2", "3.0", "3"]  # the answer's end, then the end: both of event 3
    assert [a2a.is_after(3, i, a2a.parse_cursor("3.0") or (0, None)) for i in (0, 1)] == [False, True]
    assert not a2a.is_after(3, 1, (3, None)) and a2a.is_after(4, 0, (3, None))
    assert [a2a.parse_cursor(raw) for raw in (7, "7", "7.1", "7.", "x", "-1", True, "1" * 19)] == [
        (7, None),
        (7, None),
        (7, 1),
        None,
        None,
        None,
        None,
        None,
    ]


def test_a2a_events__an_answer_that_is_its_last_round_only_continues_the_artifact() -> None:
    # text, a tool call, more text, and an answer of the last round only (answer_text's rounds)
    translator = a2a.A2AEvents(RUN, "c1")
    said = [
        r
        for e in [
            status(1, "running"),
            event(2, "delta", text="Let me look. "),
            step(3, "ActionStep", "called the tool"),
            event(4, "delta", text="It is 4"),
            step(5, "FinalAnswerStep", "It is 42."),
        ]
        for r in translator.feed(e)
    ]
    last = said[-1]["artifactUpdate"]
    assert (last["artifact"]["parts"][0]["text"], last["append"], last["lastChunk"]) == ("2.", True, True)
    assert translator.outputs["answer"]["parts"][0]["text"] == "Let me look. It is 42."
