"""The operator's admin: live run status, the retry action, artifact previews, filters, list speed.

Staff-only admin views serve what the public API serves only to owners: ``<run>/live/``,
``live/?id=…`` (the run list) and ``<artifact>/file/``.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import cancel_run, wait_for, wait_run
from tests.test_admin_docs import admin_session


def tiny_png() -> bytes:
    """A valid 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def session_client(live: str, user: Any) -> httpx.Client:
    """A browser-like client signed in as ``user`` (a real session row, as a login makes)."""
    from django.conf import settings
    from django.test import Client

    django_client = Client()
    django_client.force_login(user)
    cookie = django_client.cookies[settings.SESSION_COOKIE_NAME].value
    return httpx.Client(base_url=live, cookies={settings.SESSION_COOKIE_NAME: cookie}, timeout=30)


def admin_post_action(browser: httpx.Client, live: str, action: str, ids: list[str]) -> str:
    """Run an admin action on the run list, as the changelist form does; the page after it."""
    token = csrf_token(browser.get("/admin/runs/run/").text)
    response = browser.post(
        "/admin/runs/run/",
        data={"action": action, "_selected_action": ids, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{live}/admin/runs/run/"},
    )
    assert response.status_code == 200, response.text[:500]
    return response.text


# --- live status -----------------------------------------------------------------------------------


def test_admin_live__follows_a_slow_run_until_it_ends(live: str, alice: httpx.Client, user_client) -> None:  # type: ignore[no-untyped-def]
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 50, "delay": 0.1}}).json()["task_id"]
    browser = admin_session(live, user_client)
    try:
        wait_run(alice, task, "running")
        page = browser.get(f"/admin/runs/run/{task}/change/").text
        assert "admin_live/run_live.js" in page and "admin_live/run_live.css" in page
        assert f'data-uai-live-url="/admin/runs/run/{task}/live/"' in page and "data-uai-active" in page
        assert '<progress max="100"' in page
        assert 'name="status"' not in page and 'name="output"' not in page  # shown, never edited
        for inline in ["logs", "artifacts"]:  # logs and artifacts come from the run, not the form
            assert f'name="{inline}-MAX_NUM_FORMS" value="0"' in page
        listing = browser.get("/admin/runs/run/").text
        assert f'data-uai-run="{task}" data-uai-field="status" data-uai-active' in listing
        assert 'data-uai-live-url="/admin/runs/run/live/"' in listing
        script = browser.get("/static/admin_live/run_live.js")
        assert script.status_code == 200 and "data-uai-active" in script.text

        def live_state(after: int = 0) -> dict[str, Any]:
            response = browser.get(f"/admin/runs/run/{task}/live/", params={"after": after})
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            return response.json()

        first = wait_for(lambda: (data := live_state())["progress"] > 0 and data["logs"] and data)
        assert first["status"] == "running" and first["terminal"] is False
        assert set(first) >= {
            "status",
            "progress",
            "current_step",
            "error",
            "input_prompt",
            "logs",
            "last_seq",
        }
        assert first["current_step"].startswith("step ") and first["logs"][0]["message"] == "step 1 of 50"
        assert first["last_seq"] == first["logs"][-1]["seq"]

        # Polling on from the last seq seen: only newer lines, in order, and the progress grows.
        cursor, seen = first["last_seq"], [log["message"] for log in first["logs"]]
        later, deadline = first, time.monotonic() + 30
        while not later["terminal"]:
            assert time.monotonic() < deadline, later
            time.sleep(0.2)
            later = live_state(cursor)
            assert all(log["seq"] > cursor for log in later["logs"])
            seen += [log["message"] for log in later["logs"]]
            cursor = later["last_seq"]
            assert later["progress"] >= first["progress"]
        assert later["status"] == "succeeded" and later["progress"] == 100
        assert seen == [f"step {i} of 50" for i in range(1, 51)]
        assert live_state(cursor)["logs"] == []

        # A fresh look (after=0) gets the newest 50 lines only.
        many = alice.post("/run/", json={"agent": "slow", "input": {"steps": 60, "delay": 0}}).json()[
            "task_id"
        ]
        wait_run(alice, many, "succeeded")
        tail = browser.get(f"/admin/runs/run/{many}/live/").json()["logs"]
        assert [log["message"] for log in tail] == [f"step {i} of 60" for i in range(11, 61)]

        # The run list asks about many runs at once; ids that are no run are left out.
        listed = browser.get(
            "/admin/runs/run/live/", params={"id": [task, many, "nonsense", str(uuid.uuid4())]}
        )
        runs = listed.json()["runs"]
        assert set(runs) == {task, many}
        assert runs[many]["status"] == "succeeded" and runs[many]["terminal"] is True
        assert runs[many]["latest_log"] == "step 60 of 60"

        assert browser.get(f"/admin/runs/run/{task}/live/", params={"after": "x"}).status_code == 400
        assert browser.get(f"/admin/runs/run/{uuid.uuid4()}/live/").status_code == 404
        assert browser.get("/admin/runs/run/not-a-uuid/live/").status_code == 404
    finally:
        browser.close()
        alice.delete(f"/run/{task}")  # when an assertion failed midway (409 once it ended)


