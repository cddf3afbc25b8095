"""AG-UI (``/ag-ui/{agent}``) against the live server: every event it streams is checked against the
``ag-ui-protocol`` models, as AG-UI's own Python SDK writes them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
from ag_ui.core import Event, RunAgentInput
from httpx_sse import connect_sse
from pydantic import BaseModel, TypeAdapter

from tests import agents_agui
from tests.conftest import register, register_agent, wait_for, wait_run
from tests.openai_server import ScriptedOpenAI

EVENT: TypeAdapter[Any] = TypeAdapter(Event)
STREAM_TIMEOUT = httpx.Timeout(30)


def no_extras(model: Any) -> None:
    """A model (and every model in it) holds only fields the protocol names."""
    if isinstance(model, BaseModel):
        assert not model.model_extra, (
            f"{type(model).__name__} has fields the protocol lacks: {model.model_extra}"
        )
        for name in type(model).model_fields:
            no_extras(getattr(model, name))
    elif isinstance(model, list | tuple):
        for item in model:
            no_extras(item)


def checked(data: dict[str, Any]) -> Any:
    """An AG-UI event, validated by the protocol's models: exactly what they would write."""
    model = EVENT.validate_python(data)
    no_extras(model)
    assert model.model_dump(mode="json", by_alias=True) == data
    return model


def run_input(thread: str, *messages: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A RunAgentInput as AG-UI's clients send it (checked against the protocol's model)."""
    body = {
        "threadId": thread,
        "runId": more.pop("runId", str(uuid.uuid4())),
        "state": {},
        "messages": list(messages),
        "tools": [],
        "context": [],
        "forwardedProps": {},
        **more,
    }
    RunAgentInput.model_validate(body)
    return body


def user(text: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "role": "user", "content": text}


def events_of(
    client: httpx.Client, method: str, path: str, *, limit: int | None = None, **kwargs: Any
) -> list[tuple[str | None, dict[str, Any]]]:
    """A stream's (id, event) pairs, every event checked; the first ``limit`` only (then it hangs up)."""
    got: list[tuple[str | None, dict[str, Any]]] = []
    with connect_sse(client, method, path, timeout=STREAM_TIMEOUT, **kwargs) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            data = json.loads(sse.data)
            checked(data)
            got.append((sse.id or None, data))
            if limit is not None and len(got) >= limit:
                break
    return got


