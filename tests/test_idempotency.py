"""Idempotency-Key on every creating route, driven with real clients against the running server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ROOT, UserClient, openai_sdk, process_env, set_password, wait_for

Body = Callable[[httpx.Client], tuple[str, dict[str, Any]]]


def _chat(client: httpx.Client, agent: str = "echo") -> str:
    created = client.post("/chat/", json={"agent": agent})
    assert created.status_code == 201, created.text
    return str(created.json()["session_id"])


def _a2a_message(text: str) -> dict[str, Any]:
    return {"messageId": f"m-{uuid.uuid4().hex[:8]}", "role": "ROLE_USER", "parts": [{"text": text}]}


# One creating route of each surface: (name, how to build the request once its chat exists).
SURFACES: dict[str, Body] = {
    "native chat": lambda c: ("/chat/", {"agent": "echo", "name": "n"}),
    "native turn": lambda c: (f"/chat/{_chat(c)}", {"text": "hello"}),
    "native run": lambda c: ("/run/", {"agent": "echo", "input": "hi"}),
    "seed 001 agent/run": lambda c: ("/agent/run", {"task": "hi", "chat_id": f"c-{uuid.uuid4().hex[:8]}"}),
    "seed 002 workflow": lambda c: ("/api/chat/playground/start", {"input": "1+1"}),
    "seed 003 chat/run": lambda c: ("/chat/run", {"message": "hi", "conversation_id": uuid.uuid4().hex}),
    "seed 003 chat/stream": lambda c: (
        "/chat/stream",
        {"message": "hi", "conversation_id": uuid.uuid4().hex},
    ),
    "seed 004 chats/create": lambda c: ("/chats/create", {"name": "c"}),
    "seed 004 conversations/create": lambda c: (
        "/conversations/create",
        {
            "chat_id": c.post("/chats/create", json={"name": "c"}).json()["id"],
            "role": "Human",
            "message": "hey",
        },
    ),
    "openai chat completion": lambda c: (
        "/v1/chat/completions",
        {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "openai streamed completion": lambda c: (
        "/v1/chat/completions",
        {"model": "echo", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "openai response": lambda c: ("/v1/responses", {"model": "echo", "input": "hi"}),
    "openai conversation": lambda c: ("/v1/conversations", {"metadata": {"k": "v"}}),
    "openai conversation items": lambda c: (
        f"/v1/conversations/{c.post('/v1/conversations', json={}).json()['id']}/items",
        {"items": [{"type": "message", "role": "user", "content": "hey"}]},
    ),
    "ag-ui run": lambda c: (
        "/ag-ui/echo",
        {
            "threadId": uuid.uuid4().hex,
            "runId": uuid.uuid4().hex,
            "state": {},
            "messages": [{"id": uuid.uuid4().hex, "role": "user", "content": "hi"}],
            "tools": [],
            "context": [],
            "forwardedProps": {},
        },
    ),
    "ai-sdk chat": lambda c: (
        "/ai-sdk/echo",
        {
            "id": f"ai-{uuid.uuid4().hex[:12]}",
            "messages": [{"id": "u-1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}],
            "trigger": "submit-message",
            "messageId": None,
        },
    ),
    "a2a rest send": lambda c: ("/a2a/echo/message:send", {"message": _a2a_message("hi")}),
    "a2a json-rpc send": lambda c: (
        "/a2a/echo",
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": _a2a_message("hi")}},
    ),
}


# Sessionless: the agent runs, nothing is stored (the key keeps it from running twice).
EPHEMERAL = {"seed 001 agent/run"}


def records(user: Any) -> tuple[int, int, int]:
    """The user's chats, runs (turns and tasks) and messages: what a create makes."""
    from uai.chats.models import Chat, Message
    from uai.runs.models import Run

    return (
        Chat.objects.filter(owner=user).count(),
        Run.objects.filter(owner=user).count(),
        Message.objects.filter(chat__owner=user).count(),
    )


