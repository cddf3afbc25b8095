"""Webhooks (uai/webhooks/): every event of a run POSTed, signed, retried, recorded, to a receiver the
test runs on loopback; driven by the live server and real workers, in both modes."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
from django.db import transaction

from tests.conftest import start_worker, wait_for, wait_run
from tests.receivers import Receiver
from tests.test_admin_docs import admin_session

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@pytest.fixture
def allowed(settings: Any) -> None:
    """The test process (which makes the webhooks) allows what the server's TEST_ENV allows."""
    settings.UAI_WEBHOOK_ALLOWED_URLS = ["http://127.0.0.1:"]
    settings.UAI_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.0/8"]


def start_run(client: httpx.Client, agent: str, run_input: object) -> str:
    response = client.post("/run/", json={"agent": agent, "input": run_input})
    assert response.status_code == 201, response.text
    return str(response.json()["task_id"])


def make_webhook(client: httpx.Client, task: str, url: str, **fields: Any) -> Any:
    from uai.runs.models import Run
    from uai.webhooks import services

    fields.setdefault("format", "uai")
    return services.webhook_create(owner_id=client.user.pk, run=Run.objects.get(pk=task), url=url, **fields)  # type: ignore[attr-defined]


def webhook_of(pk: Any) -> Any:
    from uai.webhooks.models import Webhook

    return Webhook.objects.get(pk=pk)


def run_events(task: str) -> list[dict[str, Any]]:
    from uai.runs.models import Event

    return [
        {"seq": e.seq, "type": e.type, "data": e.data}
        for e in Event.objects.filter(run_id=task).order_by("seq")
    ]


def test_webhook__every_event_posted_in_order_signed_and_followed_live(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], allowed: None
) -> None:
    receiver = receiver_factory()
    task = start_run(alice, "slow", {"steps": 2, "delay": 0.1, "ask": "Colour?"})
    webhook = make_webhook(
        alice, task, receiver.url, name="cfg-1", token="tok-123", secret=SECRET,
        auth_scheme="Bearer", auth_credentials="receiver-cred",
    )  # fmt: skip
    # Delivered live up to the question; the job then waits (and ends, and comes back) for the answer.
    wait_for(lambda: any(b["type"] == "input_required" for b in receiver.bodies()), timeout=10)
    # Past UAI_WEBHOOK_IDLE_SECONDS the job whose run waits ends, and another is deferred: no job
    # holds a worker slot while the run waits.
    wait_for(lambda: webhook_of(webhook.pk).job_id != webhook.job_id, timeout=5)
    assert alice.post(f"/run/{task}/input", json={"text": "green"}).status_code == 200
    wait_run(alice, task, "succeeded")
    wait_for(lambda: webhook_of(webhook.pk).status == "done", timeout=10)

    stored = run_events(task)
    bodies = receiver.bodies()
    assert [(b["seq"], b["type"], b["data"]) for b in bodies] == [
        (e["seq"], e["type"], e["data"]) for e in stored
    ]
    assert bodies[-1]["type"] == "status" and bodies[-1]["data"]["status"] == "succeeded"
    verifier = standardwebhooks.Webhook(SECRET)
    for request, event in zip(receiver.requests, stored, strict=True):
        headers = request["headers"]
        assert verifier.verify(request["body"], headers) == json.loads(request["body"])
        assert headers["webhook-id"] == f"{webhook.pk}.{event['seq']}.1"
        assert headers["X-A2A-Notification-Token"] == "tok-123"
        assert headers["Authorization"] == "Bearer receiver-cred"
        assert headers["Content-Type"] == "application/json"
        assert request["path"] == "/hook"
    # A tampered body, or another secret, does not verify.
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verifier.verify(receiver.requests[0]["body"] + b" ", receiver.requests[0]["headers"])
    other = "whsec_" + base64.b64encode(b"another secret of 24 bytes").decode()
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(receiver.requests[0]["body"], receiver.requests[0]["headers"])
    done = webhook_of(webhook.pk)
    assert (done.delivered_seq, done.delivered_index) == (stored[-1]["seq"], 1)
    assert done.deliveries.filter(outcome="delivered").count() == len(stored)
    assert not done.deliveries.exclude(outcome="delivered").exists()

    # A webhook made once the run has ended gets the whole run, from its first event.
    late = receiver_factory()
    second = make_webhook(alice, task, late.url, secret=SECRET)
    wait_for(lambda: webhook_of(second.pk).status == "done", timeout=10)
    assert [b["seq"] for b in late.bodies()] == [e["seq"] for e in stored]


