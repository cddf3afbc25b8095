"""The middleware stack: Django's own behaviour, without a thread hop per hook under ASGI."""

from __future__ import annotations

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