def run(client: httpx.Client, agent: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a run; its events (checked)."""
    return [event for _, event in events_of(client, "POST", f"/ag-ui/{agent}", json=body)]


def place(event_id: str | None) -> tuple[int, float]:
    """Where an event id is in its stream: ``N:i`` is the i-th of UAI event N's, ``N`` its last."""
    assert event_id is not None
    seq, _, part = event_id.partition(":")
    return int(seq), float(part) if part else float("inf")


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")


def test_agui__a_text_turn_starts_streams_and_finishes_on_a_new_thread(alice: httpx.Client) -> None:
    thread = f"t-{uuid.uuid4().hex[:8]}"
    body = run_input(thread, user("Hello AG-UI"))
    events = run(alice, "echo", body)
    assert types(events)[0] == "RUN_STARTED" and types(events)[-1] == "RUN_FINISHED"
    assert events[0]["threadId"] == thread and events[0]["runId"] == body["runId"]
    assert events[-1]["threadId"] == thread and events[-1]["runId"] == body["runId"]
    assert "outcome" not in events[-1]  # a success
    assert types(events)[1:-1] == [
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * (len(events) - 4),
        "TEXT_MESSAGE_END",
    ]
    assert events[1]["role"] == "assistant"
    assert text_of(events) == "Hello AG-UI"
    # the thread is a chat of the user's, with that agent
    chat = alice.get(f"/chat/{thread}").json()
    assert chat["agent"] == "echo"


def test_agui__a_file_in_the_users_message_reaches_the_agent(alice: httpx.Client) -> None:
    pixel = b"\x89PNG not really"
    part = {
        "type": "image",
        "source": {"type": "data", "value": base64.b64encode(pixel).decode(), "mimeType": "image/png"},
    }
    message = {**user(""), "content": [{"type": "text", "text": "see this"}, part]}
    events = run(alice, "echo", run_input(str(uuid.uuid4()), message))
    (artifact,) = [e["value"] for e in events if e["type"] == "CUSTOM" and e["name"] == "artifact"]
    assert artifact["media_type"] == "image/png" and alice.get(artifact["download_url"]).content == pixel
    assert text_of(events) == "see this"
    linked = {**part, "source": {"type": "url", "value": "http://example.test/a.png"}}
    refused = alice.post("/ag-ui/echo", json=run_input(str(uuid.uuid4()), {**message, "content": [linked]}))
    assert refused.status_code == 400 and "inline" in refused.json()["detail"]


def test_agui__steps_show_with_their_content_and_a_plan_as_reasoning(alice: httpx.Client) -> None:
    register("agui-plans", "tests.agents_agui:plans")
    events = run(alice, "agui-plans", run_input(str(uuid.uuid4()), user("the answer")))
    assert types(events) == [
        "RUN_STARTED",
        "STEP_STARTED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "STEP_FINISHED",
        "STEP_STARTED",
        "STEP_FINISHED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    plan, act = events[1], events[8]
    assert plan["stepName"] == "PlanningStep" and plan["metadata"] == {
        "content": "plan: look it up, then answer"
    }
    assert events[4]["delta"] == "plan: look it up, then answer"
    assert act["stepName"] == "ActionStep" and act["metadata"] == {"content": "looked it up"}
    assert text_of(events) == "Done: the answer"


def test_agui__a_tool_the_agent_calls_shows_as_a_tool_call_and_its_result(alice: httpx.Client) -> None:
    register("agui-weather", "tests.agents_agui:weather")
    events = run(alice, "agui-weather", run_input(str(uuid.uuid4()), user("weather?")))
    assert types(events) == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    start, args, _, result = events[1:5]
    assert start["toolCallId"] == "call_w1" and start["toolCallName"] == "get_weather"
    assert json.loads(args["delta"]) == {"city": "Paris"}
    assert result["toolCallId"] == "call_w1" and json.loads(result["content"]) == {"forecast": "sunny"}
    assert text_of(events) == "Sunny in Paris."


def test_agui__an_openai_compatible_models_tool_calls_pair_with_their_results(alice: httpx.Client) -> None:
    with ScriptedOpenAI() as model:
        register_agent(
            "agui-chatbot",
            "openai_chat",
            streams=True,
            options={
                "base_url": model.base_url,
                "model": "scripted",
                "api_key_env": "UAI_TEST_OPENAI_KEY",
                "tools": ["tests.agents:get_weather"],
            },
        )
        events = run(alice, "agui-chatbot", run_input(str(uuid.uuid4()), user("what is the weather?")))
    calls = [e for e in events if e["type"].startswith("TOOL_CALL")]
    assert types(calls) == ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"]
    assert {e["toolCallId"] for e in calls} == {"call_1"} and calls[0]["toolCallName"] == "get_weather"
    assert json.loads(calls[1]["delta"]) == {"city": "Paris"} and calls[3]["content"] == "sunny in Paris"
    assert text_of(events).endswith("The weather: sunny in Paris") and types(events)[-1] == "RUN_FINISHED"


def test_agui__state_snapshot_then_delta_artifacts_progress_logs_and_the_state_a_client_sends(
    alice: httpx.Client,
) -> None:
    register("agui-keeper", "tests.agents_agui:keeper")
    thread = str(uuid.uuid4())
    events = run(alice, "agui-keeper", run_input(thread, user("go")))
    states = [e for e in events if e["type"] in ("STATE_SNAPSHOT", "STATE_DELTA")]
    assert states == [
        {"type": "STATE_SNAPSHOT", "snapshot": {"count": 1}},
        {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/done", "value": True}]},
    ]
    custom = {e["name"]: e["value"] for e in events if e["type"] == "CUSTOM"}
    assert custom["progress"] == {"progress": 50.0, "currentStep": "halfway"}
    assert custom["log"]["message"] == "wrote the report" and custom["log"]["level"] == "info"
    artifact = custom["artifact"]
    assert artifact["name"] == "report.txt" and artifact["download_url"].startswith(str(alice.base_url))
    assert alice.get(artifact["download_url"]).content == agents_agui.REPORT
    assert events[-1]["type"] == "RUN_FINISHED" and events[-1]["result"] == "given {}"
    # The state a client sends becomes the chat's before the turn; an empty one leaves it.
    events = run(alice, "agui-keeper", run_input(thread, user("again"), state={"count": 5, "who": "me"}))
    assert events[-1]["result"] == 'given {"count": 5, "who": "me"}'
    assert next(e for e in events if e["type"] == "STATE_SNAPSHOT")["snapshot"] == {"count": 6, "who": "me"}
    events = run(alice, "agui-keeper", run_input(thread, user("once more")))
    assert events[-1]["result"] == 'given {"count": 6, "done": true, "who": "me"}'


def test_agui__a_question_ends_the_run_with_an_interrupt_and_resume_goes_on_with_the_same_run(
    alice: httpx.Client,
) -> None:
    register("agui-greeter", "tests.agents_agui:greeter", asks_input=True)
    thread = str(uuid.uuid4())
    first = run(alice, "agui-greeter", run_input(thread, user("hi")))
    assert types(first) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    (interrupt,) = first[-1]["outcome"]["interrupts"]
    assert first[-1]["outcome"]["type"] == "interrupt"
    assert interrupt["message"] == "What is your name?" and interrupt["reason"] == "input_required"
    run_hex = interrupt["id"].split("_")[1]
    assert interrupt["id"] == f"int_{run_hex}_1"

    resumed = run_input(
        thread, resume=[{"interruptId": interrupt["id"], "status": "resolved", "payload": "Ada"}]
    )
    second = run(alice, "agui-greeter", resumed)
    assert types(second) == ["RUN_STARTED", "RUN_FINISHED"]
    assert second[0]["runId"] == resumed["runId"]
    (again,) = second[-1]["outcome"]["interrupts"]
    assert again == {
        "id": f"int_{run_hex}_2",
        "reason": "input_required",
        "message": "Where do you live, Ada?",
    }
    # each AG-UI run reads again by the client's own run id, a later segment's too
    path = f"/ag-ui/agui-greeter/{thread}/runs/{resumed['runId']}/events"
    assert [event for _, event in events_of(alice, "GET", path)] == second

    # the first interrupt is answered already: refused before any stream
    stale = alice.post(
        "/ag-ui/agui-greeter",
        json=run_input(
            thread, resume=[{"interruptId": interrupt["id"], "status": "resolved", "payload": "x"}]
        ),
    )
    assert stale.status_code == 400 and "No interrupt" in stale.json()["detail"]

    third = run(
        alice,
        "agui-greeter",
        run_input(thread, resume=[{"interruptId": again["id"], "status": "resolved", "payload": "Paris"}]),
    )
    assert text_of(third) == "Hello Ada from Paris!" and "outcome" not in third[-1]
    # one UAI run throughout
    assert wait_run(alice, str(uuid.UUID(hex=run_hex)), "succeeded")["status"] == "succeeded"
    messages = alice.get(f"/chat/{thread}/messages").json()
    assert {m["run_id"] for m in messages} == {str(uuid.UUID(hex=run_hex))}


def test_agui__a_cancelled_resume_cancels_the_waiting_run(alice: httpx.Client) -> None:
    register("agui-greeter", "tests.agents_agui:greeter", asks_input=True)
    thread = str(uuid.uuid4())
    (interrupt,) = run(alice, "agui-greeter", run_input(thread, user("hi")))[-1]["outcome"]["interrupts"]
    events = run(
        alice,
        "agui-greeter",
        run_input(thread, resume=[{"interruptId": interrupt["id"], "status": "cancelled"}]),
    )
    assert types(events) == ["RUN_STARTED", "RUN_FINISHED"] and events[-1]["outcome"] == {"type": "cancelled"}
    task = str(uuid.UUID(hex=interrupt["id"].split("_")[1]))
    assert wait_run(alice, task, "cancelled")["status"] == "cancelled"


def test_agui__an_agent_error_ends_the_run_with_run_error(alice: httpx.Client) -> None:
    events = run(alice, "fail", run_input(str(uuid.uuid4()), user("go")))
    assert types(events) == ["RUN_STARTED", "STEP_STARTED", "STEP_FINISHED", "RUN_ERROR"]
    assert "failed on purpose" in events[-1]["message"] and events[-1]["code"] == "agent_failed"


def test_agui__a_run_left_goes_on_and_its_events_resume_from_last_event_id(alice: httpx.Client) -> None:
    register("agui-ticker", "tests.agents_agui:ticker")
    thread = str(uuid.uuid4())
    body = run_input(thread, user("count"))
    seen = events_of(alice, "POST", "/ag-ui/agui-ticker", json=body, limit=6)  # then it hangs up
    path = f"/ag-ui/agui-ticker/{thread}/runs/{body['runId']}/events"
    last = seen[-1][0]
    assert last is not None
    rest = events_of(alice, "GET", path, headers={"Last-Event-ID": last})
    whole = events_of(alice, "GET", path)  # every event again, from the first
    assert seen + rest == whole
    places = [place(i) for i, _ in whole]
    assert places == sorted(set(places)), [i for i, _ in whole]  # every event numbered, in order, once
    assert text_of([e for _, e in whole]) == "".join(f"{t} " for t in range(agents_agui.TICKS))
    assert whole[-1][1]["type"] == "RUN_FINISHED" and whole[-1][1]["runId"] == body["runId"]
    # an id inside one UAI event's group (TEXT_MESSAGE_START of the first delta) resumes after it
    at = next(n for n, (_, e) in enumerate(whole) if e["type"] == "TEXT_MESSAGE_START")
    assert whole[at][0] is not None and ":" in whole[at][0]
    after = events_of(alice, "GET", path, params={"last_event_id": whole[at][0]})
    assert after == whole[at + 1 :]


def test_agui__cancel_on_disconnect_stops_the_run_its_client_left(alice: httpx.Client) -> None:
    register("agui-ticker", "tests.agents_agui:ticker")
    thread = str(uuid.uuid4())
    body = run_input(thread, user("count"), forwardedProps={"uai": {"cancelOnDisconnect": True}})
    events_of(alice, "POST", "/ag-ui/agui-ticker", json=body, limit=3)
    runs = wait_for(lambda: alice.get("/run", params={"agent": "agui-ticker"}).json())
    assert wait_run(alice, runs[0]["task_id"], "cancelled", timeout=10)["status"] == "cancelled"


def test_agui__refuses_before_streaming_with_detail(alice: httpx.Client, bob: httpx.Client) -> None:
    register("agui-greeter", "tests.agents_agui:greeter", asks_input=True)
    assert alice.post("/ag-ui/nope", json=run_input("t1", user("x"))).status_code == 404
    with httpx.Client(base_url=str(alice.base_url)) as anonymous:
        refused = anonymous.post("/ag-ui/echo", json=run_input("t1", user("x")))
        assert refused.status_code == 401 and refused.json()["detail"]
    form = alice.post("/ag-ui/echo", data={"threadId": "t1", "runId": "r1"})
    assert form.status_code == 415 and form.json()["detail"]
    bad = alice.post("/ag-ui/echo", json={"threadId": "t1", "messages": []})
    assert bad.status_code == 400 and "runId" in bad.json()["detail"]
    last = alice.post("/ag-ui/echo", json=run_input("t2", {"id": "a", "role": "assistant", "content": "x"}))
    assert last.status_code == 400 and "detail" in last.json()
    for tools, said in (
        ([{"description": "no name"}], "tools[0] needs a 'name'"),
        ([{"name": "t", "parameters": "{}"}], "JSON Schema object"),
    ):
        body = {**run_input("t3", user("x")), "tools": tools}  # (not AG-UI's: its model refuses it)
        refused = alice.post("/ag-ui/echo", json=body)
        assert refused.status_code == 400 and said in refused.json()["detail"]
    # user B can neither drive, resume nor read user A's thread
    thread = str(uuid.uuid4())
    body = run_input(thread, user("hi"))
    (interrupt,) = run(alice, "agui-greeter", body)[-1]["outcome"]["interrupts"]
    drive = bob.post("/ag-ui/agui-greeter", json=run_input(thread, user("mine now")))
    assert drive.status_code == 404 and drive.json()["detail"] == "Thread not found."
    answer = run_input(
        thread, resume=[{"interruptId": interrupt["id"], "status": "resolved", "payload": "Eve"}]
    )
    assert bob.post("/ag-ui/agui-greeter", json=answer).status_code == 404
    read = bob.get(f"/ag-ui/agui-greeter/{thread}/runs/{body['runId']}/events")
    assert read.status_code == 404 and read.json()["detail"] == "Thread not found."
    assert alice.get(f"/ag-ui/agui-greeter/{thread}/runs/nope/events").status_code == 404
    # alice's run still waits for alice
    task = str(uuid.UUID(hex=interrupt["id"].split("_")[1]))
    assert wait_run(alice, task, "input_required")["status"] == "input_required"


def test_agui__a_thread_reads_the_same_at_chat_messages_and_history(alice: httpx.Client) -> None:
    thread = str(uuid.uuid4())
    history = [user("earlier"), {"id": "m0", "role": "assistant", "content": "said before"}]
    run(alice, "echo", run_input(thread, *history, user("first")))
    second = run(alice, "echo", run_input(thread, *history, user("first"), user("second")))
    assert text_of(second) == "second"
    said = [
        ("user", "earlier"),
        ("agent", "said before"),
        ("user", "first"),
        ("agent", "first"),
        ("user", "second"),
        ("agent", "second"),
    ]
    assert [(m["role"], m["content"]) for m in alice.get(f"/chat/{thread}/messages").json()] == said
    assert [(m["role"], m["content"]) for m in alice.get(f"/history/{thread}").json()] == said


def test_agui__a_new_threads_state_comes_with_its_first_turn_and_older_runs_read_again(
    alice: httpx.Client,
) -> None:
    register("agui-keeper", "tests.agents_agui:keeper")
    thread = str(uuid.uuid4())
    first = run_input(thread, user("go"), state={"count": 2})
    events = run(alice, "agui-keeper", first)
    assert events[-1]["result"] == 'given {"count": 2}'  # the state was the chat's before its turn
    second = run_input(thread, user("again"))
    run(alice, "agui-keeper", second)
    # The first run, no longer the thread's latest, reads again by the client's runId.
    again = [
        e for _, e in events_of(alice, "GET", f"/ag-ui/agui-keeper/{thread}/runs/{first['runId']}/events")
    ]
    assert again == events
    # A refused first turn leaves no chat behind: the thread and its state are made with the turn.
    too_long = run_input(f"t-{uuid.uuid4().hex[:8]}", user("x" * 6000), state={"count": 1})  # > the limit
    refused = alice.post("/ag-ui/agui-keeper", json=too_long)
    assert refused.status_code == 400, refused.text
    assert alice.get(f"/chat/{too_long['threadId']}").status_code == 404