def test_webhook__failed_posts_are_retried_with_backoff_then_the_webhook_fails(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], allowed: None
) -> None:
    task = start_run(alice, "echo", "hello")
    wait_run(alice, task, "succeeded")
    stored = run_events(task)
    # The first body: a 500, a connection closed, no answer in time, then delivered.
    flaky = receiver_factory(lambda n: {1: 500, 2: "close", 3: "hang"}.get(n, "ok"))
    webhook = make_webhook(alice, task, flaky.url, secret=SECRET)
    wait_for(lambda: webhook_of(webhook.pk).status == "done", timeout=15)
    first = stored[0]["seq"]
    rows = list(webhook_of(webhook.pk).deliveries.order_by("id"))
    assert [(r.seq, r.attempt, r.outcome, r.status_code) for r in rows[:4]] == [
        (first, 1, "retrying", 500),
        (first, 2, "retrying", None),
        (first, 3, "retrying", None),
        (first, 4, "delivered", 200),
    ]
    assert "HTTP 500" in rows[0].error and rows[1].error and "no answer within 1 s" in rows[2].error
    assert rows[2].duration_ms >= 900
    times = [r["at"] for r in flaky.requests]
    # Backoff 0.2 s doubling: 0.2 after the 500, 0.4 after the close, 0.8 after the timeout (1 s).
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4 and times[3] - times[2] >= 1.0 + 0.8
    assert [b["seq"] for b in flaky.bodies()] == [first] * 4 + [e["seq"] for e in stored[1:]]
    verifier = standardwebhooks.Webhook(SECRET)
    assert len({verifier.verify(r["body"], r["headers"])["seq"] for r in flaky.requests[:4]}) == 1
    assert len({r["headers"]["webhook-id"] for r in flaky.requests[:4]}) == 1  # one message, retried

    # A receiver that always fails: UAI_WEBHOOK_ATTEMPTS (4) attempts, then the webhook fails and
    # nothing after that body is sent; "Deliver again" goes on from the cursor once it answers.
    down = receiver_factory(lambda n: 503 if n <= 4 else "ok")
    failing = make_webhook(alice, task, down.url, secret=SECRET)
    wait_for(lambda: webhook_of(failing.pk).status == "failed", timeout=15)
    failed = webhook_of(failing.pk)
    assert [r.outcome for r in failed.deliveries.order_by("id")] == ["retrying"] * 3 + ["failed"]
    assert "failed 4 attempts" in failed.error and failed.delivered_seq == 0
    time.sleep(0.5)
    assert len(down.requests) == 4
    from uai.webhooks import services

    assert services.webhook_resume(webhook_id=failing.pk)
    wait_for(lambda: webhook_of(failing.pk).status == "done", timeout=10)
    assert [b["seq"] for b in down.bodies()] == [first] * 5 + [e["seq"] for e in stored[1:]]
    resumed = webhook_of(failing.pk).deliveries.filter(seq=first).order_by("id")
    assert [(r.attempt, r.outcome) for r in resumed][-1] == (5, "delivered")  # numbered on

    # Failing again after "Deliver again": a whole new set of attempts, not just one.
    again = receiver_factory(lambda n: 503 if n <= 6 else "ok")
    twice = make_webhook(alice, task, again.url, secret=SECRET)
    wait_for(lambda: webhook_of(twice.pk).status == "failed", timeout=15)
    assert services.webhook_resume(webhook_id=twice.pk)
    wait_for(lambda: webhook_of(twice.pk).status == "done", timeout=15)
    outcomes = [
        (r.attempt, r.outcome) for r in webhook_of(twice.pk).deliveries.filter(seq=first).order_by("id")
    ]
    assert [o for _, o in outcomes] == ["retrying"] * 3 + ["failed"] + ["retrying"] * 2 + ["delivered"]
    assert [a for a, _ in outcomes] == list(range(1, 8))


