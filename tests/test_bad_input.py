"""Hostile input, surface by surface, against the real server: a table of bad requests for every
JSON route, the SSE headers, paths and query strings, and raw HTTP (the WebSocket's table is in
test_bad_input_websocket.py).

For each one: no 5xx, no hang (every client call has a timeout), ``{"detail", "code"}`` with a
4xx — and the server still serves afterwards. Some rows also name the exact answer (the defects
of issue 24: deep JSON was a 500, a malformed multipart body a 201, a long path no answer).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.conftest import UserClient, token_of
from tests.payloads import DEPTH, nest, nest_objects

TIMEOUT = httpx.Timeout(10.0)


# Bodies sent as application/json to every JSON route: (label, body, the status it must get, or
# None for "any answer but a 5xx").
JSON_BODIES: list[tuple[str, bytes, int | None]] = [
    ("not JSON", b"{not json", 400),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', 400),
    ("truncated", b'{"text": "x", "message": ', 400),
    ("empty", b"", None),
    ("an array", b"[1, 2]", None),
    ("a string", b'"text"', None),
    ("null", b"null", None),
    ("NaN", b'{"text": NaN, "message": NaN}', 400),
    ("5,000 digits", b'{"text": ' + b"9" * 5000 + b"}", 400),
    ("a NUL", json.dumps({k: "a\x00b" for k in ("text", "message", "input", "task", "name")}).encode(), 400),
    # Nesting: at the limit it is judged as usual; past it, 400 — however deep (these were 500s).
    (f"{DEPTH} deep", json.dumps({"metadata": json.loads(nest(DEPTH - 1))}).encode(), None),
    (f"{DEPTH + 1} deep", ('{"text": "x", "input": ' + nest(DEPTH) + "}").encode(), 400),
    ("400 deep", nest(400).encode(), 400),
    ("5,000 deep objects", ('{"text": "x", "metadata": ' + nest_objects(5000) + "}").encode(), 400),
    ("100,000 deep", nest(100_000).encode(), 400),
    (
        "wrong types",
        json.dumps({k: [1, {"x": None}] for k in ("text", "message", "agent", "name")}).encode(),
        None,
    ),
]


def multipart(boundary: str, *parts: tuple[str, str]) -> bytes:
    body = b""
    for name, value in parts:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return body + f"--{boundary}--\r\n".encode()


B = "uaiboundary"
MULTIPART = f"multipart/form-data; boundary={B}"
# (label, content type, body, the status it must get or None)
MULTIPART_BODIES: list[tuple[str, str, bytes, int | None]] = [
    ("no boundary parameter", "multipart/form-data", b"garbage", 400),
    ("garbage", MULTIPART, b"garbage, not multipart at all", 400),  # was a 201 on POST /chat/
    (
        "cut off in a part",
        MULTIPART,
        f'--{B}\r\nContent-Disposition: form-data; name="text"\r\n\r\nhel'.encode(),
        400,
    ),
    ("another boundary", MULTIPART, multipart("other", ("text", "x")), 400),
    (
        "no closing boundary",
        MULTIPART,
        multipart(B, ("text", "x")).removesuffix(f"--{B}--\r\n".encode()),
        400,
    ),
    ("no parts", MULTIPART, f"--{B}--\r\n".encode(), None),  # an empty form, as a browser sends it
    ("empty", MULTIPART, b"", None),
    # (400 from the routes with such a field: see the deep JSON test)
    ("deep JSON fields", MULTIPART, multipart(B, ("input", nest(DEPTH + 1)), ("state", nest(5000))), None),
    (
        "NUL field",
        MULTIPART,
        multipart(B, ("text", "a\x00b"), ("message", "a\x00b"), ("input", "a\x00b")),
        400,
    ),
    ("url-encoded garbage", "application/x-www-form-urlencoded", b"%%%&&&=%ZZ&text=%00", None),
    ("unknown content type", "application/x-nonsense", b"\x00\x01\x02", None),
]


def check(response: httpx.Response, what: Any, expected: int | None = None) -> str | None:
    """What is wrong with an answer to bad input (None: nothing)."""
    if response.status_code >= 500:
        return f"{what}: {response.status_code} {response.text[:200]}"
    if expected is not None and response.status_code != expected:
        return f"{what}: {response.status_code}, not {expected}: {response.text[:200]}"
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except ValueError:
            return f"{what}: {response.status_code} without JSON: {response.text[:200]!r}"
        if not (isinstance(body, dict) and body.get("detail") and body.get("code")):
            return f"{what}: {response.status_code} without detail and code: {body!r}"
    return None


def still_serves(client: httpx.Client) -> None:
    assert client.get("/healthz", timeout=TIMEOUT).status_code == 200
    assert client.get("/chat/", timeout=TIMEOUT).status_code == 200


Route = tuple[str, str, bool]  # method, path, whether it reads its body (others ignore any)


def send_table(client: httpx.Client, routes: Iterable[Route]) -> list[str]:
    """Every JSON and multipart body of the tables to every route; the failures."""
    failures = []
    for method, path, reads_body in routes:
        for label, body, expected in JSON_BODIES:
            response = client.request(
                method, path, content=body, headers={"content-type": "application/json"}, timeout=TIMEOUT
            )
            failures.append(check(response, (method, path, label), expected if reads_body else None))
        for label, content_type, body, expected in MULTIPART_BODIES:
            response = client.request(
                method, path, content=body, headers={"content-type": content_type}, timeout=TIMEOUT
            )
            failures.append(check(response, (method, path, label), expected if reads_body else None))
    return [f for f in failures if f]


def test_bad_input__native_rest_and_runs(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={}).json()["session_id"]
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 100, "delay": 0.1}}).json()[
        "task_id"
    ]
    routes = [
        ("POST", "/chat/", True),
        ("POST", f"/chat/{session}", True),
        ("POST", "/chat/next", True),
        ("POST", "/run/", True),
        ("POST", f"/run/{task}/input", True),
        ("POST", f"/run/{task}/logs", True),
        ("DELETE", f"/chat/{session}/artifacts/not-a-uuid", False),
    ]
    failures = send_table(alice, routes)
    assert not failures, "\n".join(failures)
    assert alice.get(f"/chat/{session}/messages").json() == []  # nothing half-stored
    alice.delete(f"/run/{task}")
    still_serves(alice)


def test_bad_input__seed_routes(alice: httpx.Client) -> None:
    """Seed 001's /agent/run, seed 003's /chat/run and /chat/stream, seed 004's chats and
    conversations: the same tables."""
    chat = alice.post("/chats/create", json={"name": "c"}).json()["id"]
    routes = [
        ("POST", "/agent/run", True),
        ("POST", "/chat/run", True),
        ("POST", "/chat/stream", True),
        ("POST", "/chats/create", True),
        ("PUT", f"/chats/update/{chat}", True),
        ("POST", "/conversations/create", True),
    ]
    failures = send_table(alice, routes)
    assert not failures, "\n".join(failures)
    assert alice.get(f"/history/{chat}").json() == []
    still_serves(alice)


def test_bad_input__seed_002_workflows(user_client: UserClient) -> None:
    # An id of its own: seed 002's rate limit counts per user id, and ids start at 1 in every test.
    client = user_client(id=random.randint(10**6, 10**9))
    workflow = client.post("/api/chat/playground/start", json={"input": "hi"}).json()["id"]
    routes = [
        ("POST", "/api/chat/playground/start", True),
        ("PUT", f"/api/workflows/{workflow}", True),
        ("POST", f"/api/chat/playground/{workflow}/stop", False),
    ]
    failures = send_table(client, routes)
    assert not failures, "\n".join(failures)
    still_serves(client)


def test_bad_input__agent_null_means_the_default_agent_everywhere(alice: httpx.Client) -> None:
    """``agent: null`` was a 400 on seed 001's /agent/run and a 200 on seed 003's /chat/run: null is
    "not given" (the default agent) wherever the agent is optional, and a 400 where it is required."""
    for path, body in [
        ("/chat/", {}),
        ("/chat/next", {"user_input": "hi"}),
        ("/agent/run", {"task": "hi"}),
        ("/chat/run", {"message": "hi"}),
        ("/chats/create", {"name": "n"}),
    ]:
        response = alice.post(path, json={**body, "agent": None}, timeout=TIMEOUT)
        assert response.status_code in (200, 201), (path, response.text)
    created = alice.post("/chat/", json={"agent": None}).json()
    assert created["agent"] == "echo"  # UAI_DEFAULT_AGENT
    required = alice.post("/run/", json={"agent": None, "input": "x"})
    assert required.status_code == 400 and "agent" in required.json()["detail"]


def test_bad_input__multipart_edge_cases(alice: httpx.Client) -> None:
    """A malformed multipart body on POST /chat/ made a chat (201); under daphne an unparsable one
    was a 400 with an empty body (Twisted's own parse, before UAI)."""
    before = len(alice.get("/chat/").json())
    for body in [b"garbage", f"--{B}\r\nbroken".encode()]:
        refused = alice.post("/chat/", content=body, headers={"content-type": MULTIPART})
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "invalid" and "multipart" in refused.json()["detail"]
    assert len(alice.get("/chat/").json()) == before  # nothing created
    empty = alice.post("/chat/", content=f"--{B}--\r\n".encode(), headers={"content-type": MULTIPART})
    assert empty.status_code == 201, empty.text  # an empty form: every field of a new chat is optional
    turn = alice.post(
        f"/chat/{empty.json()['session_id']}",
        content=multipart(B, ("text", "hello")),
        headers={"content-type": MULTIPART},
        timeout=30,
    )
    assert turn.status_code == 200 and turn.json()["messages"][0]["content"] == "hello"


def test_bad_input__deep_json_is_400_at_the_limit_plus_one(alice: httpx.Client) -> None:
    """Nested ~400 deep, JSON was a 500 on every JSON route (a recursive check; ~5,000 deep, the
    decoder itself): past UAI_MAX_JSON_DEPTH it is a 400, in a JSON body or a multipart field."""
    too_deep = {
        "detail": f"JSON is nested deeper than {DEPTH} levels of objects and arrays (UAI_MAX_JSON_DEPTH).",
        "code": "invalid",
    }
    at_limit = alice.post("/run/", json={"agent": "echo", "input": json.loads(nest(DEPTH - 1))})
    assert at_limit.status_code == 201, at_limit.text
    for depth in (DEPTH + 1, 400, 50_000):
        response = alice.post(
            "/run/",
            content=('{"agent": "echo", "input": ' + nest(depth) + "}").encode(),
            headers={"content-type": "application/json"},
        )
        assert (response.status_code, response.json()) == (400, too_deep), depth
    for path, fields in [
        ("/run/", {"agent": "echo", "input": nest(DEPTH + 1)}),
        ("/run/", {"agent": "echo", "input": nest(5000)}),
        ("/chat/", {"metadata": nest_objects(DEPTH + 1)}),
        ("/chat/next", {"user_input": "x", "state": "{" + '"a":' + nest(DEPTH) + "}"}),
        ("/chat/next", {"user_input": nest(400)}),
    ]:
        # multipart (form fields holding JSON), and url-encoded
        for body, content_type in [
            (multipart(B, *fields.items()), MULTIPART),
            (urlencode(fields).encode(), "application/x-www-form-urlencoded"),
        ]:
            response = alice.post(path, content=body, headers={"content-type": content_type})
            assert (response.status_code, response.json()) == (400, too_deep), (path, content_type)
    assert len(alice.get("/run/").json()) == 1  # the one at the limit


# --- paths and query strings --------------------------------------------------------------------


def test_bad_input__paths_and_queries(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={}).json()["session_id"]
    task = alice.post("/run/", json={"agent": "echo", "input": "x"}).json()["task_id"]
    zero = "00000000-0000-0000-0000-000000000000"
    rows: list[tuple[str, str, int | None]] = [
        ("GET", "/" + "a" * 60_000, 414),  # no answer at all under daphne
        ("GET", f"/chat/{'a' * 60_000}", 414),
        ("GET", f"/chat/{session}/messages?after={'1' * 10_000}", 414),
        ("GET", f"/chat/{'x' * 300}", 404),
        ("GET", "/chat/%ff%fe", None),
        ("GET", "/chat/%C0%80", None),
        ("GET", "/chat/..%2f..%2fetc", None),
        ("GET", "/chat/\u00e9t\u00e9", None),
        ("GET", "/chat/a%00b", 400),
        ("GET", f"/chat/{session}?x=%00", 400),
        ("GET", f"/chat/{session}/messages?after=-1", None),
        ("GET", f"/chat/{session}/messages?after=abc", 400),
        ("GET", f"/chat/{session}/messages?after=1e5", 400),
        ("GET", f"/chat/{session}/messages?after=99999999999999999999", 400),
        ("GET", f"/chat/{session}/messages?limit=0", None),
        ("GET", f"/chat/{session}/messages?limit=-5", None),
        ("GET", f"/chat/{session}/messages?limit=%C2%B2", 400),
        ("GET", f"/chat/{session}/messages?limit=1&limit=x", None),
        ("GET", f"/chat/{session}/artifacts/not-a-uuid", 404),
        ("GET", f"/chat/{session}/artifacts/{zero}/download", 404),
        ("GET", "/run/not-a-uuid", 404),
        ("GET", f"/run/{zero}", 404),
        ("GET", f"/run/{task}/logs?after=x", 400),
        ("GET", f"/run/{task}/logs?after=-99999999999999999999", 400),
        ("GET", "/run/?status=%00", 400),
        ("GET", "/run/?status=nonsense&agent=" + "x" * 1000, None),
        ("GET", "/run/?limit=abc", None),
        ("GET", "/runs/?agent=%00", 400),
        ("GET", f"/history/{'h' * 300}", 404),
        ("GET", "/history/%00", 400),
        ("GET", f"/chats/{'c' * 300}", 404),
        ("PUT", "/chats/update/%20", None),
        ("DELETE", "/chats/delete/..", None),
        ("GET", "/api/workflows/not-a-uuid/logs?logId=abc", None),
        ("GET", "/api/workflows/not-a-uuid/messages?page=-1", None),
        ("GET", "/api/workflows/?page=99999999999999999999", None),
        ("POST", "/api/chat/playground/start?workflowId=%00", 400),
        ("POST", "/api/chat/playground/start?workflowMode=nonsense", 400),
        ("GET", "/agents?x=" + "%" * 100, None),
        ("TRACE", "/chat/", None),
        ("PATCH", "/run/", None),
    ]
    failures = []
    for method, path, expected in rows:
        response = alice.request(method, path, json={"input": "x"}, timeout=TIMEOUT)
        failures.append(check(response, (method, path[:80]), expected))
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)
    still_serves(alice)


