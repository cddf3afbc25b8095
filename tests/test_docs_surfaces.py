"""Issue 29: /api/docs/ grouped by surface (native, each seed document, each protocol), and the
`web` agent offered only when it has a search backend (UAI_SEARCH_URL)."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.conftest import process_env

OPERATIONS = {"get", "post", "put", "patch", "delete"}
ORDER = [
    "UAI native",
    "Seed 001 (WebSocket/REST)",
    "Seed 002 workflows",
    "Seed 003",
    "Seed 004",
    "OpenAI",
    "AG-UI",
    "AI SDK",
    "Auth",
    "Operations",
]
KNOWN = {
    ("get", "/chat/"): "UAI native",
    ("post", "/run/"): "UAI native",
    ("get", "/chat/{session_id}/stream"): "UAI native",
    ("get", "/run/{task_id}/artifacts"): "UAI native",
    ("get", "/agents"): "UAI native",
    ("get", "/history/{chat_id}"): "Seed 001 (WebSocket/REST)",
    ("post", "/agent/run"): "Seed 001 (WebSocket/REST)",
    ("get", "/api/workflows/"): "Seed 002 workflows",
    ("post", "/api/chat/playground/start"): "Seed 002 workflows",
    ("post", "/chat/run"): "Seed 003",
    ("post", "/chat/stream"): "Seed 003",
    ("get", "/chats/"): "Seed 004",
    ("get", "/conversations/inference/{chat_id}"): "Seed 004",
    ("get", "/v1/models"): "OpenAI",
    ("post", "/v1/responses"): "OpenAI",
    ("post", "/ag-ui/{agent}"): "AG-UI",
    ("post", "/ai-sdk/{agent}"): "AI SDK",
    ("post", "/api/auth/token"): "Auth",
    ("get", "/healthz"): "Operations",
}


def test_openapi__every_operation_has_exactly_one_surface_tag(live: str, alice: httpx.Client) -> None:
    schema = alice.get("/api/schema/", headers={"Accept": "application/json"}).json()
    surfaces = [tag["name"] for tag in schema["tags"]]
    assert surfaces == ORDER  # Swagger UI shows them in this order
    assert all(tag["description"] for tag in schema["tags"])
    tagged = {
        (method, path): operation["tags"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in OPERATIONS
    }
    assert len(tagged) > 60
    wrong = {key: tags for key, tags in tagged.items() if len(tags) != 1 or tags[0] not in surfaces}
    assert wrong == {}
    assert {key: tagged[key][0] for key in KNOWN} == KNOWN


def _agents_list(env_search_url: str | None) -> str:
    """``manage.py agents list`` (which syncs the declared agents first) with or without a backend."""
    env = process_env()
    env.pop("UAI_SEARCH_URL", None)
    if env_search_url is not None:
        env["UAI_SEARCH_URL"] = env_search_url
    done = subprocess.run(
        [sys.executable, "manage.py", "agents", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_web_agent__offered_only_with_a_search_backend(
    live: str, alice: httpx.Client, search_service: str
) -> None:
    listed = _agents_list(None)
    web_line = next(line for line in listed.splitlines() if line.startswith("web "))
    assert "(disabled)" in web_line
    names = [agent["name"] for agent in alice.get("/agents").json()]
    assert "web" not in names and {"echo", "fail", "slow", "steps"} <= set(names)
    refused = alice.post("/chat/", json={"agent": "web"})
    assert refused.status_code == 400
    assert "web" in refused.json()["detail"]
    models = [model["id"] for model in alice.get("/v1/models").json()["data"]]
    assert "web" not in models

    listed = _agents_list(search_service)
    web_line = next(line for line in listed.splitlines() if line.startswith("web "))
    assert "(disabled)" not in web_line
    assert "web" in [agent["name"] for agent in alice.get("/agents").json()]
    session = alice.post("/chat/", json={"agent": "web"})
    assert session.status_code in (200, 201), session.text
