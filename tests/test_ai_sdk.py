"""The AI SDK's UI message stream (``useChat``) from UAI agents: ``/ai-sdk/{agent}``, resume, stop.

Each stream is read as the AI SDK's ``DefaultChatTransport`` reads it (``data:`` JSON parts, then
``[DONE]``), checked part by part against the protocol (``check_parts``), and assembled into the
assistant message as ``useChat`` assembles it (``assemble``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.agents_ai_sdk import REPORT, TICKS
from tests.conftest import register, wait_for, wait_run

Part = dict[str, Any]
STREAM_TIMEOUT = httpx.Timeout(60)
FINISH_REASONS = {"stop", "length", "content-filter", "tool-calls", "error", "interrupted", "other"}
# The fields every part of a type must carry (the `ai` package's uiMessageChunkSchema).
REQUIRED: dict[str, dict[str, type | None]] = {
    "start": {},
    "start-step": {},
    "finish-step": {},
    "finish": {},
    "abort": {},
    "text-start": {"id": str},
    "text-delta": {"id": str, "delta": str},
    "text-end": {"id": str},
    "reasoning-start": {"id": str},
    "reasoning-delta": {"id": str, "delta": str},
    "reasoning-end": {"id": str},
    "tool-input-available": {"toolCallId": str, "toolName": str, "input": None},
    "tool-output-available": {"toolCallId": str, "output": None},
    "file": {"url": str, "mediaType": str},
    "error": {"errorText": str},
}


@pytest.fixture
def agents(live: str) -> None:
    register("ai-works", "tests.agents_ai_sdk:works")
    register("ai-tool", "tests.agents_ai_sdk:uses_a_tool")
    register("ai-ticker", "tests.agents_ai_sdk:ticker")
    register("ai-long", "tests.agents_ai_sdk:long_ticker")
    register("ai-asks", "tests.agents_ai_sdk:asks")
    register("ai-breaks", "tests.agents_ai_sdk:breaks")
    register("ai-files", "tests.agents_ai_sdk:reads_files", accepts_files=True)
    register("ai-locates", "tests.agents_ai_sdk:locates")


# --- reading streams ---------------------------------------------------------------------------------


def user_message(text: str, *files: Part) -> Part:
    return {
        "id": f"u-{uuid.uuid4().hex[:8]}",
        "role": "user",
        "parts": [{"type": "text", "text": text}, *files],
    }


def chat_body(chat_id: str, *messages: Part) -> Part:
    """A request body as ``DefaultChatTransport`` sends it."""
    return {"id": chat_id, "messages": list(messages), "trigger": "submit-message", "messageId": None}


def new_chat() -> str:
    return f"ai-{uuid.uuid4().hex[:12]}"


@contextmanager
def ui_stream(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Iterator[Iterator[Part]]:
    """The parts of a UI message stream as they come (the response checked first); the stream
    must end with ``[DONE]`` when it is read to its end."""
    with client.stream(method, path, timeout=STREAM_TIMEOUT, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
        assert response.headers["content-type"].startswith("text/event-stream")

        def parts() -> Iterator[Part]:
            done = False
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    assert line == "" or line.startswith(":"), line  # blank lines and keep-alives
                    continue
                assert not done, "nothing after [DONE]"
                if line == "data: [DONE]":
                    done = True
                    continue
                yield json.loads(line[len("data: ") :])
            assert done, "the stream ends with [DONE]"

        yield parts()


def read_all(client: httpx.Client, method: str, path: str, **kwargs: Any) -> list[Part]:
    with ui_stream(client, method, path, **kwargs) as parts:
        return list(parts)


def post_turn(client: httpx.Client, agent: str, chat_id: str, *messages: Part) -> list[Part]:
    return read_all(client, "POST", f"/ai-sdk/{agent}", json=chat_body(chat_id, *messages))


def check_parts(parts: list[Part], *, answered: tuple[str, ...] = ()) -> None:
    """The parts make a valid UI message stream: known types with their fields, ``start`` first,
    steps, texts and reasonings opened before they go on and closed before the end, tool outputs
    after their calls (or ``answered``: calls of an earlier stream), nothing after the end."""
    assert parts and parts[0]["type"] == "start", parts[:1]
    texts: set[str] = set()
    reasonings: set[str] = set()
    calls = set(answered)
    in_step = False
    ended = False
    for part in parts:
        kind = part["type"]
        assert not ended, f"{kind} after the end"
        if kind.startswith("data-"):
            assert "data" in part
        else:
            assert kind in REQUIRED, kind
            for name, typ in REQUIRED[kind].items():
                assert name in part, (kind, name)
                assert typ is None or isinstance(part[name], typ), (kind, name)
        if kind == "start-step":
            assert not in_step
            in_step = True
        elif kind == "finish-step":
            assert in_step and not texts and not reasonings
            in_step = False
        elif kind in ("text-start", "reasoning-start"):
            assert in_step
            (texts if kind == "text-start" else reasonings).add(part["id"])
        elif kind in ("text-delta", "text-end"):
            assert part["id"] in texts
            if kind == "text-end":
                texts.remove(part["id"])
        elif kind in ("reasoning-delta", "reasoning-end"):
            assert part["id"] in reasonings
            if kind == "reasoning-end":
                reasonings.remove(part["id"])
        elif kind == "tool-input-available":
            calls.add(part["toolCallId"])
        elif kind == "tool-output-available":
            assert part["toolCallId"] in calls
        elif kind == "finish":
            assert part.get("finishReason") in FINISH_REASONS
            ended = True
        elif kind == "abort":
            ended = True
    assert ended and not in_step and not texts and not reasonings


def assemble(parts: list[Part]) -> Part:
    """The assistant message ``useChat`` builds from the parts (its processUIMessageStream)."""
    message: Part = {"id": None, "parts": [], "errors": [], "finishReason": None, "aborted": False}
    active: dict[str, Part] = {}
    for part in parts:
        kind = part["type"]
        if kind == "start":
            message["id"] = part.get("messageId") or message["id"]
        elif kind == "start-step":
            message["parts"].append({"type": "step-start"})
        elif kind in ("text-start", "reasoning-start"):
            active[part["id"]] = {"type": kind.split("-")[0], "text": ""}
            message["parts"].append(active[part["id"]])
        elif kind in ("text-delta", "reasoning-delta"):
            active[part["id"]]["text"] += part["delta"]
        elif kind == "tool-input-available":
            typ = "dynamic-tool" if part.get("dynamic") else f"tool-{part['toolName']}"
            call = {"type": typ, "toolCallId": part["toolCallId"], "input": part["input"]}
            message["parts"].append(call | {"state": "input-available"})
        elif kind == "tool-output-available":
            (call,) = [p for p in message["parts"] if p.get("toolCallId") == part["toolCallId"]]
            call.update(state="output-available", output=part["output"])
        elif kind == "file":
            message["parts"].append({"type": "file", "url": part["url"], "mediaType": part["mediaType"]})
        elif kind.startswith("data-") and not part.get("transient"):
            same = [
                p
                for p in message["parts"]
                if p["type"] == kind and "id" in part and p.get("id") == part["id"]
            ]
            if same:
                same[0]["data"] = part["data"]
            else:
                message["parts"].append({k: v for k, v in part.items() if k != "transient"})
        elif kind == "error":
            message["errors"].append(part["errorText"])
        elif kind == "finish":
            message["finishReason"] = part.get("finishReason")
        elif kind == "abort":
            message["aborted"] = True
    return message


def kinds(parts: list[Part]) -> list[str]:
    return [p["type"] for p in parts]


def shape(parts: list[Part]) -> list[str]:
    """The parts' types, a run of text deltas as one (deltas written close together are one event)."""
    out: list[str] = []
    for kind in kinds(parts):
        if not (kind == "text-delta" and out and out[-1] == kind):
            out.append(kind)
    return out


