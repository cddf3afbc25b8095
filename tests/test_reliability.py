"""The reliability suite's judgement (``reliability/``): what counts as answered, lost, duplicated.

The suite itself runs as ``make reliability-short`` (it starts its own PostgreSQL and Redis); these
check the arithmetic it applies to what the clients saw, which a fault cannot be staged to test.
"""

from __future__ import annotations

from typing import Any

from reliability import probe, scenarios


def frames(message_id: str, *steps: tuple[str, str], first_seq: int = 1) -> list[dict[str, Any]]:
    """A turn's WebSocket frames: one agent_step per step, then message_end."""
    out: list[dict[str, Any]] = [
        {
            "type": "agent_step",
            "step_type": kind,
            "message": text,
            "message_id": message_id,
            "seq": first_seq + i,
        }
        for i, (kind, text) in enumerate(steps)
    ]
    out.append({"type": "message_end", "message_id": message_id, "seq": first_seq + len(steps)})
    return out


def history(*turns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``/history`` of a chat: the user's entry, then the agent's steps, per turn."""
    entries: list[dict[str, Any]] = []
    for steps in turns:
        entries.append({"role": "user", "content": "2+3", "step_type": None})
        entries += [{"role": "agent", "step_type": kind, "content": text} for kind, text in steps]
    return entries


STEPS = [("PlanningStep", "plan"), ("ActionStep", "2+3 = 5"), ("FinalAnswerStep", "5")]


def test_ws_chat__what_the_socket_saw_and_history_agree__answered() -> None:
    figures = probe.Figures("t")
    scenarios._check_ws_chat(history(STEPS), [("m1", frames("m1", *STEPS))], figures)
    assert (figures.answered, figures.lost, figures.duplicated) == (1, 0, 0)


def test_ws_chat__a_step_stored_but_never_delivered__lost() -> None:
    figures = probe.Figures("t")
    scenarios._check_ws_chat(history(STEPS), [("m1", frames("m1", *STEPS[:2]))], figures)
    assert (figures.answered, figures.lost) == (0, 1)
    assert "socket saw" in figures.notes[0]


def test_ws_chat__no_final_answer_anywhere__lost() -> None:
    figures = probe.Figures("t")
    scenarios._check_ws_chat(history(STEPS[:2]), [("m1", frames("m1", *STEPS[:2]))], figures)
    assert figures.lost == 1


def test_ws_chat__a_frame_delivered_twice__duplicated() -> None:
    figures = probe.Figures("t")
    seen = frames("m1", *STEPS)
    scenarios._check_ws_chat(history(STEPS), [("m1", [seen[0], *seen])], figures)
    assert figures.duplicated >= 1


def test_ws_chat__a_step_stored_twice__duplicated() -> None:
    figures = probe.Figures("t")
    stored = [STEPS[0], *STEPS]
    scenarios._check_ws_chat(history(stored), [("m1", frames("m1", *stored))], figures)
    assert figures.duplicated == 1 and figures.answered == 0


def test_figures__ok_only_without_loss_duplicate_stuck_hang_or_missed_recovery() -> None:
    assert probe.Figures("t", recover_s=1.0).ok
    assert probe.Figures("t", needs_recovery=False).ok
    assert not probe.Figures("t").ok  # never recovered
    for bad in ({"lost": 1}, {"duplicated": 1}, {"stuck": 1}, {"hung": ["web1"]}, {"error": "x"}):
        assert not probe.Figures("t", recover_s=1.0, **bad).ok  # type: ignore[arg-type]
