"""OpenAI ``POST /v1/chat/completions`` with the official ``openai`` SDK, unchanged, against the
live server: plain and streamed turns, history, images, the agent's question as a tool call,
failures, and every error in OpenAI's shape."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from django.conf import settings

from tests.conftest import _OPENAI_CLIENTS, openai_sdk, process_env, register, serve_until_done, token_of

# A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
ASKS = json.dumps({"steps": 0, "ask": "Your name?"})  # the builtin slow agent asks at once


def run_id(completion_id: str) -> str:
    assert completion_id.startswith("chatcmpl-")
    return str(uuid.UUID(hex=completion_id.removeprefix("chatcmpl-")))


def chat_of(client: httpx.Client, completion_id: str) -> str:
    """The UAI chat a completion's turn ran in (through the native run API)."""
    answer = client.get(f"/run/{run_id(completion_id)}")
    assert answer.status_code == 200, answer.text
    chat_id: str = answer.json()["chat_id"]
    return chat_id


def messages_of(client: httpx.Client, chat_id: str) -> list[tuple[str, str]]:
    answer = client.get(f"/chat/{chat_id}/messages")
    assert answer.status_code == 200, answer.text
    return [(m["role"], m["content"]) for m in answer.json()]


def test_create__answers_with_the_agents_answer_in_a_chat_of_the_user(alice: httpx.Client) -> None:
    completion = openai_sdk(alice).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "Hello UAI"}]
    )
    assert completion.object == "chat.completion" and completion.model == "echo"
    (choice,) = completion.choices
    assert choice.message.role == "assistant" and choice.message.content == "Hello UAI"
    assert choice.finish_reason == "stop" and choice.message.tool_calls is None
    assert completion.usage is not None  # the echo agent reports no stats: zeros
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (0, 0)
    assert completion.usage.total_tokens == 0
    # The turn is a UAI chat of the user's, on the native API too.
    chat_id = chat_of(alice, completion.id)
    listed = {c["session_id"]: c for c in alice.get("/chat/").json()}
    assert listed[chat_id]["agent"] == "echo" and listed[chat_id]["name"] == "Hello UAI"
    assert messages_of(alice, chat_id) == [("user", "Hello UAI"), ("agent", "Hello UAI")]


def test_create__usage_is_the_agents_reported_tokens(alice: httpx.Client) -> None:
    register("counted", "tests.v1_chat_agents:counted")
    sdk = openai_sdk(alice)
    completion = sdk.chat.completions.create(model="counted", messages=[{"role": "user", "content": "count"}])
    assert completion.choices[0].message.content == "Counted answer here."
    assert completion.usage is not None
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 3, 14)
    # Streamed: the deltas as they came, never said twice, then the usage chunk.
    chunks = list(
        sdk.chat.completions.create(
            model="counted",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Counted answer here."
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 14 and chunks[-1].usage.prompt_tokens == 11


def test_stream__role_first_steps_as_reasoning_then_the_answer_and_usage(alice: httpx.Client) -> None:
    stream = openai_sdk(alice).chat.completions.create(
        model="steps",
        messages=[{"role": "user", "content": "What is 2+3*4?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and {c.model for c in chunks} == {"steps"}
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content == ""
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    thinking = [d.model_extra.get("reasoning_content") for d in deltas if d.model_extra]
    assert len(thinking) == 2 and "calculator" in thinking[1]  # the plan, then the tool call
    said = [i for i, d in enumerate(deltas) if d.content]
    thought = [i for i, d in enumerate(deltas) if d.model_extra and d.model_extra.get("reasoning_content")]
    assert max(thought) < min(said)  # the steps before the answer
    assert "".join(d.content or "" for d in deltas) == "14"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream__is_data_lines_ending_with_done(alice: httpx.Client) -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": "raw"}], "stream": True}
    with alice.stream("POST", "/v1/chat/completions", json=body) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in answer.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)  # no id:, no event: lines
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert "usage" not in chunks[0]  # only with stream_options.include_usage
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "raw"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_create__earlier_messages_are_the_history_the_agent_sees(alice: httpx.Client) -> None:
    register("history", "tests.v1_chat_agents:history")
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is UAI?"},
        {"role": "assistant", "content": "An agent server."},
        {"role": "user", "content": [{"type": "text", "text": "Say more."}]},
    ]
    completion = openai_sdk(alice).chat.completions.create(model="history", messages=messages)
    assert completion.choices[0].message.content == (
        "system: Be brief. | user: What is UAI? | agent: An agent server. | now: Say more."
    )
    chat_id = chat_of(alice, completion.id)
    assert [m for m in messages_of(alice, chat_id) if m[0] == "user"] == [
        ("user", "What is UAI?"),
        ("user", "Say more."),
    ]


def test_create__images_and_files_of_the_turn_reach_the_agent_as_uploads(alice: httpx.Client) -> None:
    register("names-files", "tests.v1_chat_agents:names_files", accepts_files=True)
    image = "data:image/png;base64," + base64.b64encode(PNG).decode()
    note = base64.b64encode(b"some notes").decode()
    completion = openai_sdk(alice).chat.completions.create(
        model="names-files",
        messages=[
            # an earlier message's image is not the turn's: only its text counts
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]},
            {"role": "assistant", "content": "Got it."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What did I send?"},
                    {"type": "image_url", "image_url": {"url": image}},
                    {"type": "file", "file": {"file_data": note, "filename": "notes.txt"}},
                ],
            },
        ],
    )
    assert (
        completion.choices[0].message.content == f"image-1.png image/png {len(PNG)}; notes.txt text/plain 10"
    )
    # An agent that takes no files is told so, before any chat is made.
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk(alice).chat.completions.create(
            model="steps",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]},
            ],
        )
    assert caught.value.param == "messages.2.content"
    assert [c["agent"] for c in alice.get("/chat/").json()] == ["names-files"]


