"""The one translator under AG-UI and the AI SDK stream (uai/dialects/ui_events.py), fed a run's
events as the sink numbers them: what each protocol's encoder is told."""

from __future__ import annotations

import uuid
from typing import Any

from uai.dialects import ui_events as ui

RUN = uuid.UUID("12345678123456781234567812345678")
HEX = RUN.hex


def event(seq: int, kind: str, **data: Any) -> Any:
    return {"seq": seq, "type": kind, "chat_id": "c1", "run_id": str(RUN), "data": data, "created_at": ""}


def status(seq: int, value: str, **more: Any) -> Any:
    fields = {"progress": 0.0, "current_step": "", "error": None, "output": None, "input_prompt": None}
    fields.update(more)
    return event(seq, "status", status=value, estimated_completion_time=None, **fields)


def step(seq: int, step_type: str, content: str, **data: Any) -> Any:
    return event(seq, "step", step_type=step_type, content=content, **({"data": data} if data else {}))


def told(events: list[Any], segment: int = 0) -> list[ui.UiEvent]:
    translator = ui.UiEvents(RUN, segment, base_url="http://uai.test")
    said = [out for e in events for out in translator.feed(e)]
    return said


def test_a_turn_streams_its_text_and_ends_with_the_answers_rest() -> None:
    said = told(
        [
            status(1, "queued"),
            status(2, "running"),
            event(3, "delta", text="Hel"),
            event(4, "delta", text="lo"),
            step(5, "FinalAnswerStep", "Hello there"),
            status(6, "succeeded", output="Hello there"),
        ]
    )
    text = f"msg_{HEX}_3"
    assert said == [
        ui.RunStart(1, str(RUN), "c1"),
        ui.TextStart(3, text),
        ui.TextDelta(3, text, "Hel"),
        ui.TextDelta(4, text, "lo"),
        ui.TextDelta(5, text, " there"),
        ui.TextEnd(5, text),
        ui.Finish(6, "succeeded", None, "Hello there"),
    ]


def test_steps_and_tool_calls_end_the_text_before_them_and_pair_by_call_id() -> None:
    said = told(
        [
            status(1, "running"),
            event(2, "delta", text="Let me look."),
            step(3, "PlanningStep", "look it up"),
            step(
                4, "ActionStep", "Calling tool lookup({})", tool="lookup", call_id="c-9", arguments='{"q": 1}'
            ),
            step(5, "ActionStep", "Observation from lookup: 42", tool="lookup", call_id="c-9", result=42),
            step(6, "FinalAnswerStep", "It is 42."),
            status(7, "succeeded"),
        ]
    )
    kinds = [type(e).__name__ for e in said]
    assert kinds == [
        "RunStart",
        "TextStart",
        "TextDelta",
        "TextEnd",
        "StepStart",
        "StepEnd",
        "ToolCall",
        "ToolResult",
        "TextStart",
        "TextDelta",
        "TextEnd",
        "Finish",
    ]
    assert said[4] == ui.StepStart(3, f"step_{HEX}_3", "PlanningStep", "look it up", True)
    assert said[6] == ui.ToolCall(4, "c-9", "lookup", '{"q": 1}', False)
    assert said[7] == ui.ToolResult(5, "c-9", "lookup", "42")
    assert said[9] == ui.TextDelta(6, f"msg_{HEX}_6", "It is 42.")


def test_a_result_without_a_call_id_answers_the_oldest_call_of_its_tool() -> None:
    said = told(
        [
            status(1, "running"),
            step(2, "ActionStep", "Calling tool add", tool="add"),
            step(3, "ActionStep", "Observation from add: 3", tool="add", result="3"),
            step(4, "ActionStep", "search: x", tool="search", arguments={"q": "x"}, result=["a"]),
        ]
    )
    calls = [e for e in said if isinstance(e, ui.ToolCall | ui.ToolResult)]
    assert calls == [
        ui.ToolCall(2, f"call_{HEX}_2", "add", "{}", False),
        ui.ToolResult(3, f"call_{HEX}_2", "add", "3"),
        ui.ToolCall(4, f"call_{HEX}_4", "search", '{"q": "x"}', False),  # a result alone: both
        ui.ToolResult(4, f"call_{HEX}_4", "search", '["a"]'),
    ]


