"""Seed 001's stateless POST /agent/run, driven with httpx against the running server."""

from __future__ import annotations

import httpx


def test_agent_run__stateless_steps(alice: httpx.Client) -> None:
    from uai.chats.models import Chat

    chats = Chat.objects.count()
    steps = alice.post("/agent/run", json={"chat_id": "chat_id47", "task": "2+3*4", "agent": "steps"})
    assert steps.status_code == 200, steps.text
    assert [s["step_type"] for s in steps.json()] == ["PlanningStep", "ActionStep", "FinalAnswerStep"]
    assert steps.json()[-1] == {"step_type": "FinalAnswerStep", "content": "14"}
    assert alice.post("/agent/run", json={"task": "hi"}).json() == [
        {"step_type": "FinalAnswerStep", "content": "hi"}
    ]
    assert alice.post("/agent/run", json={}).status_code == 400
    assert alice.post("/agent/run", json={"task": "x", "agent": "fail"}).status_code == 502
    assert Chat.objects.count() == chats
