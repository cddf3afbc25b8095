"""Seed 004: /chats/…, /conversations/… and SSE inference (with a loopback search service)."""

from __future__ import annotations

import json
import re
import uuid

import httpx
from httpx_sse import connect_sse

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_chats__crud_shapes(alice: httpx.Client, bob: httpx.Client) -> None:
    created = alice.post("/chats/create", json={"name": "Chat 1"})
    assert created.status_code == 201
    chat = created.json()
    assert set(chat) == {"id", "name", "created_at", "updated_at"}
    uuid.UUID(chat["id"])
    assert ISO.fullmatch(chat["created_at"])
    assert alice.get(f"/chats/{chat['id']}").json() == chat
    assert [c["id"] for c in alice.get("/chats/").json()] == [chat["id"]]
    updated = alice.put(
        f"/chats/update/{chat['id']}", json={"name": "Renamed", "updated_at": "2023-08-05T14:48:00.000Z"}
    )
    assert updated.json()["name"] == "Renamed"
    assert updated.json()["updated_at"] >= chat["updated_at"]
    assert alice.put(f"/chats/update/{chat['id']}", json={"updated_at": "x"}).status_code == 400
    assert bob.get(f"/chats/{chat['id']}").status_code == 404
    assert bob.delete(f"/chats/delete/{chat['id']}").status_code == 404
    assert alice.post("/chats/create", json={"name": 3}).status_code == 400
    assert alice.delete(f"/chats/delete/{chat['id']}").json() == {"id": chat["id"], "deleted": True}
    assert alice.get(f"/chats/{chat['id']}").status_code == 404


def test_conversations__create_roles(alice: httpx.Client, bob: httpx.Client) -> None:
    chat = alice.post("/chats/create", json={"name": "c"}).json()
    human = alice.post(
        "/conversations/create", json={"chat_id": chat["id"], "role": "Human", "message": "hey"}
    )
    assert human.status_code == 201
    body = human.json()
    assert {"id", "role", "chat_id", "message", "created_at", "updated_at"} <= set(body)
    assert (body["role"], body["message"], body["chat_id"]) == ("Human", "hey", chat["id"])
    for bad in [
        {"chat_id": chat["id"], "role": "Robot", "message": "x"},
        {"chat_id": chat["id"], "role": "Human"},
        {"role": "Human", "message": "x"},
    ]:
        assert alice.post("/conversations/create", json=bad).status_code == 400
    assert (
        bob.post(
            "/conversations/create", json={"chat_id": chat["id"], "role": "Human", "message": "x"}
        ).status_code
        == 404
    )


def stream(client: httpx.Client, path: str) -> list[dict]:
    with connect_sse(client, "GET", path, timeout=httpx.Timeout(30)) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(e.data) for e in source.iter_sse()]


def test_inference__answers_the_latest_human_message(alice: httpx.Client) -> None:
    chat = alice.post("/chats/create", json={"name": "inf"}).json()
    assert alice.get(f"/conversations/inference/{chat['id']}").status_code == 400  # nothing to answer yet
    alice.post("/conversations/create", json={"chat_id": chat["id"], "role": "Human", "message": "echo me"})
    chunks = stream(alice, f"/conversations/inference/{chat['id']}")
    assert chunks[-1]["is_final"] is True
    assert "".join(c["content"] for c in chunks) == "echo me"
    native = alice.get(f"/chat/{chat['id']}/messages").json()
    assert [(m["role"], m["content"]) for m in native] == [("user", "echo me"), ("agent", "echo me")]


def test_inference__asked_again_replays_the_answer_instead_of_storing_another(alice: httpx.Client) -> None:
    """An EventSource reconnects whenever the stream closes: each GET ran the agent again and
    stored one more answer. Asked again, it streams the answer given; reconnecting with the last
    event's id gets 204 (which stops an EventSource); a new Human message is answered anew."""
    chat = alice.post("/chats/create", json={"name": "again"}).json()
    alice.post("/conversations/create", json={"chat_id": chat["id"], "role": "Human", "message": "once"})
    path = f"/conversations/inference/{chat['id']}"
    with connect_sse(alice, "GET", path, timeout=httpx.Timeout(30)) as source:
        first = list(source.iter_sse())
    again = stream(alice, path)
    assert "".join(c["content"] for c in again) == "once" and again[-1]["is_final"] is True
    done = alice.get(path, headers={"Last-Event-ID": first[-1].id}, timeout=10)
    assert (done.status_code, done.content) == (204, b"")
    native = alice.get(f"/chat/{chat['id']}/messages").json()
    assert [(m["role"], m["content"]) for m in native] == [("user", "once"), ("agent", "once")]
    alice.post("/conversations/create", json={"chat_id": chat["id"], "role": "Human", "message": "twice"})
    assert "".join(c["content"] for c in stream(alice, path)) == "twice"
    assert len(alice.get(f"/chat/{chat['id']}/messages").json()) == 4


def test_inference__a_failed_answer_is_tried_again_when_asked_afresh(alice: httpx.Client) -> None:
    """Replaying a failure to every GET left no way to try again: asked without Last-Event-ID
    (not an EventSource resuming), a failed or cancelled answer is run anew."""
    from uai.runs.models import Run

    session = alice.post("/chat/", json={"agent": "fail"}).json()["session_id"]
    alice.post("/conversations/create", json={"chat_id": session, "role": "Human", "message": "try"})
    path = f"/conversations/inference/{session}"
    attempts = []
    for _ in range(2):  # the second GET is a second attempt
        with connect_sse(alice, "GET", path, timeout=httpx.Timeout(30)) as source:
            attempts.append(list(source.iter_sse()))
        assert json.loads(attempts[-1][-1].data)["metrics"]["status"] == "failed"
    assert Run.objects.filter(chat_id=session).count() == 2
    # An EventSource resuming after the failure it was shown: nothing more, and no new attempt.
    assert alice.get(path, headers={"Last-Event-ID": attempts[-1][-1].id}, timeout=10).status_code == 204
    assert Run.objects.filter(chat_id=session).count() == 2


def test_inference_internet__uses_the_search_backend(alice: httpx.Client, search_service: str) -> None:
    from uai.agents.models import Agent

    web = Agent.objects.get(name="web")
    web.options = {"search_url": search_service}
    web.enabled = True  # the test process has no UAI_SEARCH_URL, so its sync left `web` off
    web.save()
    chat = alice.post("/chats/create", json={"name": "net"}).json()
    alice.post(
        "/conversations/create", json={"chat_id": chat["id"], "role": "Human", "message": "django channels"}
    )
    chunks = stream(alice, f"/conversations/inference_internet/{chat['id']}")
    answer = "".join(c["content"] for c in chunks)
    assert "About django channels" in answer
    assert "http://example.test/2" in answer
    steps = [m["step_type"] for m in alice.get(f"/chat/{chat['id']}/messages").json()]
    assert steps == [None, "PlanningStep", "ActionStep", "FinalAnswerStep"]
    assert alice.get(f"/chats/{chat['id']}").json()["id"] == chat["id"]