def test_state_is_a_snapshot_then_json_patches() -> None:
    said = told(
        [
            status(1, "running"),
            event(2, "state", state={"count": 1, "items": ["a"]}),
            event(3, "state", state={"count": 2, "items": ["a"], "done/ok": True}),
        ]
    )
    assert said[1] == ui.State(2, {"count": 1, "items": ["a"]}, None)
    assert said[2] == ui.State(
        3,
        {"count": 2, "items": ["a"], "done/ok": True},
        [{"op": "replace", "path": "/count", "value": 2}, {"op": "add", "path": "/done~1ok", "value": True}],
    )


def test_a_question_ends_the_segment_and_its_answer_starts_the_next() -> None:
    run = [
        status(1, "running"),
        event(2, "delta", text="Hmm"),
        event(3, "input_required", prompt="Who is asking?"),
        status(4, "input_required", input_prompt="Who is asking?"),
        event(5, "message", message={}),
        event(6, "input", text="Ann"),
        status(7, "running"),
        step(8, "FinalAnswerStep", "Hi Ann"),
        status(9, "succeeded"),
    ]
    first = told(run)
    assert first[-2:] == [
        ui.TextEnd(3, f"msg_{HEX}_2"),
        ui.Interrupt(3, f"int_{HEX}_1", "Who is asking?", None),
    ]
    second = told(run, segment=1)
    assert second == [
        ui.RunStart(6, str(RUN), "c1"),
        ui.TextStart(8, f"msg_{HEX}_8"),
        ui.TextDelta(8, f"msg_{HEX}_8", "Hi Ann"),
        ui.TextEnd(8, f"msg_{HEX}_8"),
        ui.Finish(9, "succeeded", None, None),
    ]
    assert ui.parse_interrupt_id(f"int_{HEX}_1") == (RUN, 1)
    assert ui.parse_interrupt_id(f"int_{HEX}_0") is None and ui.parse_interrupt_id("int_x_1") is None


def test_a_front_end_tool_call_is_a_client_call_and_an_interrupt_that_carries_it() -> None:
    call = {"id": "call_abc", "name": "confirm", "arguments": '{"ok": true}'}
    said = told(
        [
            status(1, "running"),
            step(2, "ActionStep", "Calling tool confirm", tool="confirm", call_id="call_abc", client=True),
            event(3, "input_required", prompt="Run the tool confirm", tool_call=call),
        ]
    )
    assert said[1] == ui.ToolCall(2, "call_abc", "confirm", "{}", True)
    assert said[2] == ui.Interrupt(3, f"int_{HEX}_1", "Run the tool confirm", call)
    # The next segment, after the front end's result: no result of its own tool told back to it.
    result = step(
        6,
        "ActionStep",
        "Observation from confirm: yes",
        tool="confirm",
        call_id="call_abc",
        result="yes",
        client=True,
    )
    went_on = told([event(4, "input", text="yes"), result, status(7, "succeeded")], segment=1)
    assert went_on == [ui.RunStart(4, str(RUN), "c1"), ui.Finish(7, "succeeded", None, None)]


def test_artifacts_get_absolute_urls_and_failures_their_error() -> None:
    artifact = {
        "id": "a1",
        "name": "r.txt",
        "origin": "agent",
        "download_url": "/run/x/artifacts/a1/download",
    }
    upload = {**artifact, "id": "a0", "origin": "user"}
    said = told(
        [
            status(1, "running"),
            event(2, "artifact", **upload),
            event(3, "artifact", **artifact),
            event(4, "progress", progress=50.0, current_step="half", estimated_completion_time=None),
            event(5, "log", level="warning", message="careful", source="agent"),
            status(6, "failed", error="ValueError: boom"),
            status(7, "running"),
        ]
    )
    assert said[1] == ui.ArtifactOut(
        3, {**artifact, "download_url": "http://uai.test/run/x/artifacts/a1/download"}
    )
    assert said[2:] == [
        ui.ProgressOut(4, 50.0, "half"),
        ui.LogOut(5, "warning", "careful", "agent"),
        ui.Finish(6, "failed", "ValueError: boom", None),
    ]


def test_json_patch_turns_one_state_into_the_other() -> None:
    before = {"a": {"b": 1, "c": [1]}, "gone": 1, "same": "x"}
    after = {"a": {"b": 2, "c": [1, 2]}, "same": "x", "new": None}
    assert ui.json_patch(before, after) == [
        {"op": "remove", "path": "/gone"},
        {"op": "replace", "path": "/a/b", "value": 2},
        {"op": "replace", "path": "/a/c", "value": [1, 2]},
        {"op": "add", "path": "/new", "value": None},
    ]
    assert ui.json_patch({"n": 1}, {"n": True}) == [{"op": "replace", "path": "/n", "value": True}]
    assert ui.json_patch({"n": [1]}, {"n": [1]}) == []