def test_admin_live__only_staff_who_may_view_runs(live: str, alice: httpx.Client, user_client) -> None:  # type: ignore[no-untyped-def]
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 1, "delay": 0}}).json()["task_id"]
    wait_run(alice, task, "succeeded")
    paths = [f"/admin/runs/run/{task}/live/", f"/admin/runs/run/live/?id={task}"]

    # The owner's API token is no admin sign-in: the admin's login page, never the data.
    for path in paths:
        response = alice.get(path)
        assert response.status_code == 302 and "/admin/login/" in response.headers["location"]

    bob = user_client("bob")
    clerk = user_client("clerk", is_staff=True)  # staff, but without the permission to view runs
    for user, admin_index in [(bob.user, 302), (clerk.user, 200)]:
        with session_client(live, user) as signed_in:
            assert signed_in.get("/admin/").status_code == admin_index  # signed in, staff or not
            for path in paths:
                response = signed_in.get(path)
                assert response.status_code == 403, (user.username, path, response.text)
                assert "status" not in response.json()


# --- retry -----------------------------------------------------------------------------------------


def test_admin_retry__starts_failed_and_cancelled_tasks_again(
    live: str, alice: httpx.Client, user_client
) -> None:  # type: ignore[no-untyped-def]
    from uai.agents.models import Agent

    Agent.objects.create(name="slow-files", target="uai.agents.builtin.slow:slow", accepts_files=True)
    slow_input = {"steps": 100, "delay": 0.1}
    cancelled = alice.post(
        "/run/",
        data={"agent": "slow-files", "input": json.dumps(slow_input)},
        files=[("files", ("brief.txt", b"the brief", "text/plain"))],
    ).json()["task_id"]
    wait_run(alice, cancelled, "running")
    assert alice.delete(f"/run/{cancelled}").json()["status"] == "cancelled"
    failed = alice.post("/run/", json={"agent": "fail", "input": {"why": "testing"}}).json()["task_id"]
    succeeded = alice.post("/run/", json={"agent": "slow", "input": {"steps": 0}}).json()["task_id"]
    active = alice.post("/run/", json={"agent": "slow", "input": slow_input}).json()["task_id"]
    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    turn = alice.post(f"/chat/{session}", json={"text": "hi"}).json()["run_id"]
    wait_run(alice, failed, "failed")
    wait_run(alice, succeeded, "succeeded")
    wait_run(alice, active, "running")
    before = {run["task_id"] for run in alice.get("/run/").json()}

    browser = admin_session(live, user_client)
    try:
        page = admin_post_action(browser, live, "retry_runs", [cancelled, failed, succeeded, active, turn])
    finally:
        browser.close()
    assert "Retried 2 run(s)" in page
    assert "Skipped 1 chat turn(s): a turn is retried by sending the message again." in page
    assert "Skipped 2 run(s) that are active or succeeded" in page

    new = {run["task_id"]: run for run in alice.get("/run/").json() if run["task_id"] not in before}
    assert sorted(run["agent"] for run in new.values()) == ["fail", "slow-files"]
    assert all(run["kind"] == "task" for run in new.values())
    again = next(run for run in new.values() if run["agent"] == "slow-files")
    assert again["input"] == slow_input
    assert again["task_id"] in page
    wait_run(alice, again["task_id"], "running")
    files = alice.get(f"/run/{again['task_id']}/artifacts").json()
    assert [(f["name"], f["origin"]) for f in files] == [("brief.txt", "user")]
    assert alice.get(f"/run/{again['task_id']}/artifacts/{files[0]['id']}/download").content == b"the brief"
    failed_again = next(run for run in new.values() if run["agent"] == "fail")
    assert failed_again["input"] == {"why": "testing"}
    assert wait_run(alice, failed_again["task_id"], "failed")["error"]
    for task in [again["task_id"], active]:
        cancel_run(alice, task)  # and wait for its job to end: its last writes race the teardown


