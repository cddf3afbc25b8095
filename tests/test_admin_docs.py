"""The operator's admin and the OpenAPI schema."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.conftest import wait_for


def admin_session(live: str, user_client) -> httpx.Client:  # type: ignore[no-untyped-def]
    api = user_client("operator", is_staff=True, is_superuser=True)
    api.user.set_password("operator-pass")
    api.user.save()
    browser = httpx.Client(base_url=live, follow_redirects=True, timeout=30)
    page = browser.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = browser.post(
        "/admin/login/?next=/admin/",
        data={"username": "operator", "password": "operator-pass", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{live}/admin/login/"},
    )
    assert "Log out" in response.text or "logout" in response.text
    return browser


def test_admin__operator_reads_everything_and_cancels(live: str, alice: httpx.Client, user_client) -> None:  # type: ignore[no-untyped-def]
    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    alice.post(f"/chat/{session}", json={"text": "3*3"})
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 100, "delay": 0.1}}).json()[
        "task_id"
    ]
    wait_for(lambda: alice.get(f"/run/{task}").json()["status"] == "running")
    browser = admin_session(live, user_client)
    try:
        check_admin(browser, live, alice, session, task)
    finally:
        browser.close()


def check_admin(browser: httpx.Client, live: str, alice: httpx.Client, session: str, task: str) -> None:
    for path in [
        "/admin/agents/agent/",
        "/admin/chats/chat/",
        "/admin/chats/message/",
        "/admin/runs/run/",
        "/admin/runs/log/",
        "/admin/runs/stat/",
        "/admin/runs/event/",
        "/admin/artifacts/artifact/",
        "/admin/procrastinate/procrastinatejob/",
        "/admin/runs/run/?status__exact=running",
        f"/admin/chats/chat/{session}/change/",
        f"/admin/runs/run/{task}/change/",
        "/admin/agents/agent/echo/change/",
    ]:
        response = browser.get(path)
        assert response.status_code == 200, (path, response.text[:500])
    chat_page = browser.get(f"/admin/chats/chat/{session}/change/").text
    assert "PlanningStep" in chat_page and "FinalAnswerStep" in chat_page

    changelist = browser.get("/admin/runs/run/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text).group(1)
    browser.post(
        "/admin/runs/run/",
        data={"action": "cancel_runs", "_selected_action": [task], "csrfmiddlewaretoken": token},
        headers={"Referer": f"{live}/admin/runs/run/"},
    )
    assert alice.get(f"/run/{task}").json()["status"] == "cancelled"


def test_openapi__schema_covers_the_native_api(live: str, alice: httpx.Client) -> None:
    schema = alice.get("/api/schema/", headers={"Accept": "application/json"}).json()
    paths = set(schema["paths"])
    for expected in [
        "/chat/",
        "/chat/{session_id}",
        "/chat/{session_id}/messages",
        "/chat/{session_id}/artifacts",
        "/chat/{session_id}/artifacts/{artifact_id}",
        "/chat/next",
        "/run/",
        "/run/{task_id}",
        "/run/{task_id}/input",
        "/run/{task_id}/artifacts",
        "/run/{task_id}/artifacts/{artifact_id}",
        "/run/{task_id}/logs",
    ]:
        assert any(p.rstrip("/") == expected.rstrip("/") for p in paths), (expected, sorted(paths))
    docs = alice.get("/api/docs/")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def openapi_path(pattern: str) -> str:
    """``^chat/(?P<session_id>[^/]+)/stream/?$`` → ``/chat/{session_id}/stream``."""
    path = pattern.lstrip("^").rstrip("$")
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path).replace("/?", "")
    return "/" + path.rstrip("/")


def test_openapi__schema_covers_every_api_route(live: str, alice: httpx.Client) -> None:
    """Every route of urls.py but the pages, the admin and the schema itself is in the schema."""
    from django.urls import get_resolver

    schema = alice.get("/api/schema/", headers={"Accept": "application/json"}).json()
    documented = {p.rstrip("/") or "/" for p in schema["paths"]}
    pages = {"chat-page", "runs-page", "login", "logout", "schema", "docs"}
    routes = [
        openapi_path(str(p.pattern))
        for p in get_resolver().url_patterns
        if getattr(p, "name", None) and p.name not in pages
    ]
    assert len(routes) > 40
    missing = [r for r in routes if r not in documented]
    assert not missing, missing
    stream = schema["paths"]["/run/{task_id}/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    # A DELETE answered with a body is documented with it (drf-spectacular's default is a
    # bodiless 204, and generated clients threw the body away).
    for path, operation in _operations(schema, "delete"):
        responses = operation["responses"]
        assert ("204" in responses) != ("200" in responses), (path, responses)
        # those are 204s: nothing is left to show (a chat, a webhook endpoint, a schedule deleted)
        assert "200" in responses or path in {
            "/chat/{session_id}",
            "/webhooks/{endpoint_id}",
            "/schedules/{schedule_id}",
        }, path
    run_cancel = schema["paths"]["/run/{task_id}"]["delete"]["responses"]
    assert run_cancel["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RunOut")
    # Errors are documented too, as the API answers them ({"detail"}).
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if path == "/healthz":
                continue
            assert {"400", "401"} <= codes, (method, path, codes)
            assert "{" not in path or "404" in codes, (method, path, codes)
            assert not path.startswith("/api/workflows") or "429" in codes, (method, path, codes)
    assert "204" in schema["paths"]["/run/{task_id}/stream"]["get"]["responses"]
    assert "204" in schema["paths"]["/conversations/inference/{chat_id}"]["get"]["responses"]
    # The schema and its page answer without their trailing slash, as every API route does.
    assert alice.get("/api/schema", headers={"Accept": "application/json"}).json() == schema
    assert alice.get("/api/docs").status_code == 200


def _operations(schema: dict, method: str) -> list[tuple[str, dict]]:
    return [(path, item[method]) for path, item in schema["paths"].items() if method in item]


def test_admin__deleting_stops_the_work_and_removes_the_files(
    live: str, alice: httpx.Client, user_client
) -> None:  # type: ignore[no-untyped-def]
    """Django's own delete removed the rows only: the stored files stayed on disk and a deleted
    run's job (or a deleted chat's turn) went on working."""
    from django.conf import settings
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.artifacts.models import Artifact

    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    sent = alice.post(f"/chat/{session}", data={"text": "keep"}, files={"files": ("doc.txt", b"bytes")})
    assert sent.status_code == 200, sent.text
    stored = Path(settings.MEDIA_ROOT) / Artifact.objects.get(chat_id=session, origin="user").file.name
    assert stored.exists()
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 100, "delay": 0.1}}).json()[
        "task_id"
    ]
    wait_for(lambda: alice.get(f"/run/{task}").json()["status"] == "running")
    job_id = ProcrastinateJob.objects.get(args__run_id=task).id

    browser = admin_session(live, user_client)
    try:
        for model, pk in [("chats/chat", session), ("runs/run", task)]:
            changelist = browser.get(f"/admin/{model}/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text).group(1)
            deleted = browser.post(
                f"/admin/{model}/",
                data={
                    "action": "delete_selected",
                    "_selected_action": [pk],
                    "post": "yes",
                    "csrfmiddlewaretoken": token,
                },
                headers={"Referer": f"{live}/admin/{model}/"},
            )
            assert deleted.status_code == 200
    finally:
        browser.close()
    assert alice.get(f"/chat/{session}").status_code == 404
    assert alice.get(f"/run/{task}").status_code == 404
    wait_for(lambda: not stored.exists())
    wait_for(lambda: ProcrastinateJob.objects.get(id=job_id).status == "aborted")
