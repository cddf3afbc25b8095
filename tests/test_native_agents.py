"""The native agent list (``GET /agents``), driven with httpx against the running server."""

from __future__ import annotations

import httpx

from tests.conftest import register


def test_agents_endpoint__lists_the_enabled_agents(live: str, alice: httpx.Client) -> None:
    register("hidden", "tests.agents:reporter", enabled=False, description="off")
    listed = alice.get("/agents").json()
    names = [a["name"] for a in listed]
    assert names == sorted(names) and {"echo", "steps", "slow", "fail"} <= set(names)
    assert "hidden" not in names
    echo = next(a for a in listed if a["name"] == "echo")
    assert set(echo) == {"name", "description", "adapter", "streams", "accepts_files", "asks_input"}
    assert echo["adapter"] == "python" and echo["description"]
    refused = httpx.get(live + "/agents")
    assert refused.status_code == 401 and "detail" in refused.json()
