"""The native run API (seed 000 ``/run/…``), driven with httpx against the running server."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import cancel_run, run_status, wait_for, wait_run


def start(client: httpx.Client, agent: str, run_input: object = None) -> dict:
    body: dict = {"agent": agent}
    if run_input is not None:
        body["input"] = run_input
    response = client.post("/run/", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert {"task_id", "status", "estimated_completion_time"} <= set(data)
    return data


def test_run__slow_asks_waits_for_input_and_finishes(alice: httpx.Client) -> None:
    run = start(alice, "slow", {"steps": 3, "delay": 0.1, "ask": "Favourite colour?"})
    assert run["status"] == "queued"
    task = run["task_id"]
    waiting = wait_run(alice, task, "input_required")
    assert waiting["input_prompt"] == "Favourite colour?"
    assert waiting["progress"] > 0 and waiting["current_step"] == "step 1 of 3"

    answered = alice.post(f"/run/{task}/input", json={"text": "green"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "running"
    assert alice.post(f"/run/{task}/input", json={"text": "again"}).status_code == 409

    done = wait_run(alice, task, "succeeded")
    assert done["output"]["answer"] == "green"
    assert done["progress"] == 100.0
    assert done["error"] is None and done["finished_at"]
    logs = alice.get(f"/run/{task}/logs").json()
    assert [log["message"] for log in logs] == [
        "step 1 of 3",
        "got the answer: green",
        "step 2 of 3",
        "step 3 of 3",
    ]
    assert alice.post(f"/run/{task}/input", json={"text": "late"}).status_code == 409


def test_run__client_logs_are_appended_in_order(alice: httpx.Client) -> None:
    task = start(alice, "slow", {"steps": 2, "delay": 0.3})["task_id"]
    wait_for(lambda: alice.get(f"/run/{task}/logs").json())
    one = alice.post(f"/run/{task}/logs", json={"level": "warning", "message": "from the client"})
    assert one.status_code == 201, one.text
    many = alice.post(
        f"/run/{task}/logs",
        json=[{"message": "a"}, {"level": "error", "message": "b", "data": {"k": 1}}],
    )
    assert many.status_code == 201
    assert [(log["level"], log["source"]) for log in many.json()] == [("info", "client"), ("error", "client")]
    wait_run(alice, task, "succeeded")
    logs = alice.get(f"/run/{task}/logs").json()
    messages = [log["message"] for log in logs]
    assert messages.index("from the client") < messages.index("a") < messages.index("b")
    assert messages[0] == "step 1 of 2" and messages[-1] == "step 2 of 2"
    assert [log["seq"] for log in logs] == sorted(log["seq"] for log in logs)
    after = alice.get(f"/run/{task}/logs", params={"after": logs[1]["id"]}).json()
    assert [log["id"] for log in after] == [log["id"] for log in logs[2:]]


def test_run__cancel_stops_within_two_seconds_and_keeps_output(alice: httpx.Client) -> None:

    task = start(alice, "slow", {"steps": 100, "delay": 0.1})["task_id"]
    wait_for(lambda: len(alice.get(f"/run/{task}/logs").json()) >= 3)
    cancel_run(alice, task)
    count = len(alice.get(f"/run/{task}/logs").json())
    time.sleep(0.5)
    assert len(alice.get(f"/run/{task}/logs").json()) == count >= 3  # kept, and nothing more
    assert run_status(alice, task)["status"] == "cancelled"
    assert alice.delete(f"/run/{task}").status_code == 409


def test_run__cancel_before_it_starts(alice: httpx.Client) -> None:
    from uai.agents.models import Agent

    Agent.objects.create(name="parked", target="uai.agents.builtin.echo:echo", queue="nobody-listens")
    task = start(alice, "parked", "hi")["task_id"]
    assert alice.delete(f"/run/{task}").json()["status"] == "cancelled"


def test_run__failure_is_reported(alice: httpx.Client) -> None:
    task = start(alice, "fail")["task_id"]
    failed = wait_run(alice, task, "failed")
    assert "failed on purpose" in failed["error"]
    assert failed["output"] is None


def test_run__retries_as_the_agent_says(alice: httpx.Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from uai.agents.models import Agent

    marker = tmp_path / "marker"
    Agent.objects.create(
        name="flaky", target="tests.agents:flaky", options={"marker": str(marker)}, max_attempts=2
    )
    task = start(alice, "flaky")["task_id"]
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert done["output"] == "second attempt worked"
    messages = [log["message"] for log in alice.get(f"/run/{task}/logs").json()]
    assert any("Attempt 1 of 2 failed" in m for m in messages)

    marker.unlink()
    Agent.objects.filter(name="flaky").update(max_attempts=1)
    Agent.objects.get(name="flaky").save()  # bump updated_at
    once = start(alice, "flaky")["task_id"]
    assert wait_run(alice, once, "succeeded", "failed")["status"] == "failed"


def test_run__new_attempt_starts_from_zero_progress(alice: httpx.Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A retried run does not show the failed attempt's 80 % (then 5 %): its progress and step
    are reset, and it says which attempt it is on."""
    from uai.agents.models import Agent

    Agent.objects.create(
        name="progress-flaky",
        target="tests.agents:progress_then_flaky",
        options={"marker": str(tmp_path / "marker"), "pause": 2.0},
        max_attempts=2,
    )
    task = start(alice, "progress-flaky")["task_id"]
    second = wait_for(lambda: (run := alice.get(f"/run/{task}").json())["attempts"] == 2 and run, timeout=15)
    assert second["status"] in ("queued", "running"), second
    assert second["progress"] == 0, second
    assert "attempt 2" in second["current_step"], second
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["status"] == "succeeded" and done["progress"] == 100, done
    statuses = [e for e in alice.get(f"/run/{task}/logs").json() if "Attempt 1 of 2 failed" in e["message"]]
    assert statuses, "the retry is logged"


