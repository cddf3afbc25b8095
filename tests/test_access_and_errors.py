"""Auth, ownership and bad input: every route answers a clear 4xx with ``{"detail"}``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest


def test_auth__every_route_needs_a_token(live: str) -> None:
    with httpx.Client(base_url=live) as anonymous:
        check_anonymous(anonymous)


def test_auth__a_deactivated_users_token_stops_working(alice: httpx.Client) -> None:
    from django.contrib.auth import get_user_model

    assert alice.get("/chat/").status_code == 200
    get_user_model().objects.filter(username="alice").update(is_active=False)
    refused = alice.get("/chat/")
    assert refused.status_code == 401 and refused.json()["detail"] == "Invalid token."
    get_user_model().objects.filter(username="alice").update(is_active=True)
    assert alice.get("/chat/").status_code == 200


def test_auth__token_and_keyword_schemes_name_the_same_user(alice: httpx.Client) -> None:
    from rest_framework.authtoken.models import Token

    from uai_project.auth import user_for_credential

    key = alice.headers["Authorization"].split()[1]
    user, token = user_for_credential(key)
    stored = Token.objects.get(key=key)
    assert (user.username, user.pk, token.key, token.user_id, token.created) == (
        "alice",
        stored.user_id,
        key,
        stored.user_id,
        stored.created,
    )
    with httpx.Client(base_url=str(alice.base_url), headers={"Authorization": f"Token {key}"}) as keyword:
        session = keyword.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    assert alice.get(f"/chat/{session}").status_code == 200


def check_anonymous(anonymous: httpx.Client) -> None:
    for method, path in [
        ("GET", "/chat/"),
        ("POST", "/chat/"),
        ("POST", "/chat/next"),
        ("GET", "/chat/abc/messages"),
        ("GET", "/run/"),
        ("POST", "/run/"),
        ("GET", "/run/00000000-0000-0000-0000-000000000000/logs"),
    ]:
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert "detail" in response.json()
        assert response.headers["www-authenticate"].startswith("Bearer")
    bad = anonymous.get("/chat/", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["detail"]
    assert anonymous.get("/healthz").status_code == 200


def test_ownership__another_users_records_are_not_found(alice: httpx.Client, bob: httpx.Client) -> None:
    session = alice.post("/chat/", json={}).json()["session_id"]
    turn = alice.post(f"/chat/{session}", data={"text": "t"}, files=[("files", ("a.txt", b"a"))]).json()
    artifact = turn["artifacts"][0]
    task = alice.post("/run/", json={"agent": "echo", "input": "x"}).json()["task_id"]
    for method, path in [
        ("GET", f"/chat/{session}"),
        ("POST", f"/chat/{session}"),
        ("DELETE", f"/chat/{session}"),
        ("GET", f"/chat/{session}/messages"),
        ("GET", f"/chat/{session}/artifacts"),
        ("GET", f"/chat/{session}/artifacts/{artifact['id']}"),
        ("GET", f"/chat/{session}/artifacts/{artifact['id']}/download"),
        ("GET", f"/run/{task}"),
        ("DELETE", f"/run/{task}"),
        ("POST", f"/run/{task}/input"),
        ("GET", f"/run/{task}/logs"),
        ("POST", f"/run/{task}/logs"),
        ("GET", f"/run/{task}/artifacts"),
    ]:
        response = bob.request(method, path, json={"text": "x", "message": "m"})
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"]
    assert session not in [c["id"] for c in bob.get("/chat/").json()]
    assert task not in [r["task_id"] for r in bob.get("/run/").json()]
    assert alice.get(f"/chat/{session}").status_code == 200  # untouched


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/chat/", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ("POST", "/chat/", {"json": {"agent": "no-such-agent"}}, 400),
        ("POST", "/chat/", {"json": {"metadata": [1, 2]}}, 400),
        ("POST", "/chat/", {"json": {"name": 5}}, 400),
        ("POST", "/chat/", {"json": [1, 2, 3]}, 400),
        ("POST", "/chat/next", {"json": {}}, 400),
        ("POST", "/chat/next", {"json": {"user_input": 5}}, 400),
        ("POST", "/chat/next", {"json": {"user_input": "x", "state": "nope"}}, 400),
        ("POST", "/chat/next", {"json": {"user_input": "x", "agent": "nope"}}, 400),
        ("POST", "/run/", {"json": {}}, 400),
        ("POST", "/run/", {"json": {"agent": "nope"}}, 400),
        ("POST", "/run/", {"json": {"agent": ["echo"]}}, 400),
        ("GET", "/run/not-a-uuid", {}, 404),
        ("GET", "/run/00000000-0000-0000-0000-000000000000", {}, 404),
        ("GET", "/chat/no-such-chat", {}, 404),
        ("GET", "/no/such/route", {}, 404),
        ("PUT", "/chat/", {"json": {}}, 405),
        # A NUL character, which PostgreSQL cannot take (these were 500s): in a URL's path …
        ("GET", "/chat/abc%00def", {}, 400),
        ("GET", "/chats/abc%00", {}, 400),
        ("GET", "/history/abc%00", {}, 400),
        # … and in any string of a JSON body, multipart JSON fields included.
        ("POST", "/chat/", {"json": {"agent": "echo", "metadata": {"a": "x\u0000y"}}}, 400),
        ("POST", "/chat/", {"json": {"agent": "echo", "metadata": {"x\u0000": 1}}}, 400),
        ("POST", "/run/", {"json": {"agent": "echo", "input": ["ok", "x\u0000y"]}}, 400),
        ("POST", "/chat/next", {"data": {"user_input": "x", "state": '{"a": "\\u0000"}'}}, 400),
        # … in form and multipart fields that are not JSON, and in a query string.
        ("POST", "/run/", {"data": {"agent": "echo", "input": "a\x00b"}}, 400),
        ("POST", "/chat/next", {"data": {"user_input": "a\x00b"}}, 400),
        ("POST", "/chat/next", {"data": {"user_input": "a\x00b"}, "files": {"files": ("f.txt", b"x")}}, 400),
        ("POST", "/api/chat/playground/start?workflowId=%00", {"json": {"input": "x"}}, 400),
        ("GET", "/runs/?agent=%00", {}, 400),
        # Numbers PostgreSQL cannot compare, or int() takes for digits and then refuses.
        (
            "GET",
            "/run/00000000-0000-0000-0000-000000000000/stream?last_event_id=99999999999999999999",
            {},
            400,
        ),
        ("GET", "/run/00000000-0000-0000-0000-000000000000/stream?last_event_id=%C2%B2", {}, 400),
    ],
)
def test_errors__bad_requests(alice: httpx.Client, method: str, path: str, kwargs: dict, status: int) -> None:
    response = alice.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"]


def test_errors__numbers_from_the_url_postgresql_could_not_compare(alice: httpx.Client) -> None:
    """Past bigint, or what int() takes for digits and then refuses ("²"): these were 500s."""
    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    assert alice.post(f"/chat/{session}", json={"text": "hi"}).status_code == 200
    for query in ["limit=100000000000000000000", "after=-100000000000000000000", "after=%C2%B2"]:
        response = alice.get(f"/chat/{session}/messages?{query}")
        assert response.status_code == 400, (query, response.text)
        assert "whole number" in response.json()["detail"]
    task = alice.post("/run/", json={"agent": "echo", "input": "x"}).json()["task_id"]
    assert alice.get(f"/run/{task}/logs?after=99999999999999999999").status_code == 400
    workflow = alice.post("/api/chat/playground/start", json={"input": "hi"}).json()["id"]
    for log_id in ["%C2%B2", "9" * 30]:
        response = alice.get(f"/api/workflows/{workflow}/logs?logId={log_id}")
        assert response.status_code == 404, (log_id, response.text)


def test_errors__bad_turn_bodies(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={}).json()["session_id"]
    for body in [{}, {"text": 5}, {"text": None}, {"text": "x", "wait": "maybe"}, {"text": "x" * 5001}]:
        response = alice.post(f"/chat/{session}", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["detail"]
    too_big = alice.post(
        f"/chat/{session}", data={"text": "x"}, files=[("files", ("big.bin", b"0" * (256 * 1024 + 1)))]
    )
    assert too_big.status_code == 413 and "larger" in too_big.json()["detail"]
    too_many = alice.post(
        f"/chat/{session}", data={"text": "x"}, files=[("files", (f"{i}.txt", b"x")) for i in range(4)]
    )
    assert too_many.status_code == 413
    huge_body = alice.post(
        f"/chat/{session}", content=b"x" * (4 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert huge_body.status_code == 413
    assert alice.get(f"/chat/{session}/messages", params={"limit": "x"}).status_code == 400
    # Nothing half-written: no message was stored by any of these.
    assert alice.get(f"/chat/{session}/messages").json() == []


def test_errors__a_json_body_over_its_limit_is_413(alice: httpx.Client) -> None:
    """A JSON body between UAI_MAX_JSON_BYTES and the whole-request limit (all uploads together) is
    refused, naming UAI's setting (it named Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    limit = 2 * 1024 * 1024  # UAI_MAX_JSON_BYTES's default, as the test server has it

    def body(size: int, agent: str) -> bytes:
        padding = size - len(json.dumps({"agent": agent, "input": ""}))
        return json.dumps({"agent": agent, "input": "x" * padding}).encode()

    assert len(body(limit + 1, "echo")) == limit + 1
    too_big = alice.post(
        "/run/", content=body(limit + 1, "echo"), headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413, too_big.text
    assert "UAI_MAX_JSON_BYTES" in too_big.json()["detail"]
    assert alice.get("/run/").json() == []  # nothing stored
    # At the limit the body is read and judged as usual.
    at_limit = alice.post(
        "/run/", content=body(limit, "no-such-agent"), headers={"content-type": "application/json"}
    )
    assert at_limit.status_code == 400 and "no-such-agent" in at_limit.json()["detail"]


def test_errors__bad_run_bodies(alice: httpx.Client) -> None:
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 50, "delay": 0.1}}).json()["task_id"]
    for body in [
        [],
        {"message": 1},
        {"level": "loud", "message": "x"},
        {},
        [{"message": "ok"}, {"level": "x"}],
    ]:
        response = alice.post(f"/run/{task}/logs", json=body)
        assert response.status_code == 400, (body, response.text)
    assert alice.post(f"/run/{task}/input", json={"text": 1}).status_code == 400
    assert alice.post(f"/run/{task}/input", json={"text": "not waiting"}).status_code == 409
    assert alice.get(f"/run/{task}/logs", params={"after": "x"}).status_code == 400
    assert alice.get(f"/run/{task}/artifacts/not-a-uuid").status_code == 404
    bad_input = alice.post("/run/", json={"agent": "slow", "input": {"steps": "many"}}).json()["task_id"]
    from tests.conftest import wait_run

    failed = wait_run(alice, bad_input, "failed")
    assert "steps must be a whole number" in failed["error"]
    assert alice.delete(f"/run/{task}").status_code == 200
    assert alice.get(f"/run/{task}/logs").status_code == 200


