"""The AI SDK stream's parts of a run (uai/dialects/ai_sdk_parts.py), fed its events as the sink
numbers them: one segment as a POST streams it, every segment as a resumed stream replays them."""

from __future__ import annotations

import uuid
from typing import Any

from uai.dialects.ai_sdk_parts import RunParts, message_id

RUN = uuid.UUID("12345678123456781234567812345678")
HEX = RUN.hex
CALL = {"id": "call_loc", "name": "get_location", "arguments": '{"precision": "city"}'}


def event(seq: int, kind: str, **data: Any) -> Any:
    return {"seq": seq, "type": kind, "chat_id": "c1", "run_id": str(RUN), "data": data, "created_at": ""}


def status(seq: int, value: str, **more: Any) -> Any:
    fields = {"progress": 0.0, "current_step": "", "error": None, "output": None, "input_prompt": None}
    fields.update(more)
    return event(seq, "status", status=value, estimated_completion_time=None, **fields)


def step(seq: int, content: str, **data: Any) -> Any:
    return event(seq, "step", step_type="ActionStep", content=content, **({"data": data} if data else {}))


# Two questions in one run — a person's, then a front-end tool's — and the answer.
RUN_EVENTS = [
    status(1, "queued"),
    status(2, "running"),
    step(3, "thinking"),
    event(4, "input_required", prompt="Who is asking?"),
    status(5, "input_required", input_prompt="Who is asking?"),
    event(6, "input", text="Ada"),
    status(7, "running"),
    step(
        8,
        "Calling tool get_location",
        tool="get_location",
        call_id="call_loc",
        arguments=CALL["arguments"],
        client=True,
    ),
    event(9, "input_required", prompt="Run the tool get_location", tool_call=CALL),
    status(10, "input_required", input_prompt="Run the tool get_location"),
    event(11, "input", text='{"city": "Paris"}'),
    status(12, "running"),
    step(
        13, "Observation from get_location", tool="get_location", call_id="call_loc", result="x", client=True
    ),
    event(14, "delta", text="Hi Ada in Paris"),
    event(15, "step", step_type="FinalAnswerStep", content="Hi Ada in Paris"),
    status(16, "succeeded", output="Hi Ada in Paris"),
]


def parts(first: int, last: int, events: list[Any] = RUN_EVENTS) -> list[dict[str, Any]]:
    translator = RunParts(RUN, first=first, last=last, message_id=message_id(RUN))
    said = [part for e in events for part in translator.feed(e)]
    assert translator.done
    return said


def types(said: list[dict[str, Any]]) -> list[str]:
    return [p["type"] for p in said]


QUESTION = {
    "type": "tool-input-available",
    "toolCallId": f"int_{HEX}_1",
    "toolName": "uai_input",
    "input": {"question": "Who is asking?"},
}


def test_each_segment_is_a_stream_of_its_own_that_ends_at_its_question() -> None:
    first = parts(0, 0)
    assert first[0] == {"type": "start", "messageId": str(RUN)}
    assert types(first) == [
        "start",
        "start-step",
        *("reasoning-start", "reasoning-delta", "reasoning-end"),
        "tool-input-available",
        "finish-step",
        "finish",
    ]
    assert first[-3] == QUESTION and first[-1] == {"type": "finish", "finishReason": "tool-calls"}
    second = parts(1, 1)
    assert types(second) == ["start", "start-step", "tool-input-available", "finish-step", "finish"]
    assert second[2] == {  # the front end's tool: its own static part, no uai_input call besides
        "type": "tool-input-available",
        "toolCallId": "call_loc",
        "toolName": "get_location",
        "input": {"precision": "city"},
    }
    third = parts(2, 2)
    assert types(third) == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    assert third[-1] == {"type": "finish", "finishReason": "stop"}


def test_a_replay_of_every_segment_says_each_answer_as_the_tool_output_that_gave_it() -> None:
    replay = parts(0, 2)
    assert types(replay) == [
        "start",
        "start-step",
        *("reasoning-start", "reasoning-delta", "reasoning-end"),
        "tool-input-available",
        "finish-step",
        "tool-output-available",  # the person's answer
        "start-step",
        "tool-input-available",
        "finish-step",
        "tool-output-available",  # the tool's result, as the JSON it was given as
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    outputs = [p for p in replay if p["type"] == "tool-output-available"]
    assert outputs == [
        {"type": "tool-output-available", "toolCallId": f"int_{HEX}_1", "output": "Ada"},
        {"type": "tool-output-available", "toolCallId": "call_loc", "output": {"city": "Paris"}},
    ]
    # Each segment's parts are the replay's, but for one start (the message is one).
    assert replay[:7] == parts(0, 0)[:-1]
    assert replay[8:11] == parts(1, 1)[1:-1]
    assert replay[12:] == parts(2, 2)[1:]


def test_a_stopped_or_failed_run_ends_its_stream_as_the_ai_sdk_says() -> None:
    begun = [status(1, "queued"), status(2, "running"), event(3, "delta", text="Hal")]
    stopped = parts(0, 0, [*begun, status(4, "cancelled")])
    assert types(stopped)[-4:] == ["text-delta", "text-end", "finish-step", "abort"]
    failed = parts(0, 0, [*begun, status(4, "failed", error="RuntimeError: no")])
    assert failed[-3:] == [
        {"type": "error", "errorText": "RuntimeError: no"},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "error"},
    ]