def texts_of(message: Part, kind: str = "text") -> list[str]:
    return [p["text"] for p in message["parts"] if p["type"] == kind]


def chat_run(client: httpx.Client, chat_id: str) -> str:
    """The run of the chat's turns (the only one in these tests)."""
    runs = {m["run_id"] for m in client.get(f"/chat/{chat_id}/messages").json() if m["run_id"]}
    (run_id,) = runs
    return run_id


# --- a turn ------------------------------------------------------------------------------------------


def test_ai_sdk__a_turn_streams_steps_as_reasoning_its_file_and_its_text(
    alice: httpx.Client, agents: None
) -> None:
    chat_id = new_chat()
    parts = post_turn(alice, "ai-works", chat_id, user_message("the garden"))
    check_parts(parts)
    run_id = chat_run(alice, chat_id)
    assert parts[0] == {"type": "start", "messageId": run_id}
    assert shape(parts) == [
        "start",
        "start-step",
        *("reasoning-start", "reasoning-delta", "reasoning-end"),  # the plan
        "data-log",
        "data-progress",
        *("reasoning-start", "reasoning-delta", "reasoning-end"),  # the action
        "data-state",
        "file",
        *("text-start", "text-delta", "text-end"),
        "finish-step",
        "finish",
    ]
    steps = [p for p in parts if p["type"] == "reasoning-start"]
    assert [p["providerMetadata"]["uai"]["stepType"] for p in steps] == ["PlanningStep", "ActionStep"]
    log = next(p for p in parts if p["type"] == "data-log")
    assert log["transient"] and log["data"] == {"level": "info", "message": "planned", "source": "agent"}
    progress = next(p for p in parts if p["type"] == "data-progress")
    assert progress["data"] == {"progress": 50, "currentStep": "looking"}
    message = assemble(parts)
    assert message["finishReason"] == "stop" and not message["errors"]
    assert texts_of(message, "reasoning") == ["plan: look, then write a report", "looked around"]
    assert texts_of(message) == ["Here is the report on the garden."]  # the deltas, then the rest
    assert [p["data"] for p in message["parts"] if p["type"] == "data-state"] == [{"looked": True}]
    (file,) = [p for p in message["parts"] if p["type"] == "file"]
    assert file["mediaType"] == "text/plain"
    assert file["url"].startswith(str(alice.base_url)) and file["url"].endswith("/download")
    assert alice.get(file["url"]).content == REPORT
    # The chat is a UAI chat of the user's, with the agent of the route.
    chat = alice.get(f"/chat/{chat_id}").json()
    assert chat["agent"] == "ai-works" and chat["name"] == "the garden"


