"""OpenAI ``/v1/conversations`` with the official ``openai`` SDK, unchanged, against the live server.

A conversation is a UAI chat and its items are the chat's messages: what is written through one
surface reads the same through the others (``/chat/{id}/messages``, ``/history/{id}``,
``/api/workflows/{id}/messages``), each in its own terms.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import openai_sdk, register_agent
from tests.everything_agent import CANVAS

ASSISTANT_STEPS = (None, "FinalAnswerStep", "InputRequestStep")  # the agent's words; other steps reason


def item_of(message: dict[str, Any]) -> dict[str, Any]:
    """The conversation item of a native message (``/chat/{id}/messages``), as documented: the
    agent's steps are reasoning, its answer and questions the assistant's text, a user's files
    ``input_file`` parts with their download URL."""
    hex_id = uuid.UUID(message["id"]).hex
    if message["role"] == "agent" and message["step_type"] not in ASSISTANT_STEPS:
        summary = [{"type": "summary_text", "text": message["content"]}]
        return {"type": "reasoning", "id": f"rs_{hex_id}", "summary": summary, "status": "completed"}
    if message["role"] == "agent":
        role = "assistant"
        content = [{"type": "output_text", "text": message["content"], "annotations": [], "logprobs": []}]
    else:
        role = message["role"]
        content = [{"type": "input_text", "text": message["content"]}]
        content += [
            {"type": "input_file", "filename": f["name"], "file_url": f["download_url"]}
            for f in message["files"]
        ]
    return {"type": "message", "id": f"msg_{hex_id}", "role": role, "status": "completed", "content": content}


def assert_same_everywhere(client: httpx.Client, chat_id: str) -> list[dict[str, Any]]:
    """The conversation's items are the chat's messages as every other surface reads them; the
    items, oldest first."""
    items = client.get(f"/v1/conversations/{chat_id}/items", params={"order": "asc", "limit": 100}).json()
    native = client.get(f"/chat/{chat_id}/messages").json()
    assert items["data"] == [item_of(m) for m in native]
    assert items["first_id"] == items["data"][0]["id"] and items["last_id"] == items["data"][-1]["id"]
    assert items["has_more"] is False
    history = client.get(f"/history/{chat_id}").json()
    assert [(h["content"], h["step_type"]) for h in history] == [
        (m["content"], m["step_type"]) for m in native
    ]
    assert [h["role"] for h in history] == [{"user": "user"}.get(m["role"], "agent") for m in native]
    workflow = client.get(f"/api/workflows/{chat_id}/messages").json()
    roles = {"user": "user", "agent": "assistant", "system": "system"}
    assert [(w["id"], w["role"], w["content"], w["stepType"]) for w in workflow] == [
        (m["id"], roles[m["role"]], m["content"], m["step_type"]) for m in native
    ]
    return list(items["data"])


def test_conversations__created_read_updated_and_deleted_with_the_sdk(alice: httpx.Client) -> None:
    sdk = openai_sdk(alice)
    before = time.time()
    conversation = sdk.conversations.create(
        items=[
            {"type": "message", "role": "developer", "content": "Answer in one word."},
            {"role": "user", "content": [{"type": "input_text", "text": "Colour of the sky?"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Blue."}]},
        ],
        metadata={"topic": "sky"},
    )
    assert conversation.object == "conversation" and conversation.metadata == {"topic": "sky"}
    assert before - 2 <= conversation.created_at <= time.time() + 1
    assert sdk.conversations.retrieve(conversation.id) == conversation
    chat = alice.get(f"/chat/{conversation.id}").json()  # the chat itself, of the default agent
    assert (chat["agent"], chat["metadata"]) == ("echo", {"topic": "sky"})

    items = sdk.conversations.items.list(conversation.id)  # newest first, by default
    assert [(i.role, i.content[0].text) for i in items.data] == [
        ("assistant", "Blue."),
        ("user", "Colour of the sky?"),
        ("system", "Answer in one word."),
    ]
    assert [i.content[0].type for i in items.data] == ["output_text", "input_text", "input_text"]
    assert (items.first_id, items.last_id, items.has_more) == (items.data[0].id, items.data[-1].id, False)

    updated = sdk.conversations.update(conversation.id, metadata={"topic": "weather", "lang": "en"})
    assert updated.metadata == {"topic": "weather", "lang": "en"}  # replaced, as OpenAI does
    assert sdk.conversations.retrieve(conversation.id).metadata == updated.metadata

    added = sdk.conversations.items.create(
        conversation.id,
        items=[
            {"type": "message", "role": "user", "content": "And at night?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Black."}]},
        ],
    )
    assert [(i.role, i.content[0].text) for i in added.data] == [
        ("user", "And at night?"),
        ("assistant", "Black."),
    ]
    night = added.data[0]
    assert sdk.conversations.items.retrieve(night.id, conversation_id=conversation.id) == night
    assert [m["content"] for m in alice.get(f"/chat/{conversation.id}/messages").json()][-2:] == [
        "And at night?",
        "Black.",
    ]

    # Pages: `after` an item, in either order; the SDK follows them to the end.
    oldest = sdk.conversations.items.list(conversation.id, order="asc", limit=2)
    assert [i.content[0].text for i in oldest.data] == ["Answer in one word.", "Colour of the sky?"]
    assert oldest.has_more is True
    every = [i.id for i in sdk.conversations.items.list(conversation.id, order="asc", limit=2)]
    assert every == [i.id for i in reversed(sdk.conversations.items.list(conversation.id, limit=100).data)]
    assert len(every) == 5
    newest = sdk.conversations.items.list(conversation.id, limit=2, after=every[3])
    assert [i.id for i in newest.data] == [every[2], every[1]] and newest.has_more is True

    assert sdk.conversations.items.delete(night.id, conversation_id=conversation.id) == updated
    with pytest.raises(openai.NotFoundError):
        sdk.conversations.items.retrieve(night.id, conversation_id=conversation.id)
    assert night.id not in [i.id for i in sdk.conversations.items.list(conversation.id)]

    deleted = sdk.conversations.delete(conversation.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conversation.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.conversations.retrieve(conversation.id)
    assert caught.value.body["message"] == f"Conversation with id '{conversation.id}' not found."
    assert alice.get(f"/chat/{conversation.id}").status_code == 404


def test_conversations__a_native_turn_reads_the_same_on_every_surface(alice: httpx.Client) -> None:
    """A conversation made here, a turn (with a file) sent through the native API."""
    sdk = openai_sdk(alice)
    conversation = sdk.conversations.create(items=[{"role": "system", "content": "Be brief."}])
    turn = alice.post(
        f"/chat/{conversation.id}",
        data={"text": "keep this"},
        files=[("files", ("notes.txt", b"alpha", "text/plain"))],
    )
    assert turn.status_code == 200 and turn.json()["status"] == "succeeded", turn.text
    items = assert_same_everywhere(alice, conversation.id)
    assert [(i["role"], i["content"][0]["text"]) for i in items] == [
        ("system", "Be brief."),
        ("user", "keep this"),
        ("assistant", "keep this"),
    ]
    notes = items[1]["content"][1]
    assert notes["type"] == "input_file" and notes["filename"] == "notes.txt"
    assert notes["file_url"].startswith(str(alice.base_url).rstrip("/") + "/")
    assert alice.get(notes["file_url"]).content == b"alpha"
    # The SDK reads every item, the file part too.
    user = sdk.conversations.items.retrieve(items[1]["id"], conversation_id=conversation.id)
    assert user.content[1].file_url == notes["file_url"]


def test_conversations__steps_are_reasoning_and_questions_the_assistant_s(alice: httpx.Client) -> None:
    """A chat of the native API with an agent that plans, acts, makes a file and asks."""
    register_agent("painter", "python", "tests.everything_agent:everything")
    chat_id = alice.post("/chat/", json={"agent": "painter"}).json()["session_id"]
    assert alice.post(f"/chat/{chat_id}", json={"text": "paint"}).json()["status"] == "input_required"
    assert alice.post(f"/chat/{chat_id}", json={"text": "blue"}).json()["status"] == "succeeded"
    items = assert_same_everywhere(alice, chat_id)
    assert [(i["type"], i.get("role")) for i in items] == [
        ("message", "user"),
        ("reasoning", None),
        ("reasoning", None),
        ("message", "assistant"),  # the question
        ("message", "user"),  # its answer
        ("message", "assistant"),
    ]
    assert items[1]["summary"][0]["text"] == "plan: prepare a canvas, ask for a colour, paint"
    assert items[3]["content"][0]["text"] == "Which colour?"
    assert items[5]["content"][0]["text"] == "Painted it blue."
    sdk = openai_sdk(alice)
    plan = sdk.conversations.items.retrieve(items[1]["id"], conversation_id=chat_id)
    assert plan.type == "reasoning" and plan.summary[0].text == items[1]["summary"][0]["text"]
    # An item id is of its kind: a step is not found as a message, nor an answer as a step.
    for wrong in ("msg_" + items[1]["id"][3:], "rs_" + items[5]["id"][4:], items[1]["id"] + "0"):
        with pytest.raises(openai.NotFoundError):
            sdk.conversations.items.retrieve(wrong, conversation_id=chat_id)
    # The agent's artifact is the run's, not an item; it is still the chat's to download.
    artifacts = alice.get(f"/chat/{chat_id}/artifacts").json()
    assert alice.get(artifacts[0]["download_url"]).content == CANVAS


def test_conversations__another_user_s_are_not_found_on_every_route(
    alice: httpx.Client, bob: httpx.Client
) -> None:
    mine = openai_sdk(alice).conversations.create(items=[{"role": "user", "content": "private"}])
    item = openai_sdk(alice).conversations.items.list(mine.id).data[0].id
    theirs = openai_sdk(bob)
    calls = [
        lambda c: theirs.conversations.retrieve(c),
        lambda c: theirs.conversations.update(c, metadata={"x": "y"}),
        lambda c: theirs.conversations.delete(c),
        lambda c: theirs.conversations.items.list(c),
        lambda c: theirs.conversations.items.create(c, items=[{"role": "user", "content": "hi"}]),
        lambda c: theirs.conversations.items.retrieve(item, conversation_id=c),
        lambda c: theirs.conversations.items.delete(item, conversation_id=c),
    ]
    for conversation_id in (mine.id, "no-such-conversation"):
        for call in calls:
            with pytest.raises(openai.NotFoundError) as caught:
                call(conversation_id)
            assert caught.value.body["type"] == "invalid_request_error"
            assert caught.value.body["message"] == f"Conversation with id '{conversation_id}' not found."
    # Alice's item is not found in another of her conversations either.
    other = openai_sdk(alice).conversations.create()
    with pytest.raises(openai.NotFoundError) as caught:
        openai_sdk(alice).conversations.items.retrieve(item, conversation_id=other.id)
    assert caught.value.body["message"] == f"Item with id '{item}' not found."
    # Nothing of Alice's changed.
    assert openai_sdk(alice).conversations.retrieve(mine.id).metadata == {}
    assert [i.id for i in openai_sdk(alice).conversations.items.list(mine.id)] == [item]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ("", {"metadata": {"k" * 65: "v"}}, "metadata"),
        ("", {"metadata": {"k": "v" * 513}}, "metadata.k"),
        ("", {"metadata": {"k": 1}}, "metadata.k"),
        ("", {"metadata": ["k"]}, "metadata"),
        ("", {"items": "hello"}, "items"),
        ("", {"items": [{"role": "user", "content": "x"}] * 21}, "items"),
        ("", {"items": [{"role": "user", "content": "x"}, {"role": "tool", "content": "x"}]}, "items.1.role"),
        ("", {"items": [{"type": "function_call_output", "call_id": "c", "output": "x"}]}, "items.0.type"),
        ("", {"items": [{"role": "user", "content": 5}]}, "items.0.content"),
        (
            "",
            {"items": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "items.0.content.0.type",
        ),
        ("", {"items": [{"role": "user", "content": [{"type": "input_text"}]}]}, "items.0.content.0.text"),
        ("", {"items": ["hello"]}, "items.0"),
        ("/{id}", {}, "metadata"),
        ("/{id}", {"metadata": {"k": ["v"]}}, "metadata.k"),
        ("/{id}/items", {}, "items"),
        ("/{id}/items", {"items": []}, "items"),
        ("/{id}/items", {"items": [{"role": "critic", "content": "x"}]}, "items.0.role"),
    ],
)
def test_conversations__a_bad_body_is_400_naming_the_parameter(
    alice: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    conversation = alice.post(
        "/v1/conversations", json={"items": [{"role": "user", "content": "kept"}]}
    ).json()
    answer = alice.post("/v1/conversations" + path.format(id=conversation["id"]), json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["message"]
    # Nothing was written: no other chat, the conversation as it was.
    assert [c["id"] for c in alice.get("/chat/").json()] == [conversation["id"]]
    assert [m["content"] for m in alice.get(f"/chat/{conversation['id']}/messages").json()] == ["kept"]


def test_conversations__bad_list_parameters_are_400_naming_them(alice: httpx.Client) -> None:
    sdk = openai_sdk(alice)
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "x"}])
    for query, param in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "msg_" + uuid.uuid4().hex}, "after"),
        ({"after": "nonsense"}, "after"),
    ]:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.conversations.items.list(conversation.id, extra_query=query)
        assert caught.value.body["param"] == param, query
    # `include` is taken and has no effect.
    listed = sdk.conversations.items.list(conversation.id, include=["message.input_image.image_url"])
    assert [i.content[0].text for i in listed.data] == ["x"]


def test_conversations__a_message_over_the_length_limit_is_refused_whole(alice: httpx.Client) -> None:
    """UAI_MAX_MESSAGE_CHARS (5,000 in the test server): no chat is left behind."""
    sdk = openai_sdk(alice)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.conversations.create(
            items=[{"role": "user", "content": "fine"}, {"role": "user", "content": "x" * 5001}]
        )
    assert "5000 characters" in caught.value.message
    assert alice.get("/chat/").json() == []