# --- artifacts -------------------------------------------------------------------------------------


def test_admin_artifacts__previews_and_the_staff_file_view(
    live: str, alice: httpx.Client, user_client
) -> None:  # type: ignore[no-untyped-def]
    from uai.artifacts import services as artifact_services

    png = tiny_png()
    note = "hello <script>alert(1)</script> & “quotes”\n".encode()
    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    turn = alice.post(
        f"/chat/{session}",
        data={"text": "here you go"},
        files=[
            ("files", ("note.txt", note, "text/plain")),
            ("files", ("dot.png", png, "image/png")),
            ("files", ("blob.bin", b"\x00\x01binary", "application/octet-stream")),
        ],
    ).json()
    assert turn["status"] == "succeeded", turn
    made = {a["name"]: a["id"] for a in turn["artifacts"]}  # what the agent handed back
    assert set(made) == {"note.txt", "dot.png", "blob.bin"}
    owner = alice.user.pk
    data = artifact_services.artifact_create(
        owner_id=owner, name="result", data={"answer": "<b>42</b>"}, chat_id=session
    )
    long_text = artifact_services.artifact_create(
        owner_id=owner, name="long.txt", content=b"x" * 5000 + b"TAIL", chat_id=session
    )
    html = artifact_services.artifact_create(
        owner_id=owner, name="page.html", content=b"<script>alert(2)</script>", chat_id=session
    )

    browser = admin_session(live, user_client)
    try:
        pages = {name: browser.get(f"/admin/artifacts/artifact/{made[name]}/change/").text for name in made}
        png_url = f"/admin/artifacts/artifact/{made['dot.png']}/file/"
        assert f'<img class="uai-preview-image" src="{png_url}" alt="dot.png">' in pages["dot.png"]
        assert (
            '<pre class="uai-preview-text">hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; “quotes”\n</pre>'
            in pages["note.txt"]
        )
        assert "<script>alert(1)" not in pages["note.txt"]
        blob_url = f"/admin/artifacts/artifact/{made['blob.bin']}/file/"
        assert f'blob.bin (8 bytes) <a href="{blob_url}">download</a>' in pages["blob.bin"]
        assert "uai-preview-text" not in pages["blob.bin"] and "uai-preview-image" not in pages["blob.bin"]

        data_page = browser.get(f"/admin/artifacts/artifact/{data.id}/change/").text
        assert "&quot;answer&quot;: &quot;&lt;b&gt;42&lt;/b&gt;&quot;" in data_page
        long_page = browser.get(f"/admin/artifacts/artifact/{long_text.id}/change/").text
        assert "x" * 4096 + "</pre>" in long_page and "TAIL" not in long_page
        assert "the first 4096 shown" in long_page
        html_page = browser.get(f"/admin/artifacts/artifact/{html.id}/change/").text
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html_page and "<script>alert(2)" not in html_page

        # The chat's and the turn's pages preview their artifacts inline too.
        for page in [
            browser.get(f"/admin/chats/chat/{session}/change/").text,
            browser.get(f"/admin/runs/run/{turn['run_id']}/change/").text,
        ]:
            assert f'src="{png_url}"' in page
            assert "hello &lt;script&gt;alert(1)&lt;/script&gt;" in page
            assert "admin_artifacts/preview.css" in page

        served = browser.get(png_url)
        assert served.status_code == 200 and served.content == png
        assert served.headers["content-type"] == "image/png"
        assert served.headers["content-disposition"].startswith("inline")
        assert served.headers["x-content-type-options"] == "nosniff"
        text = browser.get(f"/admin/artifacts/artifact/{made['note.txt']}/file/")
        assert text.content == note and text.headers["content-type"] == "text/plain"
        assert text.headers["content-disposition"].startswith("inline")
        blob = browser.get(blob_url)
        assert blob.content == b"\x00\x01binary"
        assert blob.headers["content-type"] == "application/octet-stream"
        assert blob.headers["content-disposition"].startswith("attachment")
        as_json = browser.get(f"/admin/artifacts/artifact/{data.id}/file/")
        assert as_json.json() == {"answer": "<b>42</b>"}
        assert as_json.headers["content-type"] == "application/json"
        page_file = browser.get(f"/admin/artifacts/artifact/{html.id}/file/")
        assert page_file.headers["content-type"] == "text/html"
        assert page_file.headers["content-disposition"].startswith("attachment")
        assert "sandbox" in page_file.headers["content-security-policy"]
        assert browser.get(f"/admin/artifacts/artifact/{uuid.uuid4()}/file/").status_code == 404
    finally:
        browser.close()

    bob = user_client("bob")
    with session_client(live, bob.user) as signed_in:
        refused = signed_in.get(png_url)
        assert refused.status_code == 403 and refused.content != png
    response = alice.get(png_url)  # the owner's API token is no admin sign-in
    assert response.status_code == 302 and "/admin/login/" in response.headers["location"]


