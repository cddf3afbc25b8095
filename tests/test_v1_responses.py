"""OpenAI ``/v1/responses`` with the official ``openai`` SDK, unchanged, against the live server:
plain, streamed, background, resumed, cancelled, chained, answering the agent's question, the
errors, another user's responses, and the chat each response is on the native API."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import openai_sdk, register, wait_for
from tests.v1_agents import TICKS

closing: list[openai.OpenAI] = []


@pytest.fixture
def sdk(alice: httpx.Client) -> Iterator[openai.OpenAI]:
    """The official client as alice (closed after the test, and any other one it made)."""
    client = openai_sdk(alice)
    closing.append(client)
    yield client
    while closing:
        closing.pop().close()


def run_id_of(response_id: str) -> str:
    """The UAI run behind a response (``resp_{run.hex}`` or ``resp_{run.hex}_{k}``)."""
    return str(uuid.UUID(hex=response_id.removeprefix("resp_")[:32]))


def events_of(stream: Any) -> list[Any]:
    return list(stream)


def assert_numbered(events: list[Any], first: int = 0) -> None:
    """Contiguous sequence numbers from ``first``: no gap, no repeat."""
    assert [e.sequence_number for e in events] == list(range(first, first + len(events)))


def deltas(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_create__plain_shows_the_steps_as_reasoning_and_the_answer(
    alice: httpx.Client, sdk: openai.OpenAI
) -> None:
    response = sdk.responses.create(
        model="steps", input="what is 2+3*4", instructions="Be brief.", metadata={"ticket": "42"}
    )
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "steps"
    assert response.output_text == "14"
    assert [item.type for item in response.output] == ["reasoning", "reasoning", "message"]
    assert "calculator" in response.output[1].summary[0].text
    assert response.instructions == "Be brief." and response.metadata == {"ticket": "42"}
    assert response.usage is not None and response.usage.total_tokens == 0
    assert response.error is None and response.background is False
    # the same on retrieve: the snapshot is the stream's replay
    assert sdk.responses.retrieve(response.id).to_dict() == response.to_dict()

    # the response is a turn of a UAI chat, on every surface
    run = alice.get(f"/run/{run_id_of(response.id)}").json()
    assert run["status"] == "succeeded" and run["kind"] == "turn"
    messages = alice.get(f"/chat/{run['chat_id']}/messages").json()
    said = [(m["role"], m["content"]) for m in messages]
    assert ("system", "Be brief.") in said and ("user", "what is 2+3*4") in said
    assert said[-1] == ("agent", "14")


def test_create__streamed_in_openai_s_order(alice: httpx.Client, sdk: openai.OpenAI) -> None:
    register("ticker", "tests.v1_agents:ticker")
    events = events_of(sdk.responses.create(model="ticker", input="go", stream=True))
    assert_numbered(events)
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * TICKS,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    answer = "".join(f"tick{i} " for i in range(TICKS))
    assert deltas(events) == answer
    assert events[0].response.status == "queued"
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == answer
    assert (completed.usage.input_tokens, completed.usage.output_tokens) == (3, TICKS)
    assert sdk.responses.retrieve(completed.id).to_dict() == completed.to_dict()

    # on the wire: an event line naming each payload's type, and no id lines
    with alice.stream("POST", "/v1/responses", json={"model": "echo", "input": "hi", "stream": True}) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        blocks = [b for b in raw.read().decode().split("\n\n") if b.strip()]
    for block in blocks:
        event, data = block.split("\n")
        assert event.startswith("event: ") and data.startswith("data: ")
        assert json.loads(data.removeprefix("data: "))["type"] == event.removeprefix("event: ")

    # the steps of an agent: reasoning items, before the answer (through the SDK's helper)
    with sdk.responses.stream(model="steps", input="2*21") as stream:
        streamed = events_of(stream)
        final = stream.get_final_response()
    assert_numbered(streamed)
    summaries = [e for e in streamed if e.type == "response.reasoning_summary_text.delta"]
    assert len(summaries) == 2 and "2*21" in summaries[0].delta
    assert [item.type for item in final.output] == ["reasoning", "reasoning", "message"]
    assert final.output_text == "42"


def test_background__answers_at_once_and_is_polled_to_the_end(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model="slow", input='{"steps": 2, "delay": 0.2}', background=True)
    assert response.status in ("queued", "in_progress") and response.background is True
    assert response.output == []
    done = wait_for(lambda: (r := sdk.responses.retrieve(response.id)).status == "completed" and r)
    assert done.output_text == "Done after 2 steps." and done.background is True


def test_stream__broken_off_at_event_10_resumes_with_no_gap_and_no_repeat(sdk: openai.OpenAI) -> None:
    register("ticker", "tests.v1_agents:ticker")
    first: list[Any] = []
    stream = sdk.responses.create(model="ticker", input="go", stream=True)
    for event in stream:
        first.append(event)
        if event.sequence_number == 10:
            break
    stream.close()  # the client went away mid-answer: the run goes on
    response_id = first[0].response.id

    with sdk.responses.stream(response_id=response_id, starting_after=10) as resumed:
        rest = events_of(resumed)
        final = resumed.get_final_response()
    assert_numbered(first + rest)
    assert rest[0].sequence_number == 11 and rest[-1].type == "response.completed"
    answer = "".join(f"tick{i} " for i in range(TICKS))
    assert deltas(first + rest) == answer and final.output_text == answer

    # the raw resume: the server leaves out what came up to starting_after
    again = events_of(sdk.responses.retrieve(response_id, stream=True, starting_after=10))
    assert [(e.sequence_number, e.type) for e in again] == [(e.sequence_number, e.type) for e in rest]
    assert deltas(again) == deltas(rest)


def test_cancel__a_background_response_stops_within_2_s_and_nothing_follows(sdk: openai.OpenAI) -> None:
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.runs.models import Run

    response = sdk.responses.create(model="slow", input='{"steps": 50, "delay": 0.2}', background=True)
    wait_for(lambda: sdk.responses.retrieve(response.id).status == "in_progress")
    started = time.monotonic()
    cancelled = sdk.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    job = Run.objects.get(pk=run_id_of(response.id)).job_id
    wait_for(lambda: ProcrastinateJob.objects.get(pk=job).status == "aborted", timeout=2)
    assert time.monotonic() - started < 2.5

    events = events_of(sdk.responses.retrieve(response.id, stream=True))
    assert_numbered(events)
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "cancelled"
    time.sleep(0.5)  # whatever the stopped agent still wrote, the response ended at its cancellation
    assert events_of(sdk.responses.retrieve(response.id, stream=True)) == events
    assert sdk.responses.retrieve(response.id).status == "cancelled"
    assert sdk.responses.cancel(response.id).status == "cancelled"  # ended: unchanged


def test_chain__previous_response_id_continues_the_chat(alice: httpx.Client, sdk: openai.OpenAI) -> None:
    register("recall", "tests.agents:recall")
    first = sdk.responses.create(model="recall", input="first")
    assert first.output_text == "0 earlier: "
    second = sdk.responses.create(model="recall", input="second", previous_response_id=first.id)
    assert second.output_text == "1 earlier: first" and second.previous_response_id == first.id
    third = sdk.responses.create(model="recall", input="third", previous_response_id=second.id)
    assert third.output_text == "2 earlier: first | second"
    chats = {alice.get(f"/run/{run_id_of(r.id)}").json()["chat_id"] for r in (first, second, third)}
    assert len(chats) == 1


def test_chain__conversation_is_a_uai_chat_on_every_surface(alice: httpx.Client, sdk: openai.OpenAI) -> None:
    register("recall", "tests.agents:recall")
    chat = alice.post("/chat", json={"agent": "recall"}).json()["session_id"]
    assert alice.post(f"/chat/{chat}", json={"text": "native hello"}).status_code == 200
    response = sdk.responses.create(input="from openai", conversation=chat)  # the chat's agent
    assert response.output_text == "1 earlier: native hello"
    assert response.conversation is not None and response.conversation.id == chat
    again = sdk.responses.create(model="recall", input="more", conversation={"id": chat})
    assert again.output_text == "2 earlier: native hello | from openai"
    said = [(m["role"], m["content"]) for m in alice.get(f"/chat/{chat}/messages").json()]
    assert said[-4:] == [
        ("user", "from openai"),
        ("agent", "1 earlier: native hello"),
        ("user", "more"),
        ("agent", "2 earlier: native hello | from openai"),
    ]
    # another agent as the model of a chat that has had turns: 400 naming it
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="echo", input="x", conversation=chat)
    assert caught.value.body["param"] == "model"
    # a chat without a turn yet takes the model named
    fresh = alice.post("/chat", json={"agent": "echo"}).json()["session_id"]
    assert sdk.responses.create(model="recall", input="x", conversation=fresh).output_text == "0 earlier: "
    assert alice.get(f"/chat/{fresh}").json()["agent"] == "recall"


def test_uai_input__the_question_is_a_function_call_answered_in_the_same_run(
    alice: httpx.Client, sdk: openai.OpenAI
) -> None:
    register("polite", "tests.agents:polite")
    asked = sdk.responses.create(model="polite", input="hi")
    assert asked.status == "completed"
    call = asked.output[-1]
    assert call.type == "function_call" and call.name == "uai_input"
    assert json.loads(call.arguments) == {"prompt": "Who is asking?"}
    hex_id = asked.id.removeprefix("resp_")
    assert call.call_id == f"call_{hex_id}_1"

    with pytest.raises(openai.BadRequestError) as caught:  # not the question's call id
        sdk.responses.create(
            model="polite",
            previous_response_id=asked.id,
            input=[{"type": "function_call_output", "call_id": "call_other", "output": "x"}],
        )
    assert caught.value.body["param"] == "input"

    answered = sdk.responses.create(
        model="polite",
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Alice"}],
    )
    assert answered.id == f"{asked.id}_1" and answered.previous_response_id == asked.id
    assert answered.status == "completed" and answered.output_text == "Hello, Alice"
    run = alice.get(f"/run/{run_id_of(asked.id)}").json()
    assert run["status"] == "succeeded" and run["output"] == "Hello, Alice"  # one run throughout
    items = sdk.responses.input_items.list(answered.id).data
    assert [(i.type, i.call_id, i.output) for i in items] == [("function_call_output", call.call_id, "Alice")]
    # the first response is as it was: it ended with the question
    assert sdk.responses.retrieve(asked.id).to_dict() == asked.to_dict()


def test_uai_input__two_questions_of_one_run_streamed(sdk: openai.OpenAI) -> None:
    register("asks-twice", "tests.v1_agents:asks_twice")
    first = sdk.responses.create(model="asks-twice", input="hello")
    call = first.output[-1]
    events = events_of(
        sdk.responses.create(
            model="asks-twice",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Bob"}],
            stream=True,
        )
    )
    assert_numbered(events)
    assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]
    second = events[-1].response
    assert second.id == f"{first.id}_1" and second.status == "completed"
    assert json.loads(second.output[-1].arguments) == {"prompt": "Where are you, Bob?"}
    assert second.output[-1].call_id == call.call_id.removesuffix("_1") + "_2"
    third = sdk.responses.create(
        model="asks-twice",
        previous_response_id=second.id,
        input=[{"type": "function_call_output", "call_id": second.output[-1].call_id, "output": "Paris"}],
    )
    assert third.id == f"{first.id}_2" and third.previous_response_id == second.id
    assert third.output_text == "Hello Bob in Paris (you said: hello)"


def test_errors__in_openai_s_shape_naming_the_parameter(sdk: openai.OpenAI, live: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.create(model="no-such-agent", input="hi")
    assert missing.value.code == "model_not_found" and missing.value.body["param"] == "model"

    bad: list[tuple[dict[str, Any], str]] = [
        ({"model": "echo", "input": 123}, "input"),
        ({"model": "echo"}, "input"),
        ({"model": "echo", "input": "hi", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        (
            {"model": "echo", "input": "hi", "previous_response_id": "resp_x", "conversation": "c"},
            "conversation",
        ),
        (
            {
                "model": "echo",
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "image_url": "http://x/a.png"}]}
                ],
            },
            "input[0].content[0].image_url",
        ),
        ({"model": "echo", "input": [{"role": "robot", "content": "hi"}]}, "input[0].role"),
        ({"model": "echo", "input": "x" * 5001}, "input"),  # UAI_MAX_MESSAGE_CHARS of the test server
        (
            {
                "model": "steps",  # takes no files
                "input": [{"role": "user", "content": [{"type": "input_file", "file_data": "YQ=="}]}],
            },
            "input",
        ),
    ]
    for body, param in bad:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.responses.create(**body)
        assert caught.value.body["param"] == param, body
        assert caught.value.body["type"] == "invalid_request_error"

    with (
        openai.OpenAI(base_url=live + "/v1", api_key="not-a-token", max_retries=0) as stranger,
        pytest.raises(openai.AuthenticationError),
    ):
        stranger.responses.create(model="echo", input="hi")
    answer = httpx.post(live + "/v1/responses", json={"model": "echo", "input": "hi"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"


def test_failing_agent__failed_snapshot_and_a_stream_that_ends_with_response_failed(
    sdk: openai.OpenAI,
) -> None:
    failed = sdk.responses.create(model="fail", input="go")
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "server_error"
    assert "failed on purpose" in failed.error.message
    assert [item.type for item in failed.output] == ["reasoning"]

    events = events_of(sdk.responses.create(model="fail", input="go", stream=True))
    assert_numbered(events)
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed" and "failed on purpose" in events[-1].response.error.message


def test_access__another_user_gets_404_on_every_route(
    alice: httpx.Client, sdk: openai.OpenAI, bob: httpx.Client
) -> None:
    mine = sdk.responses.create(model="echo", input="secret")
    chat = alice.get(f"/run/{run_id_of(mine.id)}").json()["chat_id"]
    theirs = openai_sdk(bob)
    closing.append(theirs)
    for call in (
        lambda: theirs.responses.retrieve(mine.id),
        lambda: events_of(theirs.responses.retrieve(mine.id, stream=True)),
        lambda: theirs.responses.cancel(mine.id),
        lambda: theirs.responses.delete(mine.id),
        lambda: theirs.responses.input_items.list(mine.id),
        lambda: theirs.responses.create(model="echo", input="x", previous_response_id=mine.id),
        lambda: theirs.responses.create(model="echo", input="x", conversation=chat),
        lambda: theirs.responses.retrieve("resp_not-an-id"),
        lambda: theirs.responses.retrieve(f"{mine.id}_1"),  # a question never asked
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert sdk.responses.retrieve(mine.id).output_text == "secret"


def test_files__input_items_annotations_and_delete(alice: httpx.Client, sdk: openai.OpenAI) -> None:
    data = base64.b64encode(b"alpha").decode()
    response = sdk.responses.create(
        model="echo",
        input=[
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "noted"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "see the file"},
                    {"type": "input_file", "filename": "a.txt", "file_data": data},
                ],
            },
        ],
    )
    assert response.output_text == "see the file"
    (annotation,) = response.output[-1].content[0].annotations
    assert annotation.type == "url_citation" and annotation.title == "a.txt"
    assert alice.get(annotation.url).content == b"alpha"

    (item,) = sdk.responses.input_items.list(response.id).data
    assert item.type == "message" and item.role == "user"
    assert item.content[0].text == "see the file"
    assert item.content[1].filename == "a.txt" and alice.get(item.content[1].file_url).content == b"alpha"
    chat = alice.get(f"/run/{run_id_of(response.id)}").json()["chat_id"]
    said = [(m["role"], m["content"]) for m in alice.get(f"/chat/{chat}/messages").json()]
    assert said[:3] == [("user", "earlier"), ("agent", "noted"), ("user", "see the file")]

    deleted = alice.delete(f"/v1/responses/{response.id}")
    assert deleted.json() == {"id": response.id, "object": "response", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(response.id)


def test_create__earlier_messages_count_by_their_text_images_and_all(sdk: openai.OpenAI) -> None:
    """A client that sends the whole conversation back (images included) is answered: the earlier
    messages are the history the agent sees, by their text; only the last one's files are uploads."""
    register("recall-v1-history", "tests.agents:recall")
    pixel = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    answer = sdk.responses.create(
        model="recall-v1-history",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": pixel},
                ],
            },
            {"role": "assistant", "content": "a picture"},
            {"role": "user", "content": "and now?"},
        ],
    )
    assert answer.status == "completed"
    assert answer.output_text == "1 earlier: look"  # (recall names the user's earlier messages)


def test_retrieve__after_retention_removed_its_events_keeps_status_and_answer(sdk: openai.OpenAI) -> None:
    """Events go after UAI_EVENT_RETENTION_DAYS (a stream can no longer be replayed); the
    response still answers its status and the agent's answer, which the chat keeps."""
    from uai.runs.models import Event

    done = sdk.responses.create(model="echo", input="kept")
    assert done.output_text == "kept"
    Event.objects.filter(run_id=run_id_of(done.id)).delete()  # what retention does, by age
    again = sdk.responses.retrieve(done.id)
    assert again.status == "completed" and again.output_text == "kept"
    assert again.output[0].type == "message" and again.output[0].id.startswith("msg_")