def post(client: httpx.Client, path: str, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    if path.startswith("/a2a/"):
        headers["A2A-Version"] = "1.0"
    return client.post(path, json=body, headers=headers)


def settled(user: Any) -> tuple[int, int, int]:
    """The user's records once no run of theirs is still going (a background run's agent may
    still be adding its messages)."""
    from uai.runs.models import Run

    wait_for(lambda: not Run.objects.filter(owner=user, status__in=["queued", "running"]).exists())
    return records(user)


@pytest.mark.parametrize("surface", list(SURFACES))
def test_idempotency__a_retry_answers_as_the_first_and_creates_nothing(
    live: str, user_client: UserClient, surface: str
) -> None:
    alice = user_client()
    path, body = SURFACES[surface](alice)
    before = settled(alice.user)  # type: ignore[attr-defined]
    first = post(alice, path, body, "key-1")
    assert first.status_code < 300, first.text
    made = settled(alice.user)  # type: ignore[attr-defined]
    assert (made == before) == (surface in EPHEMERAL)  # the first request created something

    again = post(alice, path, body, "key-1")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert settled(alice.user) == made  # type: ignore[attr-defined]

    # Without a key, the same request creates again: the key is what made the retry a replay.
    fresh = post(alice, path, body, None)
    assert fresh.status_code < 300 and "idempotent-replayed" not in fresh.headers
    assert (settled(alice.user) == made) == (surface in EPHEMERAL)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "surface", ["native turn", "openai response", "seed 003 chat/stream", "a2a rest send"]
)
def test_idempotency__the_same_key_for_another_request_is_422(
    live: str, user_client: UserClient, surface: str
) -> None:
    alice = user_client()
    path, body = SURFACES[surface](alice)
    assert post(alice, path, body, "k").status_code < 300
    made = settled(alice.user)  # type: ignore[attr-defined]
    other = dict(body, **{"zz_extra": "x"}) if surface != "native turn" else {"text": "something else"}
    refused = post(alice, path, other, "k")
    # (A2A answers in its own shape: an INVALID_ARGUMENT is its 400)
    assert refused.status_code == (400 if surface.startswith("a2a") else 422), refused.text
    error = refused.json()
    detail = error["detail"] if "detail" in error else error["error"]["message"]  # (OpenAI's, A2A's shape)
    assert "Idempotency-Key" in detail
    assert settled(alice.user) == made  # type: ignore[attr-defined]


def test_idempotency__key_order_and_spacing_of_json_do_not_matter(live: str, alice: httpx.Client) -> None:
    chat = _chat(alice)
    headers = {"Idempotency-Key": "same", "Content-Type": "application/json"}
    first = alice.post(f"/chat/{chat}", content=b'{"text": "hi", "message_id": "m1"}', headers=headers)
    again = alice.post(f"/chat/{chat}", content=b'{"message_id":"m1","text":"hi"}', headers=headers)
    assert first.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


def test_idempotency__keys_are_per_user(live: str, alice: httpx.Client, bob: httpx.Client) -> None:
    for client in (alice, bob):
        created = client.post("/chat/", json={"name": "mine"}, headers={"Idempotency-Key": "shared"})
        assert created.status_code == 201 and "idempotent-replayed" not in created.headers
    alice_chats = [c["session_id"] for c in alice.get("/chat/").json()]
    bob_chats = [c["session_id"] for c in bob.get("/chat/").json()]
    assert len(alice_chats) == len(bob_chats) == 1 and alice_chats != bob_chats


def test_idempotency__a_multipart_turn_with_files(live: str, alice: httpx.Client) -> None:
    chat = _chat(alice)
    files = [("files", ("a.txt", b"first file", "text/plain"))]
    # httpx picks a new boundary for each request: the retry still matches.
    first = alice.post(f"/chat/{chat}", data={"text": "see"}, files=files, headers={"Idempotency-Key": "up"})
    assert first.status_code == 200, first.text
    again = alice.post(f"/chat/{chat}", data={"text": "see"}, files=files, headers={"Idempotency-Key": "up"})
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    other_file = [("files", ("a.txt", b"other bytes", "text/plain"))]
    refused = alice.post(
        f"/chat/{chat}", data={"text": "see"}, files=other_file, headers={"Idempotency-Key": "up"}
    )
    assert refused.status_code == 422, refused.text
    messages = alice.get(f"/chat/{chat}/messages").json()
    assert [m["role"] for m in messages] == ["user", "agent"]
    assert [f["name"] for f in messages[0]["files"]] == ["a.txt"]