# --- filters ---------------------------------------------------------------------------------------


def test_admin_filters__runs_chats_and_artifacts(live: str, alice: httpx.Client, user_client) -> None:  # type: ignore[no-untyped-def]
    bob = user_client("bob")
    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    alice.post(
        f"/chat/{session}",
        data={"text": "files"},
        files=[("files", ("a.txt", b"a", "text/plain")), ("files", ("b.png", tiny_png(), "image/png"))],
    )
    bob_session = bob.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 0}}).json()["task_id"]
    wait_run(alice, task, "succeeded")
    alice_id, bob_id = alice.user.pk, bob.user.pk
    today = alice.get(f"/run/{task}").json()["created_at"][:10] + " 00:00:00+00:00"

    browser = admin_session(live, user_client)
    try:

        def listing(path: str, **params: Any) -> str:
            response = browser.get(path, params=params)
            assert response.status_code == 200, (path, params, response.text[:500])
            assert "?e=1" not in str(response.url)  # the admin's "bad filter" redirect
            return response.text

        chats = listing("/admin/chats/chat/", owner__id__exact=alice_id)
        assert session in chats and bob_session not in chats
        assert session not in listing("/admin/chats/chat/", owner__id__exact=bob_id)

        pngs = listing(
            "/admin/artifacts/artifact/",
            origin__exact="user",
            media_type="image/png",
            owner__id__exact=alice_id,
            created_at__gte=today,
        )
        assert "b.png" in pngs and "a.txt" not in pngs
        assert "b.png" not in listing("/admin/artifacts/artifact/", owner__id__exact=bob_id)
        assert "a.txt" in listing(
            "/admin/artifacts/artifact/", origin__exact="agent", media_type="text/plain"
        )

        runs = listing(
            "/admin/runs/run/",
            agent__name__exact="slow",
            status__exact="succeeded",
            owner__id__exact=alice_id,
            created_at__gte=today,
        )
        assert task in runs
        assert task not in listing("/admin/runs/run/", agent__name__exact="echo")
        assert task not in listing("/admin/runs/run/", owner__id__exact=bob_id)
    finally:
        browser.close()


# --- the agent registry ----------------------------------------------------------------------------


def test_admin_agents__added_in_the_admin_and_checked_first(
    live: str, alice: httpx.Client, user_client
) -> None:  # type: ignore[no-untyped-def]
    browser = admin_session(live, user_client)
    try:

        def add(target: str) -> httpx.Response:
            token = csrf_token(browser.get("/admin/agents/agent/add/").text)
            form = {
                "name": "shout",
                "adapter": "python",
                "target": target,
                "options": "{}",
                "description": "",
                "max_attempts": "1",
                "retry_delay_seconds": "0",
                "estimated_seconds": "30",
                "queue": "",
                "enabled": "on",
                "csrfmiddlewaretoken": token,
                "_save": "Save",
            }
            return browser.post(
                "/admin/agents/agent/add/", data=form, headers={"Referer": f"{live}/admin/agents/agent/add/"}
            )

        refused = add("uai.agents.builtin.echo:nope")
        assert "/add/" in str(refused.url) and "has no attribute" in refused.text
        assert alice.post("/run/", json={"agent": "shout"}).status_code == 400
        saved = add("uai.agents.builtin.echo:echo")
        assert str(saved.url).endswith("/admin/agents/agent/") and "shout" in saved.text
    finally:
        browser.close()
    task = alice.post("/run/", json={"agent": "shout", "input": "hey"}).json()["task_id"]
    assert wait_run(alice, task, "succeeded")["output"] == "hey"


