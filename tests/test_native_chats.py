"""The native chat API (seed 000 ``/chat/…``), driven with httpx against the running server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.conftest import wait_for


def create_chat(client: httpx.Client, **body: object) -> str:
    response = client.post("/chat/", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["session_id"] == data["id"]
    return data["session_id"]


def test_chat__echo_turn_is_stored_and_listed(alice: httpx.Client) -> None:
    session = create_chat(alice, name="first", metadata={"team": "a"})
    response = alice.post(f"/chat/{session}", json={"text": "hello there", "message_id": "m-1"})
    assert response.status_code == 200, response.text
    turn = response.json()
    assert turn["status"] == "succeeded"
    assert [(m["role"], m["step_type"], m["content"]) for m in turn["messages"]] == [
        ("user", None, "hello there"),
        ("agent", "FinalAnswerStep", "hello there"),
    ]
    assert turn["messages"][0]["message_id"] == "m-1"
    for message in turn["messages"]:
        assert set(message) >= {"id", "role", "content", "step_type", "created_at", "files"}

    messages = alice.get(f"/chat/{session}/messages").json()
    assert [m["id"] for m in messages] == [m["id"] for m in turn["messages"]]

    chat = alice.get(f"/chat/{session}").json()
    assert chat["agent"] == "echo" and chat["name"] == "first" and chat["metadata"] == {"team": "a"}
    assert chat["status"] == "idle"
    assert session in [c["session_id"] for c in alice.get("/chat/").json()]


def test_chat_list__each_chat_with_the_start_of_its_first_message(alice: httpx.Client) -> None:
    empty = create_chat(alice)
    long = create_chat(alice)
    text = "  Where\n\nshould we   go " + "and what should we see there " * 6
    assert alice.post(f"/chat/{long}", json={"text": text}).status_code == 200
    assert alice.post(f"/chat/{long}", json={"text": "a later message"}).status_code == 200
    spaced = create_chat(alice)  # (cut where the list stops reading, though short once folded)
    assert alice.post(f"/chat/{spaced}", json={"text": "a" + " " * 400 + "b"}).status_code == 200
    listed = {c["id"]: c for c in alice.get("/chat/").json()}
    assert listed[empty]["preview"] == ""
    folded = " ".join(text.split())
    assert listed[long]["preview"] == folded[:80].rstrip() + "…"
    assert listed[spaced]["preview"] == "a…"
    assert "preview" not in alice.get(f"/chat/{long}").json()  # (lists only)


def test_chat__steps_agent_plans_acts_and_answers(alice: httpx.Client) -> None:
    session = create_chat(alice, agent="steps")
    turn = alice.post(f"/chat/{session}", json={"text": "what is 2+3*4?"}).json()
    steps = [(m["role"], m["step_type"]) for m in turn["messages"]]
    assert steps == [
        ("user", None),
        ("agent", "PlanningStep"),
        ("agent", "ActionStep"),
        ("agent", "FinalAnswerStep"),
    ]
    assert turn["messages"][-1]["content"] == "14"
    assert "calculator" in turn["messages"][2]["content"]
    # The next turn sees the history and works the same.
    second = alice.post(f"/chat/{session}", json={"text": "(1+1)^3"}).json()
    assert second["messages"][-1]["content"] == "8"
    seqs = [m["seq"] for m in alice.get(f"/chat/{session}/messages").json()]
    assert seqs == sorted(seqs) and len(seqs) == 8


@pytest.mark.parametrize(
    "expression",
    ["((9^999)^999)^999", "9^999*9^999*9^999*9^999*9^999", "10.0^400", "(2^1000)^10", "1e308*10"],
)
def test_calculator__refuses_results_too_large_to_compute(expression: str) -> None:
    """Each exponent passed the check, but the result grew to ~10^9 digits: one C call for hours,
    holding the GIL (in embedded mode the server's whole event loop) — or a float overflow that
    broke the agent."""
    from uai.agents.builtin import calculator

    started = time.monotonic()
    with pytest.raises(calculator.CalculatorError, match="too large"):
        calculator.evaluate(expression)
    assert time.monotonic() - started < 1.0
    assert calculator.format_number(calculator.evaluate("2^1000")) == str(2**1000)  # still fine


def test_calculator__a_result_with_no_real_value_is_its_error() -> None:
    """(-1)^0.5 is a complex number: the next operator on it raised TypeError in the agent."""
    from uai.agents.builtin import calculator

    for expression in ["(0-1)^0.5", "(0-1)^0.5 % 2"]:
        with pytest.raises(calculator.CalculatorError, match="no real result"):
            calculator.evaluate(expression)


def test_chat__steps_agent_answers_a_huge_power_at_once(alice: httpx.Client) -> None:
    session = create_chat(alice, agent="steps")
    turn = alice.post(f"/chat/{session}", json={"text": "((9^999)^999)^999"}, timeout=10).json()
    assert turn["status"] == "succeeded"
    assert "result too large" in turn["messages"][2]["content"]


def test_chat__files_come_back_as_artifacts(alice: httpx.Client) -> None:
    session = create_chat(alice)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    response = alice.post(
        f"/chat/{session}",
        data={"text": "two files"},
        files=[
            ("files", ("notes.txt", b"some notes", "text/plain")),
            ("files", ("../../evil/pic.png", png, "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    turn = response.json()
    user_message, answer = turn["messages"]
    assert [f["name"] for f in user_message["files"]] == ["notes.txt", "pic.png"]
    assert answer["content"] == "two files"
    produced = turn["artifacts"]
    assert [(a["name"], a["media_type"], a["size"]) for a in produced] == [
        ("notes.txt", "text/plain", 10),
        ("pic.png", "image/png", len(png)),
    ]
    assert {f["id"] for f in answer["files"]} == {a["id"] for a in produced}
    # The history lists each message with its own files, also on a page of the newest.
    history = alice.get(f"/chat/{session}/messages").json()
    assert [m["id"] for m in history] == [user_message["id"], answer["id"]]
    assert history[0]["files"] == user_message["files"]
    assert {f["id"] for f in history[1]["files"]} == {a["id"] for a in produced}
    (newest,) = alice.get(f"/chat/{session}/messages", params={"limit": 1}).json()
    assert newest["files"] == history[1]["files"]

    listed = alice.get(f"/chat/{session}/artifacts").json()
    assert len(listed) == 4  # two uploads, two echoed back
    detail = alice.get(f"/chat/{session}/artifacts/{produced[1]['id']}").json()
    assert detail["checksum"] and detail["download_url"].startswith("http://127.0.0.1:")
    download = alice.get(detail["download_url"])
    assert download.status_code == 200
    assert download.content == png
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]
    # Stored under a generated name, never the client's path.
    stored = list(Path(settings.MEDIA_ROOT).rglob("*"))
    assert not any("evil" in str(p) or p.name == "pic.png" for p in stored)


def test_chat__download_of_a_file_gone_from_storage_is_404(alice: httpx.Client) -> None:
    from uai.artifacts.models import Artifact

    session = create_chat(alice)
    turn = alice.post(
        f"/chat/{session}", data={"text": "f"}, files=[("files", ("a.txt", b"abc", "text/plain"))]
    )
    produced = turn.json()["artifacts"][0]
    Path(Artifact.objects.get(pk=produced["id"]).file.path).unlink()
    gone = alice.get(produced["download_url"])
    assert gone.status_code == 404 and gone.json()["detail"] == "The stored file is missing."


def test_chat__delete_cancels_work_and_removes_everything(alice: httpx.Client) -> None:
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.artifacts.models import Artifact
    from uai.runs.models import Run

    session = create_chat(alice, agent="slow")
    upload = alice.post(
        f"/chat/{session}",
        data={"text": json.dumps({"steps": 100, "delay": 0.2})},
        files=[("files", ("a.txt", b"abc", "text/plain"))],
        params={"wait": "false"},
    )
    assert upload.status_code == 400  # slow takes no files
    response = alice.post(
        f"/chat/{session}", json={"text": json.dumps({"steps": 100, "delay": 0.2}), "wait": False}
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    job_id = Run.objects.get(pk=run_id).job_id
    wait_for(lambda: alice.get(f"/run/{run_id}").json()["progress"] > 0)

    echo_session = create_chat(alice)
    alice.post(f"/chat/{echo_session}", data={"text": "f"}, files=[("files", ("x.bin", b"xyz"))])
    stored = [Path(settings.MEDIA_ROOT) / a.file.name for a in Artifact.objects.filter(chat_id=echo_session)]
    assert stored and all(p.exists() for p in stored)

    started = time.monotonic()
    assert alice.delete(f"/chat/{session}").status_code == 204
    assert alice.delete(f"/chat/{echo_session}").status_code == 204
    wait_for(lambda: ProcrastinateJob.objects.get(pk=job_id).status in ("aborted", "cancelled"), timeout=2)
    assert time.monotonic() - started < 2.5
    assert alice.get(f"/chat/{session}").status_code == 404
    assert alice.get(f"/chat/{session}/messages").status_code == 404
    assert alice.post(f"/chat/{session}", json={"text": "x"}).status_code == 404
    assert not Run.objects.filter(pk=run_id).exists()
    wait_for(lambda: not any(p.exists() for p in stored), timeout=2)


def test_chat__next_is_sessionless_and_stores_nothing(alice: httpx.Client) -> None:
    from uai.artifacts.models import Artifact
    from uai.chats.models import Chat, Message
    from uai.runs.models import Run

    counts = (Chat.objects.count(), Message.objects.count(), Run.objects.count(), Artifact.objects.count())
    response = alice.post(
        "/chat/next",
        json={"user_input": "hi", "state": {"messages": [{"role": "user", "content": "earlier"}]}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"]["messages"][-2:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hi"},
    ]
    assert body["artifacts"] == []
    assert body["steps"][-1] == {"step_type": "FinalAnswerStep", "content": "hi"}

    with_file = alice.post(
        "/chat/next",
        data={"user_input": "file please", "state": "{}"},
        files=[("files", ("data.csv", b"a,b\n1,2\n", "text/csv"))],
    ).json()
    assert with_file["artifacts"][0]["name"] == "data.csv"
    assert with_file["artifacts"][0]["content_base64"] == "YSxiCjEsMgo="
    # A form's text that JSON would read as a number (or true, null…) is the text typed: it was
    # refused ("user_input must be text").
    assert alice.post("/chat/next", json={"user_input": None}).status_code == 400  # JSON's null: no text
    for typed in ["42", "true", "null", "[1]"]:
        as_text = alice.post("/chat/next", data={"user_input": typed}, files=[("files", ("n.txt", b"n"))])
        assert as_text.status_code == 200, as_text.text
        assert as_text.json()["output"] == typed
    # A file under a name nothing reads was dropped without a word, and the turn ran without it.
    misnamed = alice.post("/chat/next", data={"user_input": "x"}, files=[("image", ("i.png", b"i"))])
    assert misnamed.status_code == 400 and "'image'" in misnamed.json()["detail"]

    steps = alice.post("/chat/next", json={"agent": "steps", "user_input": {"text": "6*7"}}).json()
    assert steps["output"] == "42"
    failed = alice.post("/chat/next", json={"agent": "fail", "user_input": "x"})
    assert failed.status_code == 502 and "failed on purpose" in failed.json()["detail"]
    assert counts == (
        Chat.objects.count(),
        Message.objects.count(),
        Run.objects.count(),
        Artifact.objects.count(),
    )


def test_chat__failing_agent_leaves_the_chat_usable(alice: httpx.Client) -> None:
    session = create_chat(alice, agent="fail")
    turn = alice.post(f"/chat/{session}", json={"text": "go"}).json()
    assert turn["status"] == "failed"
    assert "failed on purpose" in turn["error"]
    assert [m["step_type"] for m in turn["messages"]] == [None, "ActionStep"]
    again = alice.post(f"/chat/{session}", json={"text": "again"}).json()
    assert again["status"] == "failed"
    assert len(alice.get(f"/chat/{session}/messages").json()) == 4
    assert alice.get(f"/chat/{session}").json()["status"] == "idle"


def test_chat__turns_of_one_chat_run_in_order(alice: httpx.Client) -> None:
    from uai.runs.models import Run

    session = create_chat(alice, agent="slow")
    first = alice.post(f"/chat/{session}", json={"text": '{"steps": 2, "delay": 0.2}', "wait": False})
    second = alice.post(f"/chat/{session}", json={"text": '{"steps": 1, "delay": 0}', "wait": False})
    assert first.status_code == second.status_code == 202
    ids = [first.json()["run_id"], second.json()["run_id"]]
    wait_for(lambda: all(Run.objects.get(pk=i).status == "succeeded" for i in ids), timeout=10)
    one, two = (Run.objects.get(pk=i) for i in ids)
    assert two.started_at >= one.finished_at


def test_chat__waiting_agent_gets_the_next_message_as_input(alice: httpx.Client) -> None:
    session = create_chat(alice, agent="slow")
    turn = alice.post(
        f"/chat/{session}", json={"text": '{"steps": 2, "delay": 0.05, "ask": "Your name?"}'}
    ).json()
    assert turn["status"] == "input_required"
    assert turn["messages"][-1]["step_type"] == "InputRequestStep"
    assert turn["messages"][-1]["content"] == "Your name?"
    answer = alice.post(f"/chat/{session}", json={"text": "Ada"}).json()
    assert answer["status"] == "succeeded"
    assert answer["run_id"] == turn["run_id"]
    assert answer["messages"][0] == {**answer["messages"][0], "role": "user", "content": "Ada"}
    assert "You answered: Ada" in answer["messages"][-1]["content"]


def test_chat__a_disabled_agent_takes_no_new_turn_on_any_surface(alice: httpx.Client) -> None:
    """Disabling an agent (the admin's tick box) refused it to new chats only: a chat made with it
    before went on running it through every surface."""
    from uai.agents.models import Agent
    from uai.runs.models import Run

    Agent.objects.create(name="soon-off", target="uai.agents.builtin.echo:echo")
    session = create_chat(alice, agent="soon-off")
    assert alice.post(f"/chat/{session}", json={"text": "before"}).json()["status"] == "succeeded"
    agent = Agent.objects.get(name="soon-off")
    agent.enabled = False
    agent.save()  # as the admin saves it
    runs = Run.objects.filter(chat_id=session).count()
    for path, body in [
        (f"/chat/{session}", {"text": "after"}),
        ("/chat/run", {"message": "after", "conversation_id": session}),
    ]:
        refused = alice.post(path, json=body)
        assert refused.status_code == 409 and "disabled" in refused.json()["detail"], (path, refused.text)
    assert Run.objects.filter(chat_id=session).count() == runs  # nothing started, nothing stored
    assert [m["content"] for m in alice.get(f"/chat/{session}/messages").json()] == ["before", "before"]


def test_chat__plain_sync_function_agent(alice: httpx.Client) -> None:
    from uai.agents.models import Agent

    Agent.objects.create(name="sync-function", target="tests.agents:sync_function")
    session = create_chat(alice, agent="sync-function")
    turn = alice.post(f"/chat/{session}", json={"text": "hi"}).json()
    assert turn["messages"][-1]["content"] == "sync says hi"


def test_chat__sync_generator_agent_streams_its_answer(alice: httpx.Client) -> None:
    from uai.agents.models import Agent

    Agent.objects.create(name="sync-steps", target="tests.agents:sync_steps")
    session = create_chat(alice, agent="sync-steps")
    turn = alice.post(f"/chat/{session}", json={"text": "x"}).json()
    assert turn["status"] == "succeeded", turn
    assert [m["step_type"] for m in turn["messages"]] == [None, "ActionStep", "FinalAnswerStep"]
    assert turn["messages"][-1]["content"] == "part one, part two"
