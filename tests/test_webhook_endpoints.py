"""Webhook endpoints users register (``/webhooks``): their runs' events POSTed, signed, filtered,
retried, logged and redelivered, driven through the live server's API with httpx, the events
verified with the ``standardwebhooks`` package, in both modes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
from django.db import transaction

from tests.conftest import cancel_run, process_env, serve_until_done, start_worker, wait_for, wait_run
from tests.receivers import Receiver
from tests.test_admin_docs import admin_session

RUN_EVENTS = {"run.started", "run.input_required", "run.succeeded", "run.failed", "run.cancelled"}


def register(client: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/webhooks/", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    assert endpoint["secret"].startswith("whsec_")
    return endpoint


def events_of(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every body the receiver got, each verified (signature, timestamp) with ``secret``."""
    verifier = standardwebhooks.Webhook(secret)
    return [verifier.verify(r["body"], r["headers"]) for r in list(receiver.requests)]


def deliveries(client: httpx.Client, endpoint: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/webhooks/{endpoint['id']}/deliveries", params=params)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def start_run(client: httpx.Client, agent: str, run_input: object) -> str:
    response = client.post("/run/", json={"agent": agent, "input": run_input})
    assert response.status_code == 201, response.text
    return str(response.json()["task_id"])


def test_endpoints__a_users_runs_and_turns_arrive_signed_and_filtered(
    live: str, alice: httpx.Client, bob: httpx.Client, receiver_factory: Callable[..., Receiver]
) -> None:
    every, failures, echoes, bobs = (receiver_factory() for _ in range(4))
    all_events = register(alice, every.url, description="everything")
    only_failures = register(alice, failures.url, event_types=["run.failed"], agents=["fail"])
    echo_ends = register(alice, echoes.url, event_types=["run.succeeded", "turn.finished"], agents=["echo"])
    register(bob, bobs.url)  # another user's endpoint gets none of alice's events

    # A task that asks, is answered, and succeeds.
    asking = start_run(alice, "slow", {"steps": 1, "delay": 0.05, "ask": "Colour?"})
    wait_run(alice, asking, "input_required")
    assert alice.post(f"/run/{asking}/input", json={"text": "green"}).status_code == 200
    wait_run(alice, asking, "succeeded")
    # A task that fails, one cancelled, and a chat turn.
    failing = start_run(alice, "fail", "x")
    wait_run(alice, failing, "failed")
    cancelled = start_run(alice, "slow", {"steps": 100, "delay": 0.1})
    wait_run(alice, cancelled, "running")
    cancel_run(alice, cancelled)
    chat = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    turn = alice.post(f"/chat/{chat}", json={"text": "hello"}).json()
    assert turn["status"] == "succeeded", turn
    turn_id = turn["run_id"]

    expected = [
        (asking, "run.started"),
        (asking, "run.input_required"),
        (asking, "run.succeeded"),  # (no second run.started when the answer resumes it)
        (failing, "run.started"),
        (failing, "run.failed"),
        (cancelled, "run.started"),
        (cancelled, "run.cancelled"),
        (turn_id, "run.started"),
        (turn_id, "run.succeeded"),
        (turn_id, "turn.finished"),
    ]
    wait_for(lambda: len(every.requests) >= len(expected) and len(echoes.requests) >= 2, timeout=20)
    time.sleep(0.5)  # nothing more comes
    got = events_of(every, all_events["secret"])
    # Each delivery is its own job: they may arrive in any order.
    assert sorted((e["data"]["run_id"], e["type"]) for e in got) == sorted(expected)

    by_key = {(e["data"]["run_id"], e["type"]): e for e in got}
    succeeded = by_key[(asking, "run.succeeded")]["data"]
    assert succeeded["agent"] == "slow" and succeeded["kind"] == "task" and succeeded["chat_id"] is None
    assert succeeded["status"] == "succeeded" and succeeded["output"] is not None
    assert succeeded["output_truncated"] is False and succeeded["error"] is None
    assert succeeded["created_at"] and succeeded["started_at"] and succeeded["finished_at"]
    asked = by_key[(asking, "run.input_required")]["data"]
    assert asked["status"] == "input_required" and asked["input_prompt"] == "Colour?"
    failed = by_key[(failing, "run.failed")]["data"]
    assert (
        failed["status"] == "failed" and "failed on purpose" in failed["error"] and failed["output"] is None
    )
    assert by_key[(cancelled, "run.cancelled")]["data"]["status"] == "cancelled"
    finished = by_key[(turn_id, "turn.finished")]["data"]
    assert finished["kind"] == "turn" and finished["chat_id"] == chat and finished["agent"] == "echo"
    assert finished["status"] == "succeeded"
    assert by_key[(asking, "run.started")]["data"]["attempt"] == 1
    assert all(e["timestamp"] for e in got)

    # Each POST's webhook-id is its delivery's id, listed with its attempts by the API.
    listed = {d["id"]: d for d in deliveries(alice, all_events)}
    assert len(listed) == len(expected)
    for request in every.requests:
        delivery = listed[request["headers"]["webhook-id"]]
        assert delivery["status"] == "delivered" and delivery["endpoint_id"] == all_events["id"]
        assert [(a["attempt"], a["outcome"], a["status_code"]) for a in delivery["attempts"]] == [
            (1, "delivered", 200)
        ]
        assert delivery["attempts"][0]["duration_ms"] >= 0
        assert request["headers"]["Content-Type"] == "application/json"
        assert request["headers"]["Host"] == every.url.split("/")[2]
    one = next(iter(listed.values()))
    detail = alice.get(f"/webhooks/{all_events['id']}/deliveries/{one['id']}")
    assert detail.status_code == 200 and detail.json()["payload"] == one["payload"]
    assert {d["event_type"] for d in deliveries(alice, all_events, status="delivered", limit=3)} <= (
        RUN_EVENTS | {"turn.finished"}
    )
    assert len(deliveries(alice, all_events, limit=3)) == 3

    # The filters: by event type and by agent.
    assert [(e["data"]["run_id"], e["type"]) for e in events_of(failures, only_failures["secret"])] == [
        (failing, "run.failed")
    ]
    assert sorted(e["type"] for e in events_of(echoes, echo_ends["secret"])) == [
        "run.succeeded",
        "turn.finished",
    ]
    assert {e["data"]["run_id"] for e in events_of(echoes, echo_ends["secret"])} == {turn_id}
    assert bobs.requests == []
    # A body signed with another endpoint's secret does not verify with this one's.
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(only_failures["secret"]).verify(
            every.requests[0]["body"], every.requests[0]["headers"]
        )

    # Changed filters apply to the next run at once (the cached endpoints are dropped); a
    # disabled endpoint gets nothing.
    patched = alice.patch(f"/webhooks/{only_failures['id']}", json={"event_types": [], "agents": ["echo"]})
    assert (
        patched.status_code == 200 and patched.json()["event_types"] == [] and "secret" not in patched.json()
    )
    assert alice.patch(f"/webhooks/{all_events['id']}", json={"enabled": False}).json()["enabled"] is False
    before = len(every.requests)
    again = start_run(alice, "echo", "again")
    wait_run(alice, again, "succeeded")
    wait_for(lambda: len(failures.requests) >= 3, timeout=10)
    time.sleep(0.5)
    assert [e["type"] for e in events_of(failures, only_failures["secret"])[1:]] == [
        "run.started",
        "run.succeeded",
    ]
    assert len(every.requests) == before
    # Deleted: gone, with its deliveries.
    assert alice.delete(f"/webhooks/{all_events['id']}").status_code == 204
    assert alice.get(f"/webhooks/{all_events['id']}").status_code == 404
    assert [e["id"] for e in alice.get("/webhooks/").json()] == [only_failures["id"], echo_ends["id"]]


def test_endpoints__a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory()
    endpoint = register(alice, receiver.url, secret="my own secret")
    old = endpoint["secret"]
    assert alice.post(f"/webhooks/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: len(receiver.requests) == 1)
    assert events_of(receiver, old)[0]["type"] == "webhook.test"
    assert events_of(receiver, old)[0]["data"]["endpoint_id"] == endpoint["id"]

    rotated = alice.post(f"/webhooks/{endpoint['id']}/rotate-secret", json={"grace_seconds": 2})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_") and rotated.json()["previous_secret_expires_at"]
    assert "secret" not in alice.get(f"/webhooks/{endpoint['id']}").json()
    # During the grace: two signatures, each secret verifies the same POST.
    assert alice.post(f"/webhooks/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: len(receiver.requests) == 2)
    during = receiver.requests[1]
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert (
            standardwebhooks.Webhook(secret).verify(during["body"], during["headers"])["type"]
            == "webhook.test"
        )
    # After it: only the new one.
    time.sleep(2.2)
    assert alice.post(f"/webhooks/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: len(receiver.requests) == 3)
    after = receiver.requests[2]
    assert len(after["headers"]["webhook-signature"].split(" ")) == 1
    assert standardwebhooks.Webhook(new).verify(after["body"], after["headers"])
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(after["body"], after["headers"])
    assert alice.get(f"/webhooks/{endpoint['id']}").json()["previous_secret_expires_at"] is not None
    # A rotation without grace: the old secret stops at once; a secret of one's own is taken.
    mine = "whsec_" + "c2VjcmV0LW9mLW15LW93bg=="
    at_once = alice.post(
        f"/webhooks/{endpoint['id']}/rotate-secret", json={"grace_seconds": 0, "secret": mine}
    )
    assert at_once.json()["secret"] == mine and at_once.json()["previous_secret_expires_at"] is None
    assert alice.post(f"/webhooks/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: len(receiver.requests) == 4)
    assert len(receiver.requests[3]["headers"]["webhook-signature"].split(" ")) == 1
    assert standardwebhooks.Webhook(mine).verify(
        receiver.requests[3]["body"], receiver.requests[3]["headers"]
    )


def test_endpoints__a_failing_receiver_is_retried_with_backoff_then_fails_then_is_redelivered(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver]
) -> None:
    # UAI_WEBHOOK_ATTEMPTS is 4 in tests, the backoff 0.2 s doubling.
    receiver = receiver_factory(
        lambda n: (503, b'{"error": "down for maintenance"}') if n <= 4 else (200, b"thanks")
    )
    endpoint = register(alice, receiver.url, event_types=["run.succeeded"])
    task = start_run(alice, "echo", "hi")
    wait_run(alice, task, "succeeded")
    wait_for(lambda: [d["status"] for d in deliveries(alice, endpoint)] == ["failed"], timeout=15)
    [failed] = deliveries(alice, endpoint)
    assert failed["event_type"] == "run.succeeded" and failed["run_id"] == task
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in failed["attempts"]] == [
        (1, "retrying", 503),
        (2, "retrying", 503),
        (3, "retrying", 503),
        (4, "failed", 503),
    ]
    assert all(a["response"] == '{"error": "down for maintenance"}' for a in failed["attempts"])
    assert (
        all(a["error"] == "HTTP 503" for a in failed["attempts"]) and "Failed 4 attempts" in failed["error"]
    )
    times = [r["at"] for r in receiver.requests]
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4 and times[3] - times[2] >= 0.8
    time.sleep(0.5)
    assert len(receiver.requests) == 4  # no more after the last attempt
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {failed["id"]}  # one message, retried

    # Redelivered through the API: the same body under the same id, a new set of attempts.
    again = alice.post(f"/webhooks/{endpoint['id']}/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 202, again.text
    wait_for(lambda: deliveries(alice, endpoint)[0]["status"] == "delivered", timeout=10)
    [delivered] = deliveries(alice, endpoint)
    assert [(a["attempt"], a["outcome"]) for a in delivered["attempts"]][-1] == (5, "delivered")
    assert delivered["attempts"][-1]["response"] == "thanks" and delivered["error"] is None
    assert receiver.requests[4]["headers"]["webhook-id"] == failed["id"]
    assert receiver.requests[4]["body"] == receiver.requests[0]["body"]
    assert standardwebhooks.Webhook(endpoint["secret"]).verify(
        receiver.requests[4]["body"], receiver.requests[4]["headers"]
    )
    # A delivered one can be sent again too.
    assert alice.post(f"/webhooks/{endpoint['id']}/deliveries/{failed['id']}/redeliver").status_code == 202
    wait_for(lambda: len(receiver.requests) == 6)

    # A receiver that never answers in time nor at all: failed the same way, errors recorded.
    silent = receiver_factory(lambda n: "close")
    closing = register(alice, silent.url)
    assert alice.post(f"/webhooks/{closing['id']}/test").status_code == 202
    wait_for(lambda: deliveries(alice, closing)[0]["status"] == "failed", timeout=15)
    attempts = deliveries(alice, closing)[0]["attempts"]
    assert [a["status_code"] for a in attempts] == [None] * 4 and all(a["error"] for a in attempts)


def test_endpoints__another_users_endpoints_are_not_found_and_bad_input_is_a_400(
    live: str, alice: httpx.Client, bob: httpx.Client, receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory()
    endpoint = register(alice, receiver.url)
    assert alice.post(f"/webhooks/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: deliveries(alice, endpoint) and deliveries(alice, endpoint)[0]["status"] == "delivered")
    delivery = deliveries(alice, endpoint)[0]["id"]
    base = f"/webhooks/{endpoint['id']}"
    for method, path, body in (
        ("GET", base, None),
        ("PATCH", base, {"description": "mine now"}),
        ("DELETE", base, None),
        ("POST", base + "/rotate-secret", {}),
        ("POST", base + "/test", None),
        ("GET", base + "/deliveries", None),
        ("GET", f"{base}/deliveries/{delivery}", None),
        ("POST", f"{base}/deliveries/{delivery}/redeliver", None),
        ("GET", f"/webhooks/{uuid.uuid4()}", None),
        ("GET", "/webhooks/not-a-uuid", None),
    ):
        response = bob.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"
    assert bob.get("/webhooks/").json() == []
    assert alice.get(base).json()["description"] == ""  # untouched
    assert httpx.get(f"{live}/webhooks/").status_code == 401
    # Alice's own: a delivery of another of her endpoints is not found under this one.
    other = register(alice, receiver.url)
    assert alice.get(f"/webhooks/{other['id']}/deliveries/{delivery}").status_code == 404

    for body, said in (
        ({}, "url"),
        ({"url": 42}, "url"),
        ({"url": "ftp://127.0.0.1:21/x"}, "not among the URLs the operator allows"),
        ({"url": "http://localhost:9/hook"}, "not among the URLs the operator allows"),
        ({"url": "https://hooks.example.com/x"}, "not among the URLs the operator allows"),
        ({"url": receiver.url + "/../admin"}, "not among the URLs the operator allows"),
        ({"url": receiver.url, "event_types": ["run.exploded"]}, "Unknown event type(s) 'run.exploded'"),
        ({"url": receiver.url, "event_types": "run.failed"}, "event_types"),
        ({"url": receiver.url, "agents": ["no-such-agent"]}, "Unknown agent(s): 'no-such-agent'"),
        ({"url": receiver.url, "enabled": "yes"}, "enabled"),
        ({"url": receiver.url, "secret": "whsec_!!not base64!!"}, "whsec_ secret must be base64"),
        ({"url": receiver.url, "description": "d" * 501}, "description"),
    ):
        response = alice.post("/webhooks/", json=body)
        assert response.status_code == 400, (body, response.text)
        assert said in response.json()["detail"], (body, response.json())
        assert response.json()["code"] == "invalid"
    assert alice.post("/webhooks/", json=["not", "an", "object"]).status_code == 400
    assert alice.patch(base, json={"url": "http://10.0.0.1/x"}).status_code == 400
    assert alice.patch(base, json={"event_types": ["nope"]}).status_code == 400
    assert alice.post(base + "/rotate-secret", json={"grace_seconds": -1}).status_code == 400
    assert alice.get(base + "/deliveries", params={"limit": 0}).status_code == 400
    assert alice.get(base + "/deliveries", params={"status": "lost"}).status_code == 400
    assert alice.get(base).json()["url"] == receiver.url  # nothing changed
    # A pending delivery is not redelivered (409); a disabled endpoint sends no test (409).
    alice.patch(base, json={"enabled": False})
    assert alice.post(base + "/test").status_code == 409
    assert alice.post(f"{base}/deliveries/{delivery}/redeliver").status_code == 409


@pytest.fixture
def strict_server(live: str, log_dir: Path) -> Iterator[str]:
    """A second server that allows any http(s) URL but no private network (the default)."""
    env = process_env(UAI_WEBHOOK_ALLOWED_URLS="re:https?://.+", UAI_WEBHOOK_PRIVATE_NETWORKS="")
    yield from serve_until_done("server-strict", "worker-strict", env, log_dir)


def test_endpoints__private_destinations_are_refused_unless_allowed(
    live: str, alice: httpx.Client, strict_server: str
) -> None:
    strict = httpx.Client(base_url=strict_server, headers=dict(alice.headers), timeout=30)
    try:
        for url in (
            "http://127.0.0.1:8000/hook",
            "http://localhost:8000/hook",  # a name: resolved, every address checked
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://10.1.2.3/hook",
            "http://172.16.0.1/hook",
            "http://192.168.1.1/hook",
            "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "http://[fe80::1]/hook",
            "http://224.0.0.1/hook",
        ):
            response = strict.post("/webhooks/", json={"url": url})
            assert response.status_code == 400, (url, response.text)
            assert "not a public address" in response.json()["detail"], response.json()
        # A public address is accepted (made disabled: nothing is ever sent to it).
        public = strict.post("/webhooks/", json={"url": "https://8.8.8.8/hook", "enabled": False})
        assert public.status_code == 201, public.text
    finally:
        strict.close()


def test_endpoints__an_address_is_checked_again_before_each_post(
    live: str, alice: httpx.Client, receiver_factory: Callable[..., Receiver], log_dir: Path
) -> None:
    """Allowed when made, refused when sent (a worker that allows no private network): refused,
    recorded, never called."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.webhooks import services
    from uai.webhooks.models import Endpoint

    receiver = receiver_factory()
    endpoint = register(alice, receiver.url)
    queue = f"webhooks-strict-{os.getpid()}"
    with transaction.atomic():  # on a queue of its own, for the worker below only
        delivery = services.endpoint_test(endpoint=Endpoint.objects.get(pk=endpoint["id"]))
        ProcrastinateJob.objects.filter(pk=delivery.job_id).update(queue_name=queue)
    worker = start_worker(log_dir, queue, name="webhook-strict-worker", UAI_WEBHOOK_PRIVATE_NETWORKS="")
    try:
        wait_for(lambda: deliveries(alice, endpoint)[0]["status"] == "failed", timeout=20)
    finally:
        worker.kill()
    [refused] = deliveries(alice, endpoint)
    assert [(a["outcome"], a["status_code"]) for a in refused["attempts"]] == [("refused", None)]
    assert "127.0.0.1" in refused["error"] and "not a public address" in refused["error"]
    assert receiver.requests == []
    # Redelivered where loopback is allowed (the live server's workers): delivered.
    assert alice.post(f"/webhooks/{endpoint['id']}/deliveries/{refused['id']}/redeliver").status_code == 202
    wait_for(lambda: deliveries(alice, endpoint)[0]["status"] == "delivered", timeout=10)
    assert len(receiver.requests) == 1


def test_endpoints__the_admin_shows_deliveries_with_attempts_and_redelivers(
    live: str, alice: httpx.Client, user_client: Any, receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory(lambda n: (500, b"receiver broke") if n <= 4 else "ok")
    endpoint = register(alice, receiver.url, description="ops-endpoint")
    assert alice.post(f"/webhooks/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: deliveries(alice, endpoint)[0]["status"] == "failed", timeout=15)
    delivery = deliveries(alice, endpoint)[0]["id"]
    browser = admin_session(live, user_client)
    try:
        listing = browser.get("/admin/webhooks/endpoint/")
        assert listing.status_code == 200 and "ops-endpoint" in listing.text and receiver.url in listing.text
        page = browser.get(f"/admin/webhooks/endpoint/{endpoint['id']}/change/")
        assert page.status_code == 200 and "webhook.test" in page.text and "failed" in page.text
        assert endpoint["secret"] not in page.text
        detail = browser.get(f"/admin/webhooks/endpointdelivery/{delivery}/change/")
        assert detail.status_code == 200
        assert "receiver broke" in detail.text and "retrying" in detail.text and "HTTP 500" in detail.text
        changelist = browser.get("/admin/webhooks/endpointdelivery/?status=failed")
        token = changelist.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        done = browser.post(
            "/admin/webhooks/endpointdelivery/",
            data={"action": "redeliver", "_selected_action": [delivery], "csrfmiddlewaretoken": token},
            headers={"Referer": f"{live}/admin/webhooks/endpointdelivery/"},
        )
        assert done.status_code == 200 and "Redelivering 1" in done.text
    finally:
        browser.close()
    wait_for(lambda: deliveries(alice, endpoint)[0]["status"] == "delivered", timeout=10)
    assert len(receiver.requests) == 5


@pytest.mark.django_db
def test_endpoints__a_status_of_a_user_without_matching_endpoints_runs_no_query(
    django_user_model: Any, settings: Any
) -> None:
    """The turn's hot path: which users have endpoints (and their filters) is cached, so a
    status of a user with none, or none for that event, runs no statement; a new endpoint is
    seen by the next status at once (the cache is dropped when it is made)."""
    from tests.test_query_counts import recorded
    from uai.agents.models import Agent
    from uai.runs.models import Run
    from uai.webhooks import events, services
    from uai.webhooks.models import EndpointDelivery

    settings.UAI_WEBHOOK_ALLOWED_URLS = ["http://127.0.0.1:"]
    settings.UAI_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    user = django_user_model.objects.create_user(f"hot-{uuid.uuid4().hex[:6]}")
    events.forget(user.pk)
    run = Run.objects.create(owner=user, agent=Agent.objects.get(name="echo"), status=Run.Status.SUCCEEDED)
    events.run_status(run)  # the first reads the endpoints and caches them
    with recorded() as seen:
        events.run_status(run)
        run.status = Run.Status.RUNNING
        events.run_status(run, begun=True)
        events.run_status(run)  # running again after an answer: no event at all
    assert seen == []
    services.endpoint_create(owner_id=user.pk, url="http://127.0.0.1:9/hook", event_types=["run.failed"])
    run.status = Run.Status.SUCCEEDED
    events.run_status(run)  # re-read once: the endpoint is new
    with recorded() as seen:
        events.run_status(run)  # its filter wants run.failed only
    assert seen == []
    assert not EndpointDelivery.objects.exists()
    run.status = Run.Status.FAILED
    events.run_status(run)
    assert list(EndpointDelivery.objects.values_list("event_type", flat=True)) == ["run.failed"]


async def test_endpoints__a_post_goes_to_the_address_that_was_checked(settings: Any) -> None:
    """A name is resolved once, its addresses checked, and the POST connects to the checked
    address with the name kept in ``Host`` (and as the TLS server name for https): a second
    lookup that answers something else (DNS rebinding) is never made."""
    from uai.webhooks import network

    settings.UAI_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
    url, headers, extensions = await network.pinned(httpx.URL("http://localhost:8123/hook?x=1"))
    assert url.host in ("127.0.0.1", "::1") and url.port == 8123 and url.raw_path == b"/hook?x=1"
    assert headers == {"Host": "localhost:8123"} and extensions == {}
    url, headers, extensions = await network.pinned(httpx.URL("https://localhost/hook"))
    assert url.host in ("127.0.0.1", "::1") and headers == {"Host": "localhost"}
    assert extensions == {"sni_hostname": "localhost"}  # the certificate is checked for the name
    literal = httpx.URL("http://127.0.0.1:9/hook")
    assert await network.pinned(literal) == (literal, {}, {})
    settings.UAI_WEBHOOK_PRIVATE_NETWORKS = []
    for refused in ("http://localhost:8123/hook", "http://127.0.0.1:9/", "http://[::ffff:10.0.0.1]/"):
        with pytest.raises(PermissionError, match="not a public address"):
            await network.pinned(httpx.URL(refused))
    assert network.refusal(httpx.URL("https://8.8.8.8/")) is None
    with pytest.raises(network.Unresolved):
        await network.pinned(httpx.URL("http://no-such-host.invalid/hook"))


def test_endpoints__a_bad_private_network_stops_start_up() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "UAI_WEBHOOK_PRIVATE_NETWORKS": "10.0.0.0/8,10.0.0.300/8"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "UAI_WEBHOOK_PRIVATE_NETWORKS: '10.0.0.300/8' is not a network" in result.stderr
    assert "Traceback" not in result.stderr