def test_ai_sdk__the_agents_tool_calls_are_tool_parts_uai_ran(alice: httpx.Client, agents: None) -> None:
    parts = post_turn(alice, "ai-tool", new_chat(), user_message("Oslo"))
    check_parts(parts)
    call = next(p for p in parts if p["type"] == "tool-input-available")
    result = next(p for p in parts if p["type"] == "tool-output-available")
    assert call == {
        "type": "tool-input-available",
        "toolCallId": "call_weather_1",
        "toolName": "get_weather",
        "input": {"city": "Oslo"},
        "providerExecuted": True,  # run by UAI: no front end runs it or waits to send its result
        "dynamic": True,
    }
    assert result == {
        "type": "tool-output-available",
        "toolCallId": "call_weather_1",
        "output": {"sky": "sunny"},
        "providerExecuted": True,
        "dynamic": True,
    }
    assert texts_of(assemble(parts)) == ["It is sunny in Oslo."]


def test_ai_sdk__an_agent_error_is_an_error_part(alice: httpx.Client, agents: None) -> None:
    parts = post_turn(alice, "ai-breaks", new_chat(), user_message("go"))
    check_parts(parts)
    assert kinds(parts)[-3:] == ["error", "finish-step", "finish"]
    assert "the agent broke on purpose" in parts[-3]["errorText"]
    message = assemble(parts)
    assert message["finishReason"] == "error"
    assert texts_of(message) == ["Almost"] and texts_of(message, "reasoning") == ["about to break"]


def test_ai_sdk__a_second_turn_goes_to_the_same_chat(alice: httpx.Client, agents: None) -> None:
    chat_id = new_chat()
    first = user_message("one")
    post_turn(alice, "ai-tool", chat_id, first)
    answer = {"id": "a-1", "role": "assistant", "parts": [{"type": "text", "text": "It is sunny in one."}]}
    parts = post_turn(alice, "ai-tool", chat_id, first, answer, user_message("two"))
    assert texts_of(assemble(parts)) == ["It is sunny in two."]
    contents = [m["content"] for m in alice.get(f"/chat/{chat_id}/messages").json() if m["role"] == "user"]
    assert contents == ["one", "two"]  # the earlier messages are the chat's already: not added again