def test_webhook__urls_not_allowed_are_refused_and_never_called(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], settings: Any
) -> None:
    from uai.webhooks import services

    receiver = receiver_factory()
    task = start_run(alice, "echo", "hi")
    settings.UAI_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.0/8"]  # as the server's (TEST_ENV)
    settings.UAI_WEBHOOK_ALLOWED_URLS = []  # the default: nothing allowed
    with pytest.raises(services.WebhookRefused) as refused:
        make_webhook(alice, task, receiver.url)
    assert refused.value.status is None and refused.value.code == "forbidden"  # a 403
    settings.UAI_WEBHOOK_ALLOWED_URLS = ["http://127.0.0.1:", "re:https://hooks\\.example\\.com/[a-z]+"]
    port = receiver.url.split(":")[2].split("/")[0]
    for url in (
        f"http://127.0.0.1:{port}@evil.example/hook",  # starts with the prefix, goes elsewhere
        "https://hooks.example.com/a/b",  # the regex must match all of it
        "ftp://127.0.0.1:21/",
        "http://localhost:8000/",
        "",
    ):
        with pytest.raises(services.WebhookRefused):
            make_webhook(alice, task, url)
    assert services.url_allowed("https://hooks.example.com/abc")
    assert services.url_allowed("https://HOOKS.example.com:443/abc")  # the regex sees it normalised

    # The URL is checked as httpx sends it: origin, then the path on segment boundaries; whatever
    # a server may resolve to another path than the one checked is refused.
    settings.UAI_WEBHOOK_ALLOWED_URLS = ["http://gw:8080/hooks/", "https://hooks.example.com"]
    for url in (
        "http://gw:8080/hooks/../admin/x",  # httpx would POST to /admin/x
        "http://gw:8080/hooks/./x",
        "http://gw:8080/hooks/%2e%2e/admin/x",
        "http://gw:8080/hooks/%2E%2e/admin/x",
        "http://gw:8080/hooks/.%2e/admin/x",
        "http://gw:8080/hooks/..;/admin/x",  # ";" parameters dropped: ".." to some servers
        "http://gw:8080/hooks/..%3b/admin/x",
        "http://gw:8080/hooks%2f..%2fadmin",
        "http://gw:8080/hooks/a%2fb",
        "http://gw:8080/hooks/a%5cb",
        "http://gw:8080/hooks\\..\\admin",
        "http://gw:8080/hooksadmin",  # not on a segment boundary
        "http://gw:8081/hooks/x",  # another port
        "https://gw:8080/hooks/x",  # another scheme
        "http://gw/hooks/x",  # the default port is not 8080
        "http://user@gw:8080/hooks/x",
        "http://gw:8080/hooks/x#frag",
        "https://hooks.example.com.evil.net/",  # a prefix without a path is the origin, exactly
        "https://hooks.example.com:8443/",
        "https://hooks.example.com@evil.net/",
    ):
        with pytest.raises(services.WebhookRefused):
            services.webhook_check(url=url, format="uai")
        assert not services.url_allowed(url), url
    for url, sent in (
        ("http://gw:8080/hooks/x?tenant=a%2Fb&n=1", "http://gw:8080/hooks/x?tenant=a%2Fb&n=1"),
        ("http://GW:8080/hooks", "http://gw:8080/hooks"),
        ("https://hooks.example.com:443/any/path", "https://hooks.example.com/any/path"),
        ("https://Hooks.Example.com", "https://hooks.example.com"),
    ):
        assert str(services.allowed_url(url)) == sent
    assert services.check_allowed_setting("https://hooks.example.com/a?b") is not None
    assert services.check_allowed_setting("http://127.0.0.1:") is None  # any port of 127.0.0.1
    settings.UAI_WEBHOOK_ALLOWED_URLS = ["http://127.0.0.1:", "re:https://hooks\\.example\\.com/[a-z]+"]
    for bad in (
        {"format": "no-such-format"},
        {"token": "a\r\nX-Injected: 1"},
        {"auth_credentials": "caf\u00e9"},
        {"secret": "whsec_!!not base64!!"},
        {"name": "n" * 201},
    ):
        with pytest.raises(services.errors.InvalidInput):
            make_webhook(alice, task, receiver.url, **bad)
        # webhook_check refuses exactly what webhook_create refuses, writing nothing.
        with pytest.raises(services.errors.InvalidInput):
            services.webhook_check(url=receiver.url, **{"format": "uai", **bad})
    with pytest.raises(services.WebhookRefused):
        services.webhook_check(url="http://localhost:8000/", format="uai")
    services.webhook_check(url=receiver.url, format="uai", token="t", secret=SECRET)  # no error
    from uai.webhooks.models import Webhook

    assert not Webhook.objects.exists()

    # Allowed when made, no longer when delivered (the server allows only 127.0.0.1): refused,
    # recorded, never called.
    settings.UAI_WEBHOOK_ALLOWED_URLS = ["http://localhost:"]
    webhook = make_webhook(alice, task, receiver.url.replace("127.0.0.1", "localhost"))
    wait_for(lambda: webhook_of(webhook.pk).status == "failed", timeout=10)
    rows = list(webhook_of(webhook.pk).deliveries.all())
    assert [(r.outcome, r.status_code) for r in rows] == [("refused", None)]
    assert "no longer among UAI_WEBHOOK_ALLOWED_URLS" in webhook_of(webhook.pk).error
    assert receiver.requests == []


