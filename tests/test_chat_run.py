"""Seed 003: /chat/run and /chat/stream with JWT, and the conversation cache behind them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.conftest import collect, set_password, wait_for


@pytest.fixture
def jwt_client(live: str, user_client) -> httpx.Client:  # type: ignore[no-untyped-def]
    api = user_client("dora")
    set_password(api.user, "dora-pass-1")
    tokens = httpx.post(f"{live}/api/auth/token", json={"username": "dora", "password": "dora-pass-1"})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) == {"access", "refresh"}
    refreshed = httpx.post(f"{live}/api/auth/token/refresh", json={"refresh": body["refresh"]})
    assert refreshed.status_code == 200
    assert refreshed.json()["access"]
    client = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {body['access']}"}, timeout=30)
    client.user = api.user  # type: ignore[attr-defined]
    return client


def test_jwt__login_refresh_and_refusals(live: str, jwt_client: httpx.Client) -> None:
    bad_login = httpx.post(f"{live}/api/auth/token", json={"username": "dora", "password": "nope"})
    assert bad_login.status_code == 401
    assert bad_login.json()["detail"]
    assert httpx.post(f"{live}/api/auth/token", json={}).status_code == 400
    assert httpx.post(f"{live}/api/auth/token/refresh", json={"refresh": "x"}).status_code == 401
    for headers in [{}, {"Authorization": "Bearer a.b.c"}, {"Authorization": "Bearer"}]:
        response = httpx.post(f"{live}/chat/run", json={"message": "x"}, headers=headers)
        assert response.status_code == 401, headers
    jwt_client.close()


def test_jwt__a_new_password_or_a_deleted_user_revokes_tokens(live: str, user_client) -> None:  # type: ignore[no-untyped-def]
    """A stolen refresh token kept minting access tokens for its 7 days, whatever the password;
    one of a deleted user was a 500."""
    api = user_client("erin")
    set_password(api.user, "erin-pass-1")
    tokens = httpx.post(f"{live}/api/auth/token", json={"username": "erin", "password": "erin-pass-1"}).json()
    auth = {"Authorization": f"Bearer {tokens['access']}"}
    assert httpx.get(f"{live}/chat/", headers=auth).status_code == 200
    set_password(api.user, "erin-pass-2")
    assert httpx.get(f"{live}/chat/", headers=auth).status_code == 401
    minted = httpx.post(f"{live}/api/auth/token/refresh", json={"refresh": tokens["refresh"]}).json()
    assert (
        httpx.get(f"{live}/chat/", headers={"Authorization": f"Bearer {minted['access']}"}).status_code == 401
    )

    tokens = httpx.post(f"{live}/api/auth/token", json={"username": "erin", "password": "erin-pass-2"}).json()
    api.user.delete()
    refused = httpx.post(f"{live}/api/auth/token/refresh", json={"refresh": tokens["refresh"]})
    assert refused.status_code == 401 and refused.json()["detail"]


def test_chat_run__conversation_by_id(jwt_client: httpx.Client, alice: httpx.Client) -> None:
    first = jwt_client.post("/chat/run", json={"message": "hello", "conversation_id": "conv-42"})
    assert first.status_code == 200, first.text
    assert first.json() == {"response": "hello", "conversation_id": "conv-42"}
    jwt_client.post("/chat/run", json={"message": "again", "conversation_id": "conv-42"})
    messages = jwt_client.get("/chat/conv-42/messages").json()
    assert [m["content"] for m in messages] == ["hello", "hello", "again", "again"]
    new = jwt_client.post("/chat/run", json={"message": "no id"}).json()
    assert new["conversation_id"] and new["response"] == "no id"
    # Another user's conversation is not theirs to continue; API tokens work here too.
    assert alice.post("/chat/run", json={"message": "x", "conversation_id": "conv-42"}).status_code == 404
    assert alice.post("/chat/run", json={"message": 3}).status_code == 400
    assert alice.post("/chat/run", json={"message": "x", "conversation_id": "bad id!"}).status_code == 400
    failed = alice.post("/chat/run", json={"message": "x", "agent": "fail"})
    assert failed.status_code == 502
    jwt_client.close()


def test_chat_run__null_ids_reserved_ids_and_turns_that_never_answer(alice: httpx.Client) -> None:
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.runs.models import Run

    new = alice.post("/chat/run", json={"message": "hi", "conversation_id": None, "agent": None})
    assert new.status_code == 200, new.text  # null as omitted: a new conversation
    assert new.json()["conversation_id"] and new.json()["response"] == "hi"
    # /chats/create is a route of its own: a conversation of that id could never be read there.
    assert alice.post("/chat/run", json={"message": "x", "conversation_id": "create"}).status_code == 400
    # The turn stopped (seed 002), or its conversation deleted, while the request waits: it was a
    # 200 with an empty reply, and a 500.
    turn = {"message": json.dumps({"steps": 20, "delay": 0.5}), "agent": "slow"}
    for end, status in [("stop", 409), ("delete", 404)]:
        conversation = f"ends-by-{end}"
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                alice.post, "/chat/run", json={**turn, "conversation_id": conversation}, timeout=30
            )
            wait_for(lambda c=conversation: alice.get(f"/chat/{c}").json().get("status") == "running")
            job = Run.objects.get(chat_id=conversation).job_id
            if end == "stop":
                assert alice.post(f"/api/chat/playground/{conversation}/stop").status_code == 200
            else:
                assert alice.delete(f"/chat/{conversation}").status_code == 204
            response = waiting.result()
        assert response.status_code == status, response.text
        assert response.json()["detail"]
        # Its job aborted: nothing writes while the test's data is flushed.
        wait_for(lambda j=job: not ProcrastinateJob.objects.filter(pk=j, status="doing").exists())


def test_chat_stream__chunks_and_metrics(jwt_client: httpx.Client) -> None:
    with connect_sse(
        jwt_client, "POST", "/chat/stream", json={"message": "stream me", "conversation_id": "s-1"}
    ) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert source.response.headers["cache-control"] == "no-cache"
        assert source.response.headers["connection"] == "keep-alive"
        chunks = [json.loads(e.data) for e in source.iter_sse()]  # ends after the final chunk
    assert chunks[-1]["is_final"] is True
    assert "".join(c["content"] for c in chunks) == "stream me"
    assert {"tokens", "time_to_first_chunk_ms", "total_ms"} <= set(chunks[-1]["metrics"])
    assert all(c["is_final"] is False and c["metrics"] is None for c in chunks[:-1])
    assert [m["content"] for m in jwt_client.get("/chat/s-1/messages").json()] == ["stream me", "stream me"]
    jwt_client.close()


def test_chat_stream__text_of_earlier_rounds_is_not_sent_twice(alice: httpx.Client) -> None:
    """An agent that streams text before a tool call and then its answer (only the last round's
    text, as a chat model with tools answers): the final chunk repeated the whole answer after
    the deltas had carried it, and a client appending chunks showed it twice."""
    from uai.agents.models import Agent

    Agent.objects.create(name="two-rounds", target="tests.agents:two_rounds")
    with connect_sse(
        alice, "POST", "/chat/stream", json={"message": "weather?", "agent": "two-rounds"}
    ) as source:
        chunks = [json.loads(e.data) for e in source.iter_sse()]
    assert chunks[-1]["is_final"] is True and chunks[-1]["content"] == ""
    assert "".join(c["content"] for c in chunks) == "Let me check. It's sunny."


async def test_chat_stream__follows_its_turn_from_a_fresh_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """``/chat/stream`` follows from its own message's number, written a moment before: a fresh
    number, whose stream reads the table only when its live events say it must."""
    from uai.dialects import reply_chunks as run_stream

    calls: list[dict[str, Any]] = []

    async def recorded(**kwargs: Any) -> Any:
        calls.append(kwargs)
        yield {"type": "status", "run_id": "r", "seq": 5, "data": {"status": "succeeded"}}

    monkeypatch.setattr(run_stream.streams, "follow", recorded)
    chunks = [chunk async for chunk in run_stream.chunks(chat_id="c", run_id="r", after_seq=4)]
    assert len(chunks) == 1 and b'"is_final":true' in chunks[0]
    assert calls == [
        {"chat_id": "c", "after_seq": 4, "idle_seconds": calls[0]["idle_seconds"], "fresh": True}
    ]


def test_sse__deltas_are_coalesced(alice: httpx.Client) -> None:
    from uai.agents.models import Agent

    Agent.objects.create(name="chatty", target="tests.agents:chatty", streams=True)
    chunks = collect(
        alice,
        "POST",
        "/chat/stream",
        json={"message": "talk", "agent": "chatty"},
        until=lambda e: json.loads(e.data)["is_final"],
    )
    text = "".join(json.loads(c.data)["content"] for c in chunks)
    assert text == "x" * 2000
    assert len(chunks) < 200  # 2000 deltas crossed the channel layer in far fewer messages


def test_conversation_cache__flushing_loses_nothing(alice: httpx.Client) -> None:
    from django.core.cache import cache

    from uai.agents.models import Agent
    from uai.chats import cache as conversation_cache
    from uai.chats.models import Chat

    Agent.objects.create(name="recall", target="tests.agents:recall")

    def ask(text: str) -> httpx.Response:
        return alice.post("/chat/run", json={"message": text, "conversation_id": "mem", "agent": "recall"})

    assert ask("one").json()["response"] == "0 earlier: "
    assert ask("two").json()["response"] == "1 earlier: one"
    created = Chat.objects.get(pk="mem").created_at
    cache.delete(
        conversation_cache._key("mem", created)
    )  # as a flush would (same cache when REDIS_URL is set)
    assert ask("three").json()["response"] == "2 earlier: one | two"
    # Written behind the cache's back (another surface): still seen.
    from uai.chats.models import Message
    from uai.runs.sink import EventSink

    Message.objects.create(
        chat_id="mem", seq=EventSink(chat_id="mem").next_seq(), role="user", content="aside"
    )
    assert ask("four").json()["response"] == "4 earlier: one | two | three | aside"


def test_conversation_cache__a_chat_made_again_under_a_deleted_ones_id_starts_empty(
    alice: httpx.Client, bob: httpx.Client
) -> None:
    """Ids are the clients'. A chat deleted where nothing forgot its cache (the admin, its user's
    deletion: a cascade) and made again under its id by another user: once the new chat's numbers
    passed the old one's, the agent's history was the deleted chat's."""
    from uai.agents.models import Agent
    from uai.chats.models import Chat

    Agent.objects.create(name="recall", target="tests.agents:recall")

    def ask(client: httpx.Client, text: str) -> str:
        body = {"message": text, "conversation_id": "reused", "agent": "recall"}
        return client.post("/chat/run", json=body).json()["response"]

    ask(alice, "alice's secret")
    Chat.objects.filter(pk="reused").delete()  # as the admin's delete, or a deleted user's cascade
    answers = [ask(bob, f"bob {i}") for i in range(4)]
    assert not [a for a in answers if "secret" in a], answers
    assert answers[-1] == "3 earlier: bob 0 | bob 1 | bob 2"


@pytest.mark.django_db(transaction=True)
def test_conversation_cache__unit() -> None:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from uai.chats import cache as conversation_cache
    from uai.chats.models import Message
    from uai.chats.services import chat_create

    user = get_user_model().objects.create(username="cachey")
    chat = chat_create(owner_id=user.pk)
    for seq, text in enumerate(["a", "b", "c"], start=1):
        Message.objects.create(chat=chat, seq=seq, role="user", content=text)
    assert [r[2] for r in conversation_cache.history(chat.id, chat.created_at, before_seq=3)] == ["a", "b"]
    assert cache.get(conversation_cache._key(chat.id, chat.created_at)) is not None
    cache.clear()
    assert [r[2] for r in conversation_cache.history(chat.id, chat.created_at, before_seq=4)] == [
        "a",
        "b",
        "c",
    ]
    # Rows written since the cache was filled are read on top of it, written back or not.
    for seq in range(4, 4 + conversation_cache.WRITE_BACK_AFTER + 2):
        Message.objects.create(chat=chat, seq=seq, role="agent", content=str(seq))
        rows = conversation_cache.history(chat.id, chat.created_at, before_seq=seq + 1)
        assert [r[2] for r in rows] == ["a", "b", "c", *map(str, range(4, seq + 1))]