# --- speed: lists do not query once per row --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:No directory at")  # whitenoise, before collectstatic
def test_admin_lists__queries_do_not_grow_with_rows(admin_client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from uai.agents import registry
    from uai.artifacts import services as artifact_services
    from uai.chats.models import Chat, Message
    from uai.runs.models import Event, Log, Run, Stat

    registry.sync_settings_agents()

    def add_rows(count: int) -> None:
        for _ in range(count):
            user = django_user_model.objects.create(username=f"u-{uuid.uuid4().hex[:8]}")
            chat = Chat.objects.create(owner=user, agent_id="echo")
            run = Run.objects.create(owner=user, agent_id="slow", chat=chat, kind=Run.Kind.TURN)
            Message.objects.create(chat=chat, run=run, seq=1, role="user", content="hi")
            Log.objects.create(chat=chat, run=run, seq=2, message="a line")
            Stat.objects.create(chat=chat, run=run, seq=3, data={"tokens": 1})
            Event.objects.create(chat=chat, run=run, seq=4, type="log")
            artifact_services.artifact_create(
                owner_id=user.pk, name="n.txt", content=b"note", chat_id=chat.id, run_id=run.id
            )

    lists = [
        "/admin/runs/run/",
        "/admin/runs/log/",
        "/admin/runs/stat/",
        "/admin/runs/event/",
        "/admin/chats/chat/",
        "/admin/chats/message/",
        "/admin/artifacts/artifact/",
        "/admin/agents/agent/",
    ]

    def count_queries() -> dict[str, int]:
        counts = {}
        for path in lists:
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(path).status_code == 200, path
            counts[path] = len(captured)
        return counts

    add_rows(2)
    count_queries()  # warm the caches (content types, …) so both counts start alike
    few = count_queries()
    add_rows(6)
    assert count_queries() == few


# --- the page itself, in a real browser ------------------------------------------------------------


@contextlib.contextmanager
def chromium_page(browser: Any, live: str) -> Iterator[Any]:
    """A page of ``browser`` signed in to the admin as ``operator`` (see ``admin_session``)."""
    context = browser.new_context(base_url=live)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/admin/login/?next=/admin/")
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", "operator-pass")
        page.click("input[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        yield page
        assert errors == []
    finally:
        context.close()


def test_admin_live__pages_update_without_reloading(
    chromium: Any, live: str, alice: httpx.Client, user_client
) -> None:  # type: ignore[no-untyped-def]
    admin_session(live, user_client).close()  # the operator and their password, before the browser
    slow = {"agent": "slow", "input": {"steps": 40, "delay": 0.1}}
    with chromium_page(chromium, live) as page:
        task = alice.post("/run/", json=slow).json()["task_id"]
        page.goto(f"/admin/runs/run/{task}/change/")
        page.evaluate("window.notReloaded = true")
        status = ".uai-live [data-uai-field=status]"
        page.wait_for_function(
            f"document.querySelector('{status}').textContent === 'running'"
            " && document.querySelector('.uai-live progress').value > 0"
        )
        page.wait_for_function(f"document.querySelector('{status}').textContent === 'succeeded'")
        assert page.locator(".uai-live progress").evaluate("p => p.value") == 100
        assert page.locator("[data-uai-field=progress_text]").inner_text() == "100%"
        assert page.locator("[data-uai-field=current_step]").inner_text() == "step 40 of 40"
        lines = page.locator(".uai-live-logs li")
        assert lines.count() == 40 and lines.last.inner_text().endswith("info step 40 of 40")
        assert "Done after 40 steps." in page.locator("[data-uai-field=output]").inner_text()
        assert page.evaluate("window.notReloaded") is True

        other = alice.post("/run/", json=slow).json()["task_id"]
        page.goto("/admin/runs/run/")
        page.evaluate("window.notReloaded = true")
        cell = f"[data-uai-run='{other}']"
        assert page.locator(f"{cell}[data-uai-field=status][data-uai-active]").count() == 1
        page.wait_for_function(
            f"document.querySelector(\"{cell}[data-uai-field=status]\").textContent === 'succeeded'"
        )
        assert page.locator(f"progress{cell}").evaluate("p => p.value") == 100
        assert page.locator(f"{cell}[data-uai-field=latest_log]").inner_text() == "step 40 of 40"
        assert page.locator(f"{cell}[data-uai-field=current_step]").inner_text() == "step 40 of 40"
        assert page.evaluate("window.notReloaded") is True
        wait_for(lambda: alice.get(f"/run/{other}").json()["status"] == "succeeded")
