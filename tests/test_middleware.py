"""The middleware stack: Django's own behaviour, without a thread hop per hook under ASGI."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from django.test import AsyncClient


def _hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of what runs through sync_to_async (a hop to a thread and back) from now on."""
    calls: list[str] = []
    original = SyncToAsync.__call__

    async def counted(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return calls


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_asgi__a_sync_view_costs_one_thread_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's MiddlewareMixin sends each hook to a thread: with the usual stack that was 13
    hops per request (~1 ms of CPU); UAI's subclasses call them inline."""
    hops = _hops(monkeypatch)
    response = async_to_sync(AsyncClient().get)("/healthz")
    assert response.status_code in (200, 503)
    assert "healthz" in hops  # the view itself (Django's handler has a few hops of its own)
    assert [h for h in hops if "process_" in h] == []
    hops.clear()
    # The admin's login page reads the session (is anyone signed in?): saving it takes a thread.
    response = async_to_sync(AsyncClient().get)("/admin/login/")
    assert response.status_code == 200
    assert [h for h in hops if "process_" in h] == ["SessionMiddleware.process_response"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_asgi__a_request_goes_to_a_thread_first_for_its_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """UAI's ASGI application: nothing runs in the request's thread before the view (Django's
    start-of-request connection check was a hop of its own), and the connection the view used
    still goes back to the pool when the response is closed."""
    from asgiref.testing import ApplicationCommunicator
    from django.db import connections

    from uai_project import asgi

    async def get(path: str) -> int:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [(b"host", b"localhost")],
        }
        communicator = ApplicationCommunicator(asgi.router, scope)  # no in-process worker
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(10)
        while (await communicator.receive_output(10)).get("more_body"):
            pass
        await communicator.wait(10)
        return int(start["status"])

    asgi.no_start_of_request_checks()  # as at import (a test client's request reconnects them)
    hops = _hops(monkeypatch)
    released: list[bool] = []
    wrapper = type(connections["default"])
    original_close = wrapper.close

    def close(self: Any) -> None:
        original_close(self)
        released.append(self.connection is None)

    monkeypatch.setattr(wrapper, "close", close)
    assert async_to_sync(get)("/healthz") in (200, 503)  # the view reads the database
    assert hops[0] == "healthz", hops
    assert hops[-1].endswith(".close") and released and all(released), (hops, released)


def test_asgi__security_headers_on_every_response(live: str) -> None:
    response = httpx.get(f"{live}/healthz")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


def test_asgi__static_files_are_served(live: str) -> None:
    css = httpx.get(f"{live}/static/admin/css/base.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert b"body" in css.content
    assert httpx.get(f"{live}/static/admin/css/no-such.css").status_code == 404


def test_asgi__csrf_session_and_messages_still_work(live: str) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("mw-admin", password="mw-admin-pass")
    with httpx.Client(base_url=live, follow_redirects=True) as browser:
        page = browser.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        # Without the token a cookie-carrying POST is refused, as Django refuses it.
        refused = browser.post("/admin/login/", data={"username": "mw-admin", "password": "mw-admin-pass"})
        assert refused.status_code == 403
        assert "sessionid" not in browser.cookies
        signed_in = browser.post(
            "/admin/login/",
            data={"username": "mw-admin", "password": "mw-admin-pass", "csrfmiddlewaretoken": token},
        )
        assert signed_in.status_code == 200 and "sessionid" in browser.cookies  # saved session
        assert browser.get("/admin/").status_code == 200
        # A message stored by one request (in the session or a cookie) is shown by the next.
        form = browser.get("/admin/auth/group/add/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        added = browser.post("/admin/auth/group/add/", data={"name": "ops", "csrfmiddlewaretoken": token})
        assert added.status_code == 200
        assert "was added successfully" in added.text


def test_healthz__a_database_error_is_not_shown_to_anyone_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    """/healthz is public: the error's text named the database's host, port and user."""
    from django.db import OperationalError, connection
    from django.test import RequestFactory

    from uai_project.views import healthz

    def unreachable() -> None:
        raise OperationalError('connection to server at "db.internal" (10.0.0.7), port 5432 failed')

    monkeypatch.setattr(connection, "cursor", unreachable)
    response = healthz(RequestFactory().get("/healthz"))
    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "unavailable", "database": "unavailable"}