def test_run__artifacts_and_files(alice: httpx.Client) -> None:
    response = alice.post(
        "/run/",
        data={"agent": "echo", "input": "with a file"},
        files=[("files", ("r.json", b'{"a": 1}', "application/json"))],
    )
    assert response.status_code == 201, response.text
    task = response.json()["task_id"]
    done = wait_run(alice, task, "succeeded")
    assert done["output"] == "with a file"
    artifacts = alice.get(f"/run/{task}/artifacts").json()
    assert sorted(a["origin"] for a in artifacts) == ["agent", "user"]
    produced = next(a for a in artifacts if a["origin"] == "agent")
    meta = alice.get(f"/run/{task}/artifacts/{produced['id']}").json()
    assert alice.get(meta["download_url"]).content == b'{"a": 1}'
    assert alice.get(f"/run/{task}/artifacts/{produced['id']}/download").status_code == 200


def test_run__list_filters(alice: httpx.Client) -> None:
    ok = start(alice, "echo", "x")["task_id"]
    bad = start(alice, "fail")["task_id"]
    wait_run(alice, ok, "succeeded")
    wait_run(alice, bad, "failed")
    failed = alice.get("/run/", params={"status": "failed"}).json()
    assert [r["task_id"] for r in failed] == [bad]
    assert {r["task_id"] for r in alice.get("/run/", params={"agent": "echo"}).json()} == {ok}
    assert alice.get("/run/", params={"status": "nonsense"}).status_code == 400


def test_run_limits__log_lines_and_answers_are_settings(alice: httpx.Client) -> None:
    """A client's log line had a limit of its own written in the code; an answer to a waiting run
    had none (a message sent to a chat has ``UAI_MAX_MESSAGE_CHARS``)."""
    from django.conf import settings

    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 3, "delay": 0.2, "ask": "name?"}})
    task_id = task.json()["task_id"]
    too_long = alice.post(f"/run/{task_id}/logs", json={"message": "x" * (settings.UAI_MAX_LOG_CHARS + 1)})
    assert too_long.status_code == 400 and "at most" in too_long.json()["detail"]
    assert alice.post(f"/run/{task_id}/logs", json={"message": "fine"}).status_code == 201
    wait_run(alice, task_id, "input_required")
    answer = alice.post(f"/run/{task_id}/input", json={"text": "x" * (settings.UAI_MAX_MESSAGE_CHARS + 1)})
    assert answer.status_code == 400 and "at most" in answer.json()["detail"]
    assert alice.post(f"/run/{task_id}/input", json={"text": "Ada"}).status_code == 200
    assert wait_run(alice, task_id, "succeeded")["status"] == "succeeded"


