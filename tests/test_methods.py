"""Methods a route does not serve: 405 ``{"detail", "code"}`` with ``Allow``, on every kind of view."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/healthz", "GET, HEAD, OPTIONS"),  # a plain function view: TRACE was a 200
        ("/chat/some-chat/stream", "GET, HEAD, OPTIONS"),  # an async one (SSE)
        ("/chat/", "GET, POST, HEAD, OPTIONS"),  # a DRF view
        ("/api/schema/", "GET, HEAD, OPTIONS"),  # a Django view (its 405 had an empty body)
        ("/", "GET, HEAD, OPTIONS"),  # a page
    ],
)
@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_methods__a_method_no_view_serves_is_405_with_allow(
    alice: httpx.Client, path: str, allow: str, method: str
) -> None:
    response = alice.request(method, path)
    assert response.status_code == 405, (method, path, response.status_code, response.text[:300])
    assert response.headers["Allow"] == allow
    assert response.json() == {"detail": f'Method "{method}" not allowed.', "code": "method_not_allowed"}


def test_methods__a_function_view_serves_only_what_it_declares(alice: httpx.Client) -> None:
    """POST and PUT to the health check or a stream reached Django's CSRF check: an HTML 403."""
    for method in ("POST", "PUT", "DELETE"):
        for path in ("/healthz", "/chat/some-chat/stream", "/run/some-run/stream"):
            response = alice.request(method, path)
            assert response.status_code == 405, (method, path, response.text[:300])
            assert response.json()["code"] == "method_not_allowed"
    options = alice.options("/healthz")
    assert options.status_code == 200 and options.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert alice.get("/healthz").status_code == 200  # what it serves, it still serves


def test_methods__an_unknown_path_is_still_404(alice: httpx.Client) -> None:
    response = alice.request("TRACE", "/no-such-route")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