@pytest.mark.parametrize(
    ("key", "why"),
    [("", "empty"), ("x" * 256, "longer than 255"), ("caf\u00e9", "visible ASCII")],
)
def test_idempotency__a_bad_key_is_400(live: str, alice: httpx.Client, key: str, why: str) -> None:
    chat = _chat(alice)
    refused = alice.post(
        f"/chat/{chat}",
        content=b'{"text": "hi"}',
        headers={"Idempotency-Key": key.encode(), "Content-Type": "application/json"},
    )
    assert refused.status_code == 400, refused.text
    assert why in refused.json()["detail"]
    assert alice.get(f"/chat/{chat}/messages").json() == []


def test_idempotency__unauthenticated_is_401_and_keeps_nothing(live: str, alice: httpx.Client) -> None:
    refused = httpx.post(f"{live}/chat/", json={}, headers={"Idempotency-Key": "k"})
    assert refused.status_code == 401
    refused = httpx.post(
        f"{live}/chat/", json={}, headers={"Idempotency-Key": "k", "Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401
    from uai.idempotency.models import IdempotencyKey

    assert not IdempotencyKey.objects.exists()


def test_idempotency__an_inactive_users_token_is_401_and_keeps_nothing(
    live: str, user_client: UserClient
) -> None:
    """An API token's user is found in the statement that claims the key: an inactive user's
    token claims nothing, and a bad key with a bad credential is still a 401 (sign in first)."""
    from uai.idempotency.models import IdempotencyKey

    client = user_client(is_active=False)
    refused = client.post("/chat/", json={}, headers={"Idempotency-Key": "k-inactive"})
    assert refused.status_code == 401, refused.text
    refused = client.post("/chat/", json={}, headers={"Idempotency-Key": "k" * 1000})
    assert refused.status_code == 401, refused.text
    assert not IdempotencyKey.objects.exists()


def test_idempotency__a_jwt_users_retry_answers_as_the_first(live: str, user_client: UserClient) -> None:
    """A JWT (not an API token) is checked by its signature, then the key claimed on its own."""
    client = user_client("jwt-user")
    set_password(client.user, "jwt-user-pass-1")  # type: ignore[attr-defined]
    tokens = httpx.post(
        f"{live}/api/auth/token", json={"username": "jwt-user", "password": "jwt-user-pass-1"}
    )
    assert tokens.status_code == 200, tokens.text
    jwt = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {tokens.json()['access']}"})
    with jwt:
        first = jwt.post("/chat/", json={"name": "one"}, headers={"Idempotency-Key": "k-jwt"})
        again = jwt.post("/chat/", json={"name": "one"}, headers={"Idempotency-Key": "k-jwt"})
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["session_id"] == first.json()["session_id"]
    assert len(client.get("/chat/").json()) == 1


def test_idempotency__concurrent_requests_with_one_key_create_once(live: str, alice: httpx.Client) -> None:
    chat = _chat(alice, agent="slow")
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(
            alice.post(
                f"/chat/{chat}", json={"text": '{"steps": 2, "delay": 0.3}'}, headers={"Idempotency-Key": "c"}
            )
        )

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.content for a in answers}) == 1
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true", "true"]
    roles = [m["role"] for m in alice.get(f"/chat/{chat}/messages").json()]
    assert roles.count("user") == 1


