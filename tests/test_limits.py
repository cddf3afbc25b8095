"""Limits per user (uai/limits/): the request rate, unfinished runs and turns, stored bytes — each
the setting's default or the user's own (admin) — on every surface, in the surface's own error.

A server of this module's own has small defaults (``LIMITED``); its cache is its own, so that a
user's count is its alone. Users get random ids: the server caches a user's own rate, and the
test database gives ids out again every test.
"""

from __future__ import annotations

import concurrent.futures
import html.parser
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from django.conf import settings
from websockets.sync.client import connect

from tests.conftest import (
    UserClient,
    openai_sdk,
    process_env,
    serve_until_done,
    set_password,
    token_of,
    wait_run,
    ws_url,
)

LIMITED = {
    "UAI_USER_RATE": "5/10s",
    "UAI_USER_MAX_CONCURRENT_RUNS": "2",
    "UAI_USER_MAX_CONCURRENT_TURNS": "2",
    "UAI_USER_MAX_STORED_BYTES": "3000",
}
SLOW = json.dumps({"steps": 100, "delay": 0.1})  # a turn or run that stays unfinished ~10 s


@pytest.fixture(scope="module")
def limited(live_server_url: str, log_dir: Path) -> Iterator[str]:
    """A second server whose defaults are ``LIMITED`` (the first lifts them for every other test)."""
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}-limits-{uuid.uuid4().hex[:6]}"
    env = process_env(**LIMITED, UAI_CACHE_PREFIX=prefix)
    yield from serve_until_done("server-limits", "worker-limits", env, log_dir)


def someone(user_client: UserClient, server: str, **limits: Any) -> httpx.Client:
    """A new user, with ``limits`` of their own (a ``UserLimits`` row), signed in to ``server``."""
    from uai.limits.models import UserLimits

    client = user_client(id=random.randint(10**6, 2 * 10**9))
    if limits:
        UserLimits.objects.create(user=client.user, **limits)  # type: ignore[attr-defined]
    client.base_url = httpx.URL(server)
    return client


def unlimited(user_client: UserClient, server: str, **limits: Any) -> httpx.Client:
    """A user whose request rate is lifted: the tests of the other limits send many requests."""
    return someone(user_client, server, rate="none", **limits)