def test_ai_sdk__a_new_chat_keeps_the_history_it_was_sent_and_file_parts_are_uploads(
    alice: httpx.Client, agents: None
) -> None:
    chat_id = new_chat()
    data_url = "data:text/plain;base64," + base64.b64encode(b"seeds").decode()
    file = {"type": "file", "mediaType": "text/plain", "filename": "list.txt", "url": data_url}
    earlier = {"id": "a-0", "role": "assistant", "parts": [{"type": "text", "text": "What to plant?"}]}
    parts = post_turn(alice, "ai-files", chat_id, user_message("hi"), earlier, user_message("plant", file))
    assert texts_of(assemble(parts)) == ["plant with list.txt:text/plain=seeds"]
    messages = alice.get(f"/chat/{chat_id}/messages").json()
    assert [(m["role"], m["content"]) for m in messages[:3]] == [
        ("user", "hi"),
        ("agent", "What to plant?"),
        ("user", "plant"),
    ]
    assert [f["name"] for f in messages[2]["files"]] == ["list.txt"]


def test_ai_sdk__regenerate_is_a_new_turn_on_the_same_message(alice: httpx.Client, agents: None) -> None:
    chat_id = new_chat()
    first = user_message("Bergen")
    post_turn(alice, "ai-tool", chat_id, first)
    body = chat_body(chat_id, first) | {"trigger": "regenerate-message"}
    parts = read_all(alice, "POST", "/ai-sdk/ai-tool", json=body)
    assert texts_of(assemble(parts)) == ["It is sunny in Bergen."]
    messages = alice.get(f"/chat/{chat_id}/messages").json()
    turns = {m["run_id"] for m in messages}
    assert len(turns) == 2 and parts[0]["messageId"] in turns  # a new message of a new turn


def test_ai_sdk__the_front_ends_tools_go_with_the_turn(alice: httpx.Client, agents: None) -> None:
    from uai.runs.models import Run

    schema = {"type": "object", "properties": {"unit": {"type": "string"}}}
    tools = [{"name": "get_location", "description": "Where the user is.", "parameters": schema}]
    chat_id = new_chat()
    read_all(alice, "POST", "/ai-sdk/ai-works", json=chat_body(chat_id, user_message("x")) | {"tools": tools})
    assert Run.objects.get(pk=chat_run(alice, chat_id)).request == {"tools": tools}
    # A tool set as the AI SDK writes one ({name: {description, inputSchema}}) is the same list.
    chat_id = new_chat()
    tool_set = {"get_location": {"description": "Where the user is.", "inputSchema": schema}}
    body = chat_body(chat_id, user_message("x")) | {"tools": tool_set}
    read_all(alice, "POST", "/ai-sdk/ai-works", json=body)
    assert Run.objects.get(pk=chat_run(alice, chat_id)).request == {"tools": tools}
    refused = alice.post("/ai-sdk/ai-works", json=chat_body(new_chat(), user_message("x")) | {"tools": [{}]})
    assert refused.status_code == 400


# --- errors before the stream -------------------------------------------------------------------------


def test_ai_sdk__a_bad_request_is_a_4xx_detail_before_any_stream(
    alice: httpx.Client, live: str, agents: None
) -> None:
    chat_id = new_chat()
    file = {"type": "file", "mediaType": "text/plain", "url": "https://example.com/x.txt"}
    for agent, body, status in [
        ("ai-works", {"messages": [user_message("x")]}, 400),  # no id
        ("ai-works", {"id": chat_id, "messages": []}, 400),
        ("ai-works", {"id": chat_id, "messages": [{"role": "user", "content": "x"}]}, 400),  # no parts
        ("ai-works", {"id": chat_id, "messages": [{"role": "user", "parts": [1, "x", {}]}]}, 400),
        (
            "ai-works",
            {"id": chat_id, "messages": [{"role": "assistant", "parts": [{"type": "tool-x"}]}]},
            400,
        ),
        ("ai-works", chat_body(chat_id, user_message("x")) | {"trigger": "guess"}, 400),
        ("ai-works", chat_body("bad id!", user_message("x")), 400),
        ("ai-files", chat_body(chat_id, user_message("x", file)), 400),  # a URL is not fetched
        ("ai-works", chat_body(chat_id, user_message("x", file)), 400),  # takes no files
        ("nobody", chat_body(chat_id, user_message("x")), 404),
    ]:
        response = alice.post(f"/ai-sdk/{agent}", json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) >= {"detail"}
    assert alice.get(f"/chat/{chat_id}").status_code == 404  # nothing was made
    post_turn(alice, "ai-works", chat_id, user_message("x"))
    other_agent = alice.post("/ai-sdk/ai-tool", json=chat_body(chat_id, user_message("y")))
    assert other_agent.status_code == 400 and "ai-works" in other_agent.json()["detail"]
    anonymous = httpx.post(f"{live}/ai-sdk/ai-works", json=chat_body(new_chat(), user_message("x")))
    assert anonymous.status_code == 401 and "detail" in anonymous.json()