def test_webhook__admin_shows_a_webhook_with_its_deliveries(
    live: str, alice: httpx.Client, user_client: Any, receiver_factory: Callable[..., Receiver], allowed: None
) -> None:
    receiver = receiver_factory(lambda n: 500 if n == 1 else "ok")
    task = start_run(alice, "echo", "hi")
    webhook = make_webhook(alice, task, receiver.url, name="admin-cfg", token="t", secret=SECRET)
    wait_for(lambda: webhook_of(webhook.pk).status == "done", timeout=10)
    from uai.webhooks.models import Webhook

    browser = admin_session(live, user_client)
    try:
        listing = browser.get("/admin/webhooks/webhook/?status=done")
        assert listing.status_code == 200 and "admin-cfg" in listing.text and receiver.url in listing.text
        page = browser.get(f"/admin/webhooks/webhook/{webhook.pk}/change/")
        assert page.status_code == 200
        assert "retrying" in page.text and "delivered" in page.text and "HTTP 500" in page.text
        assert SECRET not in page.text  # secrets are not shown
        deliveries = browser.get("/admin/webhooks/delivery/?outcome=retrying")
        assert (
            deliveries.status_code == 200
            and "HTTP 500" not in deliveries.text
            and "retrying" in deliveries.text
        )

        # Made in the admin: the same checks as the service (a URL the server does not allow is a
        # form error), and delivered like any other.
        def add(url: str) -> httpx.Response:
            page = browser.get("/admin/webhooks/webhook/add/").text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            fields = {"owner": alice.user.pk, "run": task, "url": url, "format": "uai", "secret": SECRET}  # type: ignore[attr-defined]
            return browser.post(
                "/admin/webhooks/webhook/add/",
                data={**fields, "csrfmiddlewaretoken": token},
                headers={"Referer": f"{live}/admin/webhooks/webhook/add/"},
            )

        refused = add("http://localhost:1/hook")
        assert refused.status_code == 200 and "not among the URLs the operator allows" in refused.text
        other = receiver_factory()
        assert add(other.url).status_code == 200
        made = Webhook.objects.get(url=other.url)
        wait_for(lambda: webhook_of(made.pk).status == "done", timeout=10)
        assert len(other.requests) == len(run_events(task))
        assert Webhook.objects.count() == 2
    finally:
        browser.close()


def test_webhook__a_worker_killed_mid_delivery_loses_nothing(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], allowed: None, log_dir: Path
) -> None:
    from procrastinate.contrib.django.models import ProcrastinateJob

    task = start_run(alice, "steps", "2+3*4")
    wait_run(alice, task, "succeeded")
    stored = run_events(task)
    assert len(stored) >= 4
    receiver = receiver_factory(lambda n: "block" if n == 3 else "ok")
    queue = f"webhooks-kill-{os.getpid()}"
    with transaction.atomic():  # on a queue of its own, so only the workers below take it
        webhook = make_webhook(alice, task, receiver.url, secret=SECRET)
        ProcrastinateJob.objects.filter(pk=webhook.job_id).update(queue_name=queue)
    first = start_worker(log_dir, queue, name="webhook-worker-1")
    second = None
    try:
        assert receiver.blocked.wait(30), first.output()
        first.kill(signal.SIGKILL)  # mid-POST: the third body is sent, its answer never read
        receiver.release.set()
        assert webhook_of(webhook.pk).delivered_seq == stored[1]["seq"]
        second = start_worker(log_dir, queue, name="webhook-worker-2")
        # The sweep takes the dead worker's job after UAI_STALLED_WORKER_SECONDS (6 in tests).
        wait_for(lambda: webhook_of(webhook.pk).status == "done", timeout=20)
    finally:
        first.kill(signal.SIGKILL)
        if second is not None:
            second.kill()
    seqs = [b["seq"] for b in receiver.bodies()]
    expected = [e["seq"] for e in stored]
    # Once each, but the one in flight at the kill: at least once.
    assert seqs == expected[:3] + expected[2:]
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert ids[2] == ids[3]  # the same message again: a receiver can drop the repeat
    rows = webhook_of(webhook.pk).deliveries.filter(outcome="delivered")
    assert sorted(r.seq for r in rows) == expected