def rate_limited(response: httpx.Response) -> int:
    """The wait a 429 ``{"detail", "code"}`` says, checked."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "rate_limited" and body["detail"]
    wait = int(response.headers["Retry-After"])
    assert wait > 0
    return wait


def ws_send(server: str, client: httpx.Client, chat_id: str, text: str) -> dict[str, Any]:
    """Send one turn on seed 001's WebSocket; the first frame that answers it (an agent_error or
    its first step)."""
    with connect(ws_url(server, f"/chat/{chat_id}?agent=slow&token={token_of(client)}")) as socket:
        socket.send(json.dumps({"type": "client", "message": text, "message_id": "m1"}))
        while True:
            frame = json.loads(socket.recv(timeout=15))
            if frame["type"] in ("agent_error", "agent_step"):
                return frame


# --- the request rate ------------------------------------------------------------------------------


def test_rate__429_with_retry_after_on_every_surface_then_recovers(
    limited: str, user_client: UserClient
) -> None:
    alice, bob = someone(user_client, limited), someone(user_client, limited)
    chat = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    assert [alice.get("/chat/").status_code for _ in range(4)] == [200] * 4  # 5 in 10 s
    wait = rate_limited(alice.get("/chat/"))
    assert wait <= 10
    assert "5 in 10 s" in alice.get("/agents").json()["detail"]  # a limit of the user, on every route
    # The native SSE stream (a plain view), before any byte of it.
    rate_limited(alice.get(f"/chat/{chat}/stream"))
    # The OpenAI facade, in OpenAI's shape, as its SDK reads it.
    with pytest.raises(openai.RateLimitError) as caught:
        openai_sdk(alice).models.list()
    assert caught.value.status_code == 429 and caught.value.code == "rate_limit_exceeded"
    assert 0 < int(caught.value.response.headers["Retry-After"]) <= 10
    # A2A, in its binding's shape (google.rpc.Status, RESOURCE_EXHAUSTED).
    refused = alice.post("/a2a/echo", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {}})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    # Seed 001's WebSocket: a turn sent is a request; refused in an agent_error, nothing stored.
    frame = ws_send(limited, alice, chat, "hello")
    assert frame["type"] == "agent_error" and "Too many requests" in frame["error"]
    # Another user is not held back by alice's count.
    assert [bob.get("/chat/").status_code for _ in range(5)] == [200] * 5
    # After the wait, alice is served again.
    time.sleep(wait + 0.2)
    assert alice.get("/chat/").status_code == 200
    assert alice.get(f"/chat/{chat}/messages").json() == []  # the refused WebSocket turn: none


def test_rate__the_users_own_rate_lowers_or_lifts_the_default(limited: str, user_client: UserClient) -> None:
    lower = someone(user_client, limited, rate="2/min")
    assert [lower.get("/chat/").status_code for _ in range(2)] == [200, 200]
    wait = rate_limited(lower.get("/chat/"))
    assert 50 < wait <= 60 and "2 a minute" in lower.get("/chat/").json()["detail"]
    lifted = someone(user_client, limited, rate="none")
    assert {lifted.get("/chat/").status_code for _ in range(15)} == {200}
    higher = someone(user_client, limited, rate="8/3s")
    codes = [higher.get("/chat/").status_code for _ in range(9)]
    assert codes[:8] == [200] * 8 and codes[8] == 429


class _Form(html.parser.HTMLParser):
    """The fields of an admin change form, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if "disabled" not in a:
                self.fields.append((name, a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea" and name:
            self.fields.append((name, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def admin_set_limits(browser: httpx.Client, server: str, user_id: int, **limits: str) -> httpx.Response:
    """Fill in the user's "Limits" on their admin page and save it, as an operator does."""
    page = browser.get(f"/admin/auth/user/{user_id}/change/")
    assert page.status_code == 200 and "limits-TOTAL_FORMS" in page.text
    form = _Form()
    form.feed(page.text)
    data = dict(form.fields)
    data.update({f"limits-0-{name}": value for name, value in limits.items()})
    data["limits-TOTAL_FORMS"] = "1"
    data["limits-0-user"] = str(user_id)
    return browser.post(
        f"/admin/auth/user/{user_id}/change/",
        data=data,
        headers={"Referer": f"{server}/admin/auth/user/{user_id}/change/"},
    )


def test_rate__set_in_the_admin_takes_effect_at_once(limited: str, user_client: UserClient) -> None:
    from uai.limits.models import UserLimits

    operator = user_client("operator-limits", is_staff=True, is_superuser=True)
    set_password(operator.user, "operator-pass")  # type: ignore[attr-defined]
    browser = httpx.Client(base_url=limited, follow_redirects=True, timeout=30)
    try:
        login = browser.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "operator-limits", "password": "operator-pass", "csrfmiddlewaretoken": token},
            headers={"Referer": f"{limited}/admin/login/"},
        )
        carol = someone(user_client, limited)
        carol_id = carol.user.pk  # type: ignore[attr-defined]
        assert carol.get("/chat/").status_code == 200  # the default is read, and cached
        # Bad input is said on the form, and nothing is saved.
        refused = admin_set_limits(browser, limited, carol_id, rate="lots")
        assert refused.status_code == 200 and "A rate looks like 600/min or 30/10s" in refused.text
        assert not UserLimits.objects.filter(user_id=carol_id).exists()
        saved = admin_set_limits(browser, limited, carol_id, rate="2/min", max_concurrent_turns="7")
        assert saved.status_code == 200 and "was changed successfully" in saved.text, saved.text[-3000:]
        own = UserLimits.objects.get(user_id=carol_id)
        assert (own.rate, own.max_concurrent_turns, own.max_concurrent_runs) == ("2/min", 7, None)
        # The cached default was forgotten on save: the request before and the next one make 2
        # in a minute, and a third is one too many.
        assert carol.get("/chat/").status_code == 200
        assert rate_limited(carol.get("/chat/")) > 3
        admin_set_limits(browser, limited, carol_id, rate="none")
        assert {carol.get("/chat/").status_code for _ in range(8)} == {200}
    finally:
        browser.close()


# --- unfinished runs and turns ---------------------------------------------------------------------


def at_once(calls: list[Any]) -> list[httpx.Response]:
    """Call each at the same moment (one thread each)."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_runs__n_plus_more_started_at_once_exactly_n_accepted(limited: str, user_client: UserClient) -> None:
    alice = unlimited(user_client, limited, max_concurrent_runs=3)
    bob = unlimited(user_client, limited)  # the default: 2
    body = {"agent": "slow", "input": json.loads(SLOW)}
    answers = at_once([lambda: alice.post("/run/", json=body) for _ in range(8)])
    accepted = [a for a in answers if a.status_code == 201]
    assert len(accepted) == 3, [a.status_code for a in answers]
    for refused in (a for a in answers if a.status_code != 201):
        rate_limited(refused)
        assert "at most 3 unfinished" in refused.json()["detail"]
    # bob has the default, and alice's runs do not count against him
    assert [bob.post("/run/", json=body).status_code for _ in range(3)] == [201, 201, 429]
    # a run that ends frees its place
    assert alice.delete(f"/run/{accepted[0].json()['task_id']}").status_code == 200
    again = alice.post("/run/", json=body)
    assert again.status_code == 201
    for task in [*(a.json()["task_id"] for a in accepted[1:]), again.json()["task_id"]]:
        alice.delete(f"/run/{task}")
    for run in bob.get("/run/").json():
        bob.delete(f"/run/{run['task_id']}")


def test_turns__refused_past_the_limit_on_every_surface(limited: str, user_client: UserClient) -> None:
    alice = unlimited(user_client, limited)  # the default: 2 unfinished turns
    chats = [alice.post("/chat/", json={"agent": "slow"}).json()["session_id"] for _ in range(6)]
    answers = at_once(
        [lambda chat=chat: alice.post(f"/chat/{chat}", json={"text": SLOW, "wait": False}) for chat in chats]
    )
    assert sorted(a.status_code for a in answers) == [202, 202, 429, 429, 429, 429]
    for refused in (a for a in answers if a.status_code == 429):
        assert "Too many chat turns at once: at most 2" in refused.json()["detail"]
        rate_limited(refused)
    idle = next(chat for chat, a in zip(chats, answers, strict=True) if a.status_code == 429)
    assert alice.get(f"/chat/{idle}/messages").json() == []  # nothing of a refused turn is kept
    # seed 001's WebSocket: an agent_error frame
    frame = ws_send(limited, alice, idle, SLOW)
    assert frame["type"] == "agent_error" and "Too many chat turns at once" in frame["error"]
    assert frame["message_id"] == "m1"
    # SSE (a turn streamed): refused before the stream, as JSON
    streamed = alice.post(f"/chat/{idle}", json={"text": SLOW}, headers={"Accept": "text/event-stream"})
    assert streamed.headers["content-type"].startswith("application/json")
    rate_limited(streamed)
    # seed 003's SSE and the OpenAI facade's streamed chat completion
    rate_limited(alice.post("/chat/stream", json={"message": SLOW, "agent": "slow"}))
    with pytest.raises(openai.RateLimitError) as caught:
        openai_sdk(alice).chat.completions.create(
            model="slow", messages=[{"role": "user", "content": SLOW}], stream=True
        )
    assert caught.value.code == "rate_limit_exceeded" and "at most 2" in caught.value.message
    # A2A JSON-RPC: its error object
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": SLOW}]}
    rpc = alice.post(
        "/a2a/slow",
        json={"jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": {"message": message}},
    ).json()
    assert rpc["id"] == 7 and "Too many chat turns at once" in rpc["error"]["message"]
    # a turn that ends frees its place
    running = [a.json()["run_id"] for a in answers if a.status_code == 202]
    assert alice.delete(f"/run/{running[0]}").status_code == 200
    frame = ws_send(limited, alice, idle, json.dumps({"steps": 1, "delay": 0}))
    assert frame["type"] == "agent_step"
    alice.delete(f"/run/{running[1]}")


def test_turns__queued_behind_another_of_its_chat_counts(limited: str, user_client: UserClient) -> None:
    alice = unlimited(user_client, limited)  # the default: 2
    chat = alice.post("/chat/", json={"agent": "slow"}).json()["session_id"]
    first = alice.post(f"/chat/{chat}", json={"text": SLOW, "wait": False})
    second = alice.post(f"/chat/{chat}", json={"text": SLOW, "wait": False})
    assert (first.status_code, second.status_code) == (202, 202)
    assert wait_run(alice, second.json()["run_id"], "queued")["status"] == "queued"
    rate_limited(alice.post(f"/chat/{chat}", json={"text": SLOW, "wait": False}))
    for answer in (first, second):
        alice.delete(f"/run/{answer.json()['run_id']}")


# --- stored bytes ---------------------------------------------------------------------------------


def test_storage__uploads_over_the_quota_413_and_an_agents_file_fails_its_run(
    limited: str, user_client: UserClient
) -> None:
    # Their own quota, not the server's default: an agent's file is checked by whichever worker
    # runs it, and the first server's (in the distributed mode) has the defaults lifted.
    alice = unlimited(user_client, limited, max_stored_bytes=3000)
    bob = unlimited(user_client, limited, max_stored_bytes=3000)
    # echo gives each file back as its own artifact: 1,000 uploaded, 2,000 stored.
    first = alice.post("/run/", data={"agent": "echo", "input": "x"}, files={"files": ("a.bin", b"a" * 1000)})
    assert first.status_code == 201, first.text
    assert wait_run(alice, first.json()["task_id"], "failed", "succeeded")["status"] == "succeeded"
    # 800 more fit (2,800); echo's copy of them does not (3,600): the run fails, saying why.
    run = alice.post("/run/", data={"agent": "echo", "input": "x"}, files={"files": ("b.bin", b"b" * 800)})
    assert run.status_code == 201, run.text
    ended = wait_run(alice, run.json()["task_id"], "failed", "succeeded")
    assert ended["status"] == "failed" and ended["error"].startswith("StorageQuotaExceeded: ")
    assert "over their quota of 3000 bytes" in ended["error"] and ended["attempts"] == 1  # not retried
    logs = alice.get(f"/run/{ended['task_id']}/logs").json()
    assert any(line["level"] == "error" and "Storage quota exceeded" in line["message"] for line in logs)
    assert [a["name"] for a in alice.get(f"/run/{ended['task_id']}/artifacts").json()] == ["b.bin"]
    # An upload past the quota: 413, and nothing of the turn is kept.
    chat = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    refused = alice.post(f"/chat/{chat}", data={"text": "y"}, files={"files": ("c.bin", b"c" * 300)})
    assert refused.status_code == 413
    assert refused.json()["code"] == "too_large" and "Storage quota exceeded" in refused.json()["detail"]
    assert alice.get(f"/chat/{chat}/messages").json() == []
    # The OpenAI facade says it in its shape.
    part = {"filename": "d.txt", "file_data": "data:text/plain;base64," + "ZZZZ" * 100}
    with pytest.raises(openai.APIStatusError) as caught:
        openai_sdk(alice).chat.completions.create(
            model="echo",
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "z"}, {"type": "file", "file": part}]}
            ],
        )
    assert caught.value.status_code == 413 and caught.value.code == "storage_quota_exceeded"
    # bob's quota is his own.
    other = bob.post("/run/", data={"agent": "echo", "input": "x"}, files={"files": ("e.bin", b"e" * 1400)})
    assert wait_run(bob, other.json()["task_id"], "failed", "succeeded")["status"] == "succeeded"


# --- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("UAI_USER_RATE", "many", "UAI_USER_RATE must look like 600/min or 30/10s"),
        ("UAI_USER_RATE", "0/min", "UAI_USER_RATE must look like 600/min or 30/10s"),
        ("UAI_USER_MAX_CONCURRENT_TURNS", "-1", "UAI_USER_MAX_CONCURRENT_TURNS must be at least 0"),
        ("UAI_USER_MAX_STORED_BYTES", "1GB", "UAI_USER_MAX_STORED_BYTES must be a whole number"),
    ],
)
def test_settings__a_bad_limit_stops_start_up_naming_it(name: str, value: str, says: str) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and says in result.stderr


@pytest.mark.django_db(transaction=True)
def test_runs__a_start_waiting_for_the_lock_counts_the_run_committed_meanwhile() -> None:
    """The count is made once the user's lock is held, so it sees a run that another request of
    the user committed while this one waited: a count taken in the lock's own statement (its
    snapshot older than the lock) saw none and let a second run past a limit of one."""
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from uai.limits import services as limit_services
    from uai.limits.models import UserLimits
    from uai.runs.models import Run
    from uai_project.errors import RateLimited

    owner = get_user_model().objects.create_user(f"lock-{uuid.uuid4().hex[:6]}")
    UserLimits.objects.create(user=owner, max_concurrent_runs=1)
    first_inserted, commit_first = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                limit_services.start_allowed(owner_id=owner.pk, kind=Run.Kind.TASK)
                Run.objects.create(owner=owner, agent_id="echo", kind=Run.Kind.TASK)
                first_inserted.set()
                commit_first.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                limit_services.start_allowed(owner_id=owner.pk, kind=Run.Kind.TASK)
            outcome["second"] = "allowed"
        except RateLimited as exc:
            outcome["second"] = exc.detail
        finally:
            connection.close()

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert first_inserted.wait(10)
    threads.append(threading.Thread(target=second))
    threads[1].start()
    time.sleep(0.5)  # the second is waiting for the user's lock (held by the first)
    assert "second" not in outcome
    commit_first.set()
    for thread in threads:
        thread.join(10)
    assert "Too many runs at once: at most 1 unfinished" in outcome["second"]


@pytest.mark.django_db
def test_rate__an_own_rate_written_behind_the_admin_that_is_no_rate_leaves_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The admin's form refuses a bad rate; one written by SQL or the shell was a ValueError on
    every request of the user (a 500). The default (UAI_USER_RATE) applies instead."""
    from uai.limits import selectors

    with caplog.at_level(logging.WARNING, logger="uai.limits.selectors"):
        assert (
            selectors.rate_of("nonsense-rate") == selectors.rate_of("") == selectors.rate_of("nonsense-rate")
        )
    # Said once, not on every request of the user.
    assert [r.getMessage() for r in caplog.records].count(
        "user limits: rate 'nonsense-rate' is not a rate; UAI_USER_RATE applies"
    ) == 1
    assert selectors.rate_of("3/min") is not None and selectors.rate_of("none") is None