def test_bad_input__a_long_path_is_414_under_either_server(alice: httpx.Client) -> None:
    """A 60,000-character path got no answer under daphne (Twisted dropped the connection)."""
    for length in (9_000, 20_000, 60_000):
        response = alice.get("/chat/" + "a" * length, timeout=TIMEOUT)
        assert response.status_code == 414, (length, response.text[:200])
        assert response.json()["code"] == "too_large" and response.json()["detail"]
    still_serves(alice)


# --- SSE headers ---------------------------------------------------------------------------------


def opened(
    client: httpx.Client, path: str, headers: dict[str, bytes], *, read: bool = False
) -> tuple[httpx.Response, bytes]:
    """A stream's answer: its status, and its first bytes if ``read`` (a live stream is not
    waited for: it is closed once its headers came)."""
    with client.stream("GET", path, headers=headers, timeout=httpx.Timeout(10.0, read=5.0)) as response:
        if response.status_code != 200:
            response.read()
            return response, response.content
        return response, next(response.iter_raw(), b"") if read else b""


LAST_EVENT_IDS: list[tuple[bytes, int | None]] = [
    (b"abc", 400),
    (b"-1", 400),
    (b"1.5", 400),
    (b"1e3", 400),
    ("\u00b2".encode(), 400),  # a digit to str.isdigit(), not to int()
    (b"\xff\xfe", 400),
    (b"99999999999999999999", 400),
    (b"9" * 10_000, 400),
    (b"0x10", 400),
    (b"", None),
]


