"""Seed 001's REST history at /history/{chat_id}, driven with httpx against the running server."""

from __future__ import annotations

import re

import httpx


def test_history__seed_shape(alice: httpx.Client, bob: httpx.Client) -> None:
    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    alice.post(f"/chat/{session}", json={"text": "2*8"})
    history = alice.get(f"/history/{session}").json()
    assert [set(h) for h in history] == [{"role", "content", "step_type", "timestamp"}] * 4
    assert history[0] == {**history[0], "role": "user", "content": "2*8", "step_type": None}
    assert history[-1]["content"] == "16"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", h["timestamp"]) for h in history)
    assert bob.get(f"/history/{session}").status_code == 404
    assert alice.get("/history/nope").status_code == 404