# --- resume -----------------------------------------------------------------------------------------


def test_ai_sdk__a_dropped_stream_resumes_from_the_turns_start_exactly(
    alice: httpx.Client, agents: None
) -> None:
    chat_id = new_chat()
    assert alice.get(f"/ai-sdk/ai-ticker/{chat_id}/stream").status_code == 204  # no chat yet
    with ui_stream(alice, "POST", "/ai-sdk/ai-ticker", json=chat_body(chat_id, user_message("go"))) as stream:
        before = []
        for part in stream:
            before.append(part)
            if kinds(before).count("text-delta") == 3:
                break
        # A reader that was there all along (opened before the drop, read to the end)…
        whole: list[Part] = []
        reader = threading.Thread(
            target=lambda: whole.extend(read_all(alice, "GET", f"/ai-sdk/ai-ticker/{chat_id}/stream"))
        )
        reader.start()
    # …and one that resumes after the connection dropped: both replay the turn from its start.
    resumed = read_all(alice, "GET", f"/ai-sdk/ai-ticker/{chat_id}/stream")
    reader.join(timeout=60)
    check_parts(resumed)
    assert resumed == whole
    assert resumed[: len(before)] == before  # no part lost or repeated: the same parts, in order
    message = assemble(resumed)
    assert message["id"] == chat_run(alice, chat_id) and message["finishReason"] == "stop"
    ticks = [f"tick{i} " for i in range(TICKS)]
    assert texts_of(message) == ["".join(ticks[: TICKS // 2]), "".join(ticks[TICKS // 2 :])]
    assert texts_of(message, "reasoning") == ["half way"]
    answer = [m for m in alice.get(f"/chat/{chat_id}/messages").json() if m["step_type"] == "FinalAnswerStep"]
    assert [m["content"] for m in answer] == ["".join(ticks)]
    assert alice.get(f"/ai-sdk/ai-ticker/{chat_id}/stream").status_code == 204  # the turn is over


# --- stop ----------------------------------------------------------------------------------------------


def test_ai_sdk__stop_ends_the_turn_within_two_seconds(alice: httpx.Client, agents: None) -> None:
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.runs.models import Run

    chat_id = new_chat()
    with ui_stream(alice, "POST", "/ai-sdk/ai-long", json=chat_body(chat_id, user_message("go"))) as stream:
        parts = []
        for part in stream:
            parts.append(part)
            if part["type"] == "text-delta":
                break
        started = time.monotonic()
        stopped = alice.post(f"/ai-sdk/ai-long/{chat_id}/stop")
        assert stopped.status_code == 200, stopped.text
        parts.extend(stream)  # to the stream's end
        ended = time.monotonic() - started
    run_id = chat_run(alice, chat_id)
    assert stopped.json() == {"chatId": chat_id, "runId": run_id, "stopped": True}
    assert ended < 2
    check_parts(parts)
    assert kinds(parts)[-3:] == ["text-end", "finish-step", "abort"]
    assert wait_run(alice, run_id, "cancelled")["status"] == "cancelled"
    job = Run.objects.get(pk=run_id).job_id
    wait_for(lambda: ProcrastinateJob.objects.get(pk=job).status == "aborted", timeout=2)
    again = alice.post(f"/ai-sdk/ai-long/{chat_id}/stop")  # nothing left to stop
    assert again.json() == {"chatId": chat_id, "runId": run_id, "stopped": False}
    assert alice.get(f"/ai-sdk/ai-long/{chat_id}/stream").status_code == 204


# --- questions -----------------------------------------------------------------------------------------


def test_ai_sdk__a_question_is_a_tool_call_whose_output_continues_the_same_run(
    alice: httpx.Client, agents: None
) -> None:
    chat_id = new_chat()
    user = user_message("hi")
    asked = post_turn(alice, "ai-asks", chat_id, user)
    check_parts(asked)
    run_id = chat_run(alice, chat_id)
    call = next(p for p in asked if p["type"] == "tool-input-available")
    assert call == {
        "type": "tool-input-available",
        "toolCallId": f"int_{uuid.UUID(run_id).hex}_1",
        "toolName": "uai_input",
        "input": {"question": "Who is asking?"},
    }
    assert kinds(asked)[-2:] == ["finish-step", "finish"] and asked[-1]["finishReason"] == "tool-calls"
    assert wait_run(alice, run_id, "input_required")["status"] == "input_required"
    # A reload while the run waits: the resumed stream is the turn so far, the question last.
    assert read_all(alice, "GET", f"/ai-sdk/ai-asks/{chat_id}/stream") == asked

    # useChat's addToolOutput puts the output in the tool part and sends the message back.
    message = assemble(asked)
    tool_part = next(p for p in message["parts"] if p["type"] == "tool-uai_input")
    tool_part.update(state="output-available", output="Alice")
    assistant = {"id": message["id"], "role": "assistant", "parts": message["parts"]}
    wrong = {**tool_part, "toolCallId": "int_0_1"}
    refused = alice.post("/ai-sdk/ai-asks", json=chat_body(chat_id, user, {**assistant, "parts": [wrong]}))
    assert refused.status_code == 400 and "int_" in refused.json()["detail"]
    with ui_stream(alice, "POST", "/ai-sdk/ai-asks", json=chat_body(chat_id, user, assistant)) as stream:
        went_on = [next(stream)]
        # A reload half way: the resumed stream rebuilds the whole turn, question and answer too.
        resumed = read_all(alice, "GET", f"/ai-sdk/ai-asks/{chat_id}/stream")
        went_on.extend(stream)
    check_parts(went_on, answered=(call["toolCallId"],))
    assert went_on[0] == {"type": "start", "messageId": run_id}  # the same message goes on
    continued = assemble(went_on)
    assert texts_of(continued, "reasoning") == ["greeting Alice"]
    assert texts_of(continued) == ["Hello Alice (you said: hi)"]
    assert chat_run(alice, chat_id) == run_id  # the same UAI run went on
    assert wait_run(alice, run_id, "succeeded")["status"] == "succeeded"
    check_parts(resumed)
    assert resumed[: len(asked) - 1] == asked[:-1]  # (the question's finish is the answer there)
    rebuilt = assemble(resumed)
    assert rebuilt["id"] == run_id and rebuilt["finishReason"] == "stop"
    assert rebuilt["parts"] == message["parts"] + continued["parts"]
    answering_again = alice.post("/ai-sdk/ai-asks", json=chat_body(chat_id, user, assistant))
    assert answering_again.status_code == 409  # nothing waits any more


def test_ai_sdk__a_users_message_answers_a_waiting_question_too(alice: httpx.Client, agents: None) -> None:
    chat_id = new_chat()
    user = user_message("hi")
    asked = post_turn(alice, "ai-asks", chat_id, user)
    run_id = chat_run(alice, chat_id)
    assistant = {"id": run_id, "role": "assistant", "parts": assemble(asked)["parts"]}
    # The user types instead of answering the tool call: the message is the answer (as on every
    # surface), and the rest of the run is a message of its own, after the user's.
    went_on = post_turn(alice, "ai-asks", chat_id, user, assistant, user_message("Bob"))
    check_parts(went_on)
    assert went_on[0] == {"type": "start", "messageId": f"{run_id}_1"}
    assert texts_of(assemble(went_on)) == ["Hello Bob (you said: hi)"]
    assert chat_run(alice, chat_id) == run_id


def test_ai_sdk__a_front_end_tool_call_is_answered_with_its_output(alice: httpx.Client, agents: None) -> None:
    chat_id = new_chat()
    user = user_message("where am I?")
    tools = [{"name": "get_location", "description": "Where the user is.", "parameters": {"type": "object"}}]
    body = chat_body(chat_id, user) | {"tools": tools}
    called = read_all(alice, "POST", "/ai-sdk/ai-locates", json=body)
    check_parts(called)
    assert shape(called) == ["start", "start-step", "tool-input-available", "finish-step", "finish"]
    call = called[2]
    assert call == {  # the front end's own tool: a static tool part it runs (onToolCall)
        "type": "tool-input-available",
        "toolCallId": call["toolCallId"],
        "toolName": "get_location",
        "input": {"precision": "city"},
    }
    assert called[-1]["finishReason"] == "tool-calls"
    run_id = chat_run(alice, chat_id)
    assert wait_run(alice, run_id, "input_required")["status"] == "input_required"

    message = assemble(called)
    tool_part = message["parts"][-1]
    tool_part.update(state="output-available", output={"city": "Paris"})
    assistant = {"id": run_id, "role": "assistant", "parts": message["parts"]}
    with ui_stream(
        alice, "POST", "/ai-sdk/ai-locates", json=chat_body(chat_id, user, assistant) | {"tools": tools}
    ) as stream:
        went_on = [next(stream)]
        resumed = read_all(alice, "GET", f"/ai-sdk/ai-locates/{chat_id}/stream")
        went_on.extend(stream)
    check_parts(went_on, answered=(call["toolCallId"],))
    assert "tool-output-available" not in kinds(went_on)  # the front end has its result
    answer = 'You are in {"city": "Paris"} (offered: get_location)'
    assert texts_of(assemble(went_on)) == [answer]
    assert chat_run(alice, chat_id) == run_id
    # A resumed stream says the result the front end gave, as it gave it: once.
    check_parts(resumed)
    outputs = [p for p in resumed if p["type"] == "tool-output-available"]
    assert outputs == [
        {"type": "tool-output-available", "toolCallId": call["toolCallId"], "output": {"city": "Paris"}}
    ]
    assert assemble(resumed)["parts"] == message["parts"] + assemble(went_on)["parts"]


# --- users ----------------------------------------------------------------------------------------------


def test_ai_sdk__another_user_cannot_drive_resume_or_stop_a_chat(
    alice: httpx.Client, bob: httpx.Client, agents: None
) -> None:
    chat_id = new_chat()
    with ui_stream(alice, "POST", "/ai-sdk/ai-long", json=chat_body(chat_id, user_message("go"))) as stream:
        next(stream)
        drive = bob.post("/ai-sdk/ai-long", json=chat_body(chat_id, user_message("mine now")))
        resume = bob.get(f"/ai-sdk/ai-long/{chat_id}/stream")
        stop = bob.post(f"/ai-sdk/ai-long/{chat_id}/stop")
        for response in (drive, resume, stop):
            assert response.status_code == 404, response.text
            assert response.json()["detail"] == "Chat not found."
        run_id = chat_run(alice, chat_id)
        assert alice.get(f"/run/{run_id}").json()["status"] == "running"
        assert alice.post(f"/ai-sdk/ai-long/{chat_id}/stop").json()["stopped"]
    assert [m["content"] for m in alice.get(f"/chat/{chat_id}/messages").json() if m["role"] == "user"] == [
        "go"
    ]


# --- one chat ---------------------------------------------------------------------------------------------


def test_ai_sdk__a_chat_driven_here_reads_the_same_on_every_surface(
    alice: httpx.Client, agents: None
) -> None:
    # A UAI chat made and driven natively (seed 000), then driven through the AI SDK route.
    chat_id = alice.post("/chat", json={"agent": "ai-works", "name": "garden"}).json()["id"]
    first = alice.post(f"/chat/{chat_id}", json={"text": "the shed", "wait": True})
    assert first.status_code == 200, first.text
    before = alice.get(f"/chat/{chat_id}/messages").json()
    earlier = [
        user_message("the shed"),
        {"id": "a-1", "role": "assistant", "parts": [{"type": "text", "text": before[-1]["content"]}]},
    ]
    parts = post_turn(alice, "ai-works", chat_id, *earlier, user_message("the garden"))
    message = assemble(parts)
    native = alice.get(f"/chat/{chat_id}/messages").json()
    assert native[: len(before)] == before  # the earlier messages are the chat's: not added again
    # The turn's stream and the chat's messages tell the same: the user's text, the steps, the answer.
    assert [(m["role"], m["step_type"], m["content"]) for m in native[len(before) :]] == [
        ("user", None, "the garden"),
        ("agent", "PlanningStep", texts_of(message, "reasoning")[0]),
        ("agent", "ActionStep", texts_of(message, "reasoning")[1]),
        ("agent", "FinalAnswerStep", texts_of(message)[0]),
    ]
    # Seed 001's /history (the WebSocket's conversation read back) is the same messages, both turns.
    history = alice.get(f"/history/{chat_id}").json()
    assert len(history) == 8
    assert [(h["role"], h["step_type"], h["content"]) for h in history] == [
        ({"user": "user", "agent": "agent"}[m["role"]], m["step_type"], m["content"]) for m in native
    ]
    assert [h["timestamp"] for h in history] == [m["created_at"][:19].replace("T", " ") for m in native]