def test_bad_input__sse_last_event_id(alice: httpx.Client) -> None:
    session = alice.post("/chat/", json={}).json()["session_id"]
    assert alice.post(f"/chat/{session}", json={"text": "hi"}, timeout=30).status_code == 200
    task = alice.post("/run/", json={"agent": "echo", "input": "x"}).json()["task_id"]
    failures = []
    for path in (f"/chat/{session}/stream", f"/run/{task}/stream"):
        for value, expected in LAST_EVENT_IDS:
            response, _ = opened(alice, path, {"Last-Event-ID": value})
            failures.append(check(response, (path, value[:30]), expected))
        response, _ = opened(alice, path + "?last_event_id=%00", {})
        failures.append(check(response, (path, "NUL in the query"), 400))
        response, _ = opened(alice, path + "?last_event_id=-5", {})
        failures.append(check(response, (path, "negative in the query"), 400))
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)
    # A number past the chat's end (a client's counter from elsewhere): the stream follows from
    # its real end and says so with an ``id:`` (no event) — it was silent for good before.
    response, body = opened(alice, f"/chat/{session}/stream", {"Last-Event-ID": b"1000"}, read=True)
    assert response.status_code == 200
    last = max(m["seq"] for m in alice.get(f"/chat/{session}/messages").json())
    assert body.startswith(b"id: ") and int(body.split()[1]) >= last, body
    still_serves(alice)