def test_question__is_a_uai_input_tool_call_answered_by_a_tool_message(
    alice: httpx.Client, bob: httpx.Client
) -> None:
    sdk = openai_sdk(alice)
    asked: list[Any] = [{"role": "user", "content": ASKS}]
    question = sdk.chat.completions.create(model="slow", messages=asked)
    (choice,) = question.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id == f"call_{uuid.UUID(run_id(question.id)).hex}_1"
    assert call.function.name == "uai_input"
    assert json.loads(call.function.arguments) == {"prompt": "Your name?"}
    answered = [*asked, choice.message.model_dump(exclude_none=True)]
    # Nobody else answers it, and no made-up call: 400, never a hint that the run exists.
    for client, call_id in ((bob, call.id), (alice, call.id[:-1] + "2"), (alice, "call_nope")):
        with pytest.raises(openai.BadRequestError) as caught:
            openai_sdk(client).chat.completions.create(
                model="slow",
                messages=[*answered, {"role": "tool", "tool_call_id": call_id, "content": "Eve"}],
            )
        assert caught.value.param == "messages"
    answer = sdk.chat.completions.create(
        model="slow", messages=[*answered, {"role": "tool", "tool_call_id": call.id, "content": "Ada"}]
    )
    assert answer.id == question.id  # the same UAI run went on
    assert answer.choices[0].message.content == "Done after 0 steps. You answered: Ada"
    assert answer.choices[0].finish_reason == "stop"
    chat_id = chat_of(alice, answer.id)
    assert [c["session_id"] for c in alice.get("/chat/").json()] == [chat_id]  # no new chat
    assert ("user", "Ada") in messages_of(alice, chat_id)
    # Streamed, the question is a tool call delta and the finish "tool_calls".
    chunks = list(sdk.chat.completions.create(model="slow", messages=asked, stream=True))
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert [(t.index, t.id, t.function.name if t.function else None) for t in calls] == [
        (0, f"call_{uuid.UUID(run_id(chunks[0].id)).hex}_1", "uai_input")
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_failing_agent__is_502_or_an_error_chunk_the_sdk_raises(alice: httpx.Client) -> None:
    sdk = openai_sdk(alice)
    asked: list[Any] = [{"role": "user", "content": "go"}]
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="fail", messages=asked)
    assert caught.value.status_code == 502 and caught.value.code == "agent_failed"
    assert "failed on purpose" in caught.value.message
    seen = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in sdk.chat.completions.create(model="fail", messages=asked, stream=True):
            seen.append(chunk)
    assert raised.value.code == "agent_failed" and "failed on purpose" in raised.value.message
    assert seen[1].choices[0].delta.model_extra == {  # its step came first, as thinking
        "reasoning_content": "Starting work that is bound to fail.",
        "reasoning": "Starting work that is bound to fail.",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": None}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": 7}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "messages"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                        ],
                    }
                ]
            },
            "messages.0.content.1.image_url.url",
        ),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
    ],
)
def test_bad_request__is_400_naming_the_parameter(
    alice: httpx.Client, body: dict[str, Any], param: str
) -> None:
    answer = alice.post("/v1/chat/completions", json={"model": "echo", **body})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
    assert alice.get("/chat/").json() == []  # nothing was made of it


def test_bad_request__through_the_sdk(alice: httpx.Client) -> None:
    sdk = openai_sdk(alice)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}], n=2)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="echo", messages=[])
    assert caught.value.param == "messages"


def test_unknown_model_is_404_and_no_key_401(alice: httpx.Client, live: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        openai_sdk(alice).chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    with (
        openai.OpenAI(base_url=live + "/v1", api_key="not-a-token", max_retries=0) as stranger,
        pytest.raises(openai.AuthenticationError) as denied,
    ):
        stranger.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    assert denied.value.code == "invalid_api_key"


@pytest.fixture
def rate_limited_server(alice: httpx.Client, log_dir: Path) -> Iterator[str]:
    """A second server that allows 3 OpenAI calls a minute (its own throttle counts: its cache)."""
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}-rate-{uuid.uuid4().hex[:6]}"
    env = process_env(UAI_OPENAI_RATE="3/min", UAI_CACHE_PREFIX=prefix)
    yield from serve_until_done("server-rate", "worker-rate", env, log_dir)


def test_rate__429_once_over_uai_openai_rate(alice: httpx.Client, rate_limited_server: str) -> None:
    sdk = openai.OpenAI(base_url=rate_limited_server + "/v1", api_key=token_of(alice), max_retries=0)
    _OPENAI_CLIENTS.append(sdk)  # (closed after the test)
    asked: list[Any] = [{"role": "user", "content": "hi"}]
    for _ in range(3):
        assert sdk.chat.completions.create(model="echo", messages=asked).choices[0].message.content == "hi"
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="echo", messages=asked)
    assert caught.value.status_code == 429 and caught.value.code == "rate_limit_exceeded"
    # how long to wait, as SDKs read it to back off
    assert 0 < int(caught.value.response.headers["Retry-After"]) <= 60
