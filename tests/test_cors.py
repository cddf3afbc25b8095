"""Browser front ends on other origins (CopilotKit, ``useChat`` apps on their own dev server) call
the APIs with a bearer token: the origins in UAI_CORS_ALLOWED_ORIGINS may, others may not."""

from __future__ import annotations

import httpx

FRONT = "http://localhost:3000"  # UAI_CORS_ALLOWED_ORIGINS of the test servers (conftest.TEST_ENV)


def preflight(client: httpx.Client, path: str, origin: str) -> httpx.Response:
    return httpx.options(
        str(client.base_url).rstrip("/") + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, last-event-id",
        },
    )


def test_cors__an_allowed_origins_preflight_and_request_pass(alice: httpx.Client) -> None:
    answer = preflight(alice, "/ag-ui/echo", FRONT)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == FRONT
    allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "last-event-id"} <= allowed
    assert "POST" in answer.headers["access-control-allow-methods"]

    listed = alice.get("/agents", headers={"Origin": FRONT})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == FRONT
    assert "x-vercel-ai-ui-message-stream" in listed.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in listed.headers  # a token, never cookies


def test_cors__another_origin_gets_no_permission(alice: httpx.Client) -> None:
    answer = preflight(alice, "/ai-sdk/echo", "http://elsewhere.test")
    assert "access-control-allow-origin" not in answer.headers
    listed = alice.get("/agents", headers={"Origin": "http://elsewhere.test"})
    assert listed.status_code == 200 and "access-control-allow-origin" not in listed.headers