def test_webhook__its_job_is_deferred_in_the_transaction_that_makes_it(
    live: str, alice: httpx.Client, allowed: None
) -> None:
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.webhooks.models import Webhook

    task = start_run(alice, "echo", "hi")
    jobs = ProcrastinateJob.objects.filter(task_name="uai.webhook_deliver")
    with pytest.raises(RuntimeError), transaction.atomic():
        made = make_webhook(alice, task, "http://127.0.0.1:9/hook")
        assert jobs.filter(pk=made.job_id, queue_name="webhooks").exists()
        raise RuntimeError("rolled back")
    assert not Webhook.objects.exists() and not jobs.exists()
    # (the run's end awaited: the flush after the test deadlocked with its writes)
    wait_run(alice, task, "succeeded")


def test_webhook__a_chat_turn_gets_its_own_events_only(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], allowed: None
) -> None:
    chat = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    first = alice.post(f"/chat/{chat}", json={"text": "2+3", "wait": False})
    assert first.status_code in (200, 202), first.text
    turn = first.json()["run_id"]
    receiver = receiver_factory()
    webhook = make_webhook(alice, turn, receiver.url, secret=SECRET)  # while the turn may still run
    wait_for(lambda: webhook_of(webhook.pk).status == "done", timeout=10)
    assert alice.post(f"/chat/{chat}", json={"text": "4*5"}).json()["status"] == "succeeded"
    time.sleep(0.5)  # the next turn's events are the chat's, not this run's: none is sent
    stored = run_events(turn)
    bodies = receiver.bodies()
    assert [b["seq"] for b in bodies] == [e["seq"] for e in stored]
    assert {b["run_id"] for b in bodies} == {turn} and bodies[-1]["data"]["status"] == "succeeded"


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("re:https://(unclosed", "'re:https://(unclosed' is not a regex"),
        ("https://hooks.example.com/x?a=1", "'https://hooks.example.com/x?a=1' is not an http(s) URL prefix"),
        ("hooks.example.com", "'hooks.example.com' is not an http(s) URL prefix"),
    ],
)
def test_webhook__a_bad_entry_among_the_allowed_urls_stops_start_up(entry: str, said: str) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "UAI_WEBHOOK_ALLOWED_URLS": f"http://127.0.0.1:,{entry}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"uai: UAI_WEBHOOK_ALLOWED_URLS: {said}" in result.stderr and "Traceback" not in result.stderr


def test_webhook__posted_to_exactly_the_url_checked_query_and_all(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], allowed: None
) -> None:
    from uai.webhooks import queues
    from uai.webhooks.models import Webhook

    receiver = receiver_factory()
    task = start_run(alice, "echo", "hi")
    wait_run(alice, task, "succeeded")
    webhook = make_webhook(alice, task, receiver.url + "?tenant=a%2Fb&n=1")
    wait_for(lambda: webhook_of(webhook.pk).status == "done", timeout=10)
    assert receiver.requests and {r["path"] for r in receiver.requests} == {"/hook?tenant=a%2Fb&n=1"}

    # A row that skipped webhook_create's check (made before it was strict): the check before each
    # POST refuses its "..", whatever the list allows; nothing reaches /admin.
    with transaction.atomic():
        old = Webhook.objects.create(
            owner_id=alice.user.pk,  # type: ignore[attr-defined]  # conftest's client carries its user
            run_id=task,
            url=receiver.url + "/../admin",
            format="uai",
        )
        old.job_id = queues.defer_delivery(webhook_id=old.id)
        old.save(update_fields=["job_id"])
    wait_for(lambda: webhook_of(old.pk).status == "failed", timeout=10)
    assert [(r.outcome, r.status_code) for r in webhook_of(old.pk).deliveries.all()] == [("refused", None)]
    assert all(r["path"] == "/hook?tenant=a%2Fb&n=1" for r in receiver.requests)