def test_run_input__files_sent_with_an_answer_reach_the_agent(alice: httpx.Client) -> None:
    """Seed 000: input "can include images, text, files". They were stored and never reached the
    agent: ask() gave it the text alone. Its answer is a str with the files as ``files``."""
    from tests.conftest import register_agent

    register_agent("asks-file", "python", "tests.agents:asks_for_a_file", accepts_files=True)
    task = alice.post("/run/", json={"agent": "asks-file", "input": "go"}).json()["task_id"]
    wait_run(alice, task, "input_required")
    sent = alice.post(f"/run/{task}/input", data={"text": "here"}, files={"files": ("a.txt", b"alpha")})
    assert sent.status_code == 200, sent.text
    assert wait_run(alice, task, "succeeded")["output"] == "here with a.txt=alpha"
    # In a chat: the next message answers the question, its files with it.
    session = alice.post("/chat/", json={"agent": "asks-file"}).json()["session_id"]
    assert alice.post(f"/chat/{session}", json={"text": "go"}).json()["status"] == "input_required"
    reply = alice.post(f"/chat/{session}", data={"text": "this"}, files={"files": ("b.txt", b"beta")}).json()
    assert reply["messages"][-1]["content"] == "this with b.txt=beta"
    # An agent that takes no files refuses them in an answer too, as in a turn or a run.
    slow = alice.post("/run/", json={"agent": "slow", "input": {"steps": 1, "delay": 0.1, "ask": "?"}})
    slow_id = slow.json()["task_id"]
    wait_run(alice, slow_id, "input_required")
    refused = alice.post(f"/run/{slow_id}/input", data={"text": "x"}, files={"files": ("c.txt", b"x")})
    assert refused.status_code == 400 and "does not take files" in refused.json()["detail"]
    assert alice.post(f"/run/{slow_id}/input", json={"text": "fine"}).status_code == 200
    wait_run(alice, slow_id, "succeeded")  # not still writing while the test's data is flushed


def test_run_input__a_turns_answer_is_the_chats_next_message(alice: httpx.Client) -> None:
    """A turn is a run, answerable at /run/{id}/input: the answer was given to the agent but never
    became a message, so the chat (its history, every other surface) missed it."""
    session = alice.post("/chat/", json={"agent": "slow"}).json()["session_id"]
    asked = alice.post(
        f"/chat/{session}", json={"text": json.dumps({"steps": 1, "delay": 0.05, "ask": "Name?"})}
    )
    assert asked.json()["status"] == "input_required"
    turn = asked.json()["run_id"]
    answered = alice.post(f"/run/{turn}/input", json={"text": "Ada"})
    assert answered.status_code == 200 and answered.json()["status"] == "running"
    assert wait_run(alice, turn, "succeeded")["output"]["answer"] == "Ada"
    history = alice.get(f"/chat/{session}/messages").json()
    assert [(m["role"], m["content"]) for m in history if m["role"] == "user"][-1] == ("user", "Ada")
    assert alice.post(f"/run/{turn}/input", json={"text": "again"}).status_code == 409
    # Not waiting: a 409, never a new turn of the chat.
    assert len(alice.get(f"/chat/{session}/messages").json()) == len(history)


@pytest.mark.django_db(transaction=True)
def test_uploads__a_write_that_fails_leaves_no_earlier_file_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written before a failure (the second upload, a later event of an agent's batch)
    stayed on disk after their rows were rolled back: nothing would ever remove them."""
    from django.contrib.auth import get_user_model
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile

    from uai.agents import events
    from uai.agents.models import Agent
    from uai.artifacts import services as artifact_services
    from uai.runs import services

    user = get_user_model().objects.create(username="disk-full")
    # On a queue no worker serves: only the writes here touch the run.
    agent = Agent.objects.create(
        name="filer", target="uai.agents.builtin.echo:echo", queue="parked-uploads", accepts_files=True
    )
    real, written = artifact_services.artifact_create, []

    def second_fails(**kwargs: object) -> object:
        if written:
            raise OSError("No space left on device")
        artifact = real(**kwargs)
        written.append(artifact.file.name)
        return artifact

    monkeypatch.setattr(artifact_services, "artifact_create", second_fails)
    uploads = [SimpleUploadedFile("a.txt", b"first"), SimpleUploadedFile("b.txt", b"second")]
    with pytest.raises(OSError, match="No space left"):
        services.run_start(owner_id=user.pk, agent=agent, input="x", files=uploads)
    assert len(written) == 1 and not default_storage.exists(written[0])

    monkeypatch.setattr(artifact_services, "artifact_create", real)
    run = services.run_create(owner_id=user.pk, agent=agent, input="x")
    batch = [
        events.Artifact(name="made.txt", content=b"agent bytes", media_type="text/plain"),
        events.Log("then a log JSON cannot hold", data={"when": object()}),
    ]
    before = _all_files(default_storage)
    with pytest.raises(TypeError):
        services.run_apply(run_id=str(run.id), chat_id=None, owner_id=user.pk, batch=batch)
    assert not services.Artifact.objects.filter(run=run).exists()
    assert _all_files(default_storage) - before == set()


def _all_files(storage: object) -> set[str]:
    import os

    root = storage.location  # type: ignore[attr-defined]
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}