def test_idempotency__a_retry_after_a_dropped_connection_gets_the_one_turn(
    live: str, alice: httpx.Client
) -> None:
    """The client sends its turn, loses the connection before the answer, and sends it again:
    one turn ran, and the retry answers with it."""
    from uai.runs.models import Run

    chat = _chat(alice, agent="slow")
    body = b'{"text": "{\\"steps\\": 3, \\"delay\\": 0.3}"}'
    url = urlsplit(live)
    raw = socket.create_connection((url.hostname, url.port))
    raw.sendall(
        (
            f"POST /chat/{chat} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: {alice.headers['Authorization']}\r\nIdempotency-Key: dropped\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    # The turn started (the server has the request), then the connection goes, unanswered.
    wait_for(lambda: Run.objects.filter(chat_id=chat).exists())
    raw.close()
    time.sleep(0.1)

    retry = alice.post(
        f"/chat/{chat}",
        content=body,
        headers={"Idempotency-Key": "dropped", "Content-Type": "application/json"},
    )
    assert retry.status_code == 200, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    turn = retry.json()
    assert turn["status"] == "succeeded"
    [run] = Run.objects.filter(chat_id=chat)
    assert turn["run_id"] == str(run.pk)
    messages = alice.get(f"/chat/{chat}/messages").json()
    assert [m["role"] for m in messages].count("user") == 1
    assert [m["id"] for m in turn["messages"]] == [m["id"] for m in messages]


def test_idempotency__expired_keys_are_pruned_and_free(live: str, alice: httpx.Client) -> None:
    from django.utils import timezone

    from uai.idempotency import services
    from uai.idempotency.models import IdempotencyKey

    first = alice.post("/chat/", json={"name": "a"}, headers={"Idempotency-Key": "old"})
    IdempotencyKey.objects.update(expires_at=timezone.now())
    # An expired key is a new key: the request runs again.
    again = alice.post("/chat/", json={"name": "a"}, headers={"Idempotency-Key": "old"})
    assert again.status_code == 201 and again.json()["session_id"] != first.json()["session_id"]
    IdempotencyKey.objects.update(expires_at=timezone.now())
    assert services.prune_idempotency_keys() == 1
    assert not IdempotencyKey.objects.exists()


def test_idempotency__the_openai_sdk_sends_a_key_and_gets_one_response(
    live: str, alice: httpx.Client
) -> None:
    from uai.runs.models import Run

    sdk = openai_sdk(alice)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = sdk.responses.create(model="echo", input="once", extra_headers=key)
    again = sdk.responses.create(model="echo", input="once", extra_headers=key)
    assert again.id == first.id and again.output_text == first.output_text == "once"
    assert Run.objects.filter(owner=alice.user).count() == 1  # type: ignore[attr-defined]


def test_idempotency__a_cut_stream_is_not_started_again(live: str, alice: httpx.Client) -> None:
    """A streamed turn whose client left mid-stream: the retry is told to follow it (409), and
    no second turn starts."""
    from uai.runs.models import Run

    chat = _chat(alice, agent="slow")
    # (longer than a retry waits for a stream's end: the retry finds it still being sent)
    body = {"text": '{"steps": 4, "delay": 1.0}'}
    headers = {"Idempotency-Key": "cut", "Accept": "text/event-stream"}
    with alice.stream("POST", f"/chat/{chat}", json=body, headers=headers) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the stream started; then the client goes
    retry = alice.post(f"/chat/{chat}", json=body, headers=headers)
    assert retry.status_code == 409, retry.text
    assert "follow it" in retry.json()["detail"] and retry.headers["retry-after"] == "1"
    assert Run.objects.filter(chat_id=chat).count() == 1
    # The turn itself goes on to its end, once.
    wait_for(lambda: Run.objects.filter(chat_id=chat, status="succeeded").exists())
    roles = [m["role"] for m in alice.get(f"/chat/{chat}/messages").json()]
    assert roles.count("user") == 1


def test_idempotency__an_interrupted_first_request_is_not_run_again(live: str, alice: httpx.Client) -> None:
    from uai.idempotency.models import IdempotencyKey

    first = alice.post("/chat/", json={"name": "a"}, headers={"Idempotency-Key": "cut-short"})
    assert first.status_code == 201
    # As the row is left when the view raised (or the server, stopping, ended its wait).
    wait_for(lambda: IdempotencyKey.objects.filter(key="cut-short", status_code=201).exists())
    IdempotencyKey.objects.filter(key="cut-short").update(status_code=0, body=b"", headers=[])
    retry = alice.post("/chat/", json={"name": "a"}, headers={"Idempotency-Key": "cut-short"})
    assert retry.status_code == 409 and "interrupted" in retry.json()["detail"]
    assert len(alice.get("/chat/").json()) == 1


def test_idempotency__expired_keys_are_pruned_every_hour() -> None:
    from procrastinate.contrib.django import app

    periodic = {task.task.name: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["uai.prune_idempotency_keys"].task.queue == "maintenance"


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        ("/webhooks/", {"url": "http://127.0.0.1:9/hook", "enabled": False}, "uai.webhooks.models.Endpoint"),
        (
            "/schedules/",
            {
                "agent": "echo",
                "input": "hi",
                "cron": "0 9 * * *",
                "timezone": "Europe/Paris",
                "enabled": False,
            },
            "uai.schedules.models.Schedule",
        ),
    ],
)
def test_idempotency__a_webhook_endpoint_or_a_schedule_is_made_once(
    live: str, user_client: UserClient, path: str, body: dict[str, Any], model: str
) -> None:
    from django.utils.module_loading import import_string

    alice = user_client()
    owned = import_string(model).objects.filter(owner=alice.user)  # type: ignore[attr-defined]
    first = post(alice, path, body, "make-once")
    assert first.status_code == 201, first.text
    again = post(alice, path, body, "make-once")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert owned.count() == 1
    other = post(
        alice,
        path,
        {**body, "enabled": True} if path == "/schedules/" else {**body, "description": "x"},
        "make-once",
    )
    assert other.status_code == 422, other.text
    assert owned.count() == 1


@pytest.mark.parametrize(("enabled", "installed"), [("true", True), ("false", False)])
def test_setting__turned_off_no_request_is_guarded(enabled: str, installed: bool) -> None:
    """UAI_IDEMPOTENCY_ENABLED=false: the middleware is not in the chain (the header is ignored,
    as on a server without the feature); on by default, it is the chain's last."""
    code = (
        "import django, json; django.setup(); from django.conf import settings;"
        " print(json.dumps(settings.MIDDLEWARE))"
    )
    env = process_env(UAI_IDEMPOTENCY_ENABLED=enabled)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    chain = json.loads(done.stdout.strip().splitlines()[-1])
    guard = "uai.idempotency.middleware.IdempotencyMiddleware"
    assert (guard in chain) is installed
    if installed:
        assert chain[-1] == guard


@pytest.mark.django_db
def test_retry__past_the_waiting_retries_allowed_is_a_409_at_once(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A retry of a key whose first request is still running waits for its answer, holding a
    thread (the waiting is tested end to end above: one key sent twice at once, a dropped
    connection); past UAI_IDEMPOTENCY_MAX_WAITING such retries, the next is answered 409 at once."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from uai.idempotency import middleware, services
    from uai.idempotency.fingerprint import request_fingerprint

    settings.UAI_IDEMPOTENCY_WAIT_SECONDS = 5
    monkeypatch.setattr(middleware, "_WAITING", threading.BoundedSemaphore(2))
    for _ in range(2):
        assert middleware._WAITING.acquire(blocking=False)  # (as two retries polling would)
    user = get_user_model().objects.create_user(f"waits-{uuid.uuid4().hex[:6]}")
    request = RequestFactory().post("/chat/", {"agent": "echo"}, content_type="application/json")
    claimed = services.idempotency_claim(
        user_id=user.pk, key="k", fingerprint=request_fingerprint(request), method="POST", path="/chat/"
    )
    assert isinstance(claimed, services.Claimed)  # the first request, still running: no answer yet
    row = services.idempotency_get(pk=claimed.pk)
    started = time.monotonic()
    response = middleware._answer_again(request, row)
    assert time.monotonic() - started < 1
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert b"still in progress" in response.content