def raw_request(live: str, request: bytes) -> bytes:
    """Send bytes as they are (what httpx would refuse to send); the answer's first bytes."""
    import socket

    host, port = live.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while len(answer) < 65536:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if length and len(body) >= int(length.group(1)):
                break  # the whole answer (the server may keep the connection open)
    return answer


def test_bad_input__malformed_http_and_huge_headers(live: str, alice: httpx.Client) -> None:
    """What the HTTP server may refuse before UAI sees it: an answer (a 4xx with {detail, code}
    where it refuses), never a dropped connection — daphne's were a bare 400, or nothing for a
    line over 16 KiB; uvicorn's a text/plain 400."""
    token = token_of(alice)
    rows = [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 1000) for i in range(30))
        + b"\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon in this header\r\n\r\n",
        b"NOT AN HTTP REQUEST\r\n\r\n",
        b"POST /run/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\nnot chunked\r\n0\r\n\r\n",
    ]
    for request in rows:
        answer = raw_request(live, request)
        status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b""
        assert status[:1] in (b"2", b"4"), (request[:60], answer[:200])  # an answer, not a drop
        if status.startswith(b"4"):
            assert b"application/json" in answer.partition(b"\r\n\r\n")[0].lower(), answer[:300]
            assert b'"detail": ' in answer, answer[:300]
    still_serves(alice)


def test_bad_input__deep_json_in_an_admin_form_is_a_form_error(live: str, user_client: UserClient) -> None:
    """The admin's JSON fields (an agent's options, a chat's metadata and state) decoded with
    Python's recursive decoder too: a deep value was a 500 for the operator."""
    from tests.test_admin_docs import admin_session

    browser = admin_session(live, user_client)
    try:
        for page, field in [("/admin/chats/chat/add/", "metadata"), ("/admin/agents/agent/add/", "options")]:
            for value in (nest(5000), nest(DEPTH + 1)):
                form = browser.get(page)
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
                answer = browser.post(
                    page,
                    data={field: value, "csrfmiddlewaretoken": token},
                    headers={"Referer": f"{live}{page}"},
                )
                assert answer.status_code == 200, (page, len(value), answer.text[:300])
                assert "UAI_MAX_JSON_DEPTH" in answer.text, page
    finally:
        browser.close()