def test_errors__a_chunked_body_over_the_request_limit_is_413(live: str) -> None:
    """The size guard read Content-Length, which a chunked body has none of: it was read whole
    (to disk, twice under daphne) and handed on, however large. And a body with a Content-Length
    over the limit was read whole before it was refused."""
    import socket

    limit = 256 * 1024 * 3 + 2 * 1024 * 1024  # the test server's uploads at their largest + JSON
    host, port = live.removeprefix("http://").split(":")

    def post(headers: str, body_chunks: list[bytes]) -> bytes:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(f"POST /run/ HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
            with contextlib.suppress(OSError):  # the server may answer and close before the end
                for chunk in body_chunks:
                    sock.sendall(chunk)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        return answer

    piece = b"x" * (256 * 1024)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(limit // len(piece) + 1)] + [b"0\r\n\r\n"]
    chunked = post("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunks)
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:300]
    assert b'"detail": "Request body is larger than' in chunked
    declared = post(
        f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n", [b"x" * (limit + 1)]
    )
    assert declared.startswith(b"HTTP/1.1 413"), declared[:300]


async def test_body_limit__refuses_while_the_body_arrives(settings: Any) -> None:
    """In front of Django (which reads a whole body to a file before any middleware): a declared
    length over the limit is refused before a byte is read, a chunked body once it passes it."""
    from uai_project.body_limit import BodyLimit, request_body_limit

    settings.UAI_MAX_UPLOAD_BYTES, settings.UAI_MAX_UPLOAD_FILES, settings.UAI_MAX_JSON_BYTES = 10, 2, 5
    assert request_body_limit() == 25
    reached: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reached.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(
        headers: list[tuple[bytes, bytes]], pieces: list[bytes]
    ) -> tuple[list[dict[str, Any]], int]:
        sent: list[dict[str, Any]] = []
        queue = [
            {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
            for i, p in enumerate(pieces)
        ]
        read = 0

        async def receive() -> dict[str, Any]:
            nonlocal read
            read += 1
            return queue.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/run/", "headers": headers}
        await BodyLimit(app)(scope, receive, send)
        return sent, read

    sent, read = await call([(b"content-length", b"26")], [b"x" * 26])
    assert sent[0]["status"] == 413 and read == 0 and reached == []
    sent, read = await call([], [b"x" * 10, b"x" * 10, b"x" * 10, b"x" * 10])  # chunked: no length
    assert sent[0]["status"] == 413 and read == 3 and reached == []
    assert json.loads(sent[1]["body"]) == {
        "detail": "Request body is larger than 25 bytes.",
        "code": "too_large",
    }
    sent, _ = await call([], [b"x" * 10, b"x" * 10, b"x" * 5])  # at the limit: passed on whole
    assert sent[0]["status"] == 200 and reached == [b"x" * 25]
