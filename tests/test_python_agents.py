"""The plain-Python agent API (context reporting, ask, cancellation), agent code and its limits."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import cancel_run, register, wait_for, wait_run


def test_context__reports_in_order_and_text_becomes_the_answer(alice: httpx.Client) -> None:
    register("reporter", "tests.agents:reporter")
    task = alice.post("/run/", json={"agent": "reporter", "input": "go"}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["output"] == "all reported"
    assert done["current_step"] == "halfway"
    logs = alice.get(f"/run/{task}/logs").json()
    assert [(x["level"], x["message"], x["data"]) for x in logs] == [("warning", "working", {"stage": 1})]
    artifacts = alice.get(f"/run/{task}/artifacts").json()
    assert alice.get(artifacts[0]["download_url"]).content == b"context notes"
    kinds = [e["type"] for e in _events(task)]
    assert kinds.index("step") < kinds.index("log") < kinds.index("progress") < kinds.index("artifact")


def _events(task: str) -> list[dict]:
    from uai.runs.models import Event

    return list(Event.objects.filter(run_id=task).order_by("seq").values("type", "data"))


def test_context__ask_waits_for_what_was_reported_before(alice: httpx.Client) -> None:
    register("polite", "tests.agents:polite")
    task = alice.post("/run/", json={"agent": "polite"}).json()["task_id"]
    waiting = wait_run(alice, task, "input_required")
    assert waiting["progress"] == 10.0  # reported before ask(): already handled
    assert [x["message"] for x in alice.get(f"/run/{task}/logs").json()] == ["about to ask"]
    alice.post(f"/run/{task}/input", json={"text": "Grace"})
    assert wait_run(alice, task, "succeeded")["output"] == "Hello, Grace"


def test_context__blocking_agent_stops_when_cancelled(alice: httpx.Client) -> None:
    register("stubborn", "tests.agents:stubborn")
    task = alice.post("/run/", json={"agent": "stubborn"}).json()["task_id"]
    wait_for(lambda: alice.get(f"/run/{task}").json()["progress"] > 0)
    cancel_run(alice, task)
    progress = alice.get(f"/run/{task}").json()["progress"]
    time.sleep(0.5)
    assert alice.get(f"/run/{task}").json()["progress"] == progress  # the thread stopped too


@pytest.mark.parametrize(
    ("target", "error"),
    [
        # The channel never got its end: the run stayed running, and its chat's turns queued.
        ("tests.agents:cancels_itself", "RuntimeError: the agent raised asyncio.CancelledError"),
        # The failed write was raised again while failing the run: the job failed, the run stayed
        # running until the orphan sweep called its job lost.
        ("tests.agents:unwritable_last_step", "TypeError: Object of type datetime is not JSON"),
        # SystemExit is no Exception: the job failed, the run stayed running.
        ("tests.agents:exits", "SystemExit: 3"),
        # Blocked the loop the answer had to arrive on: the whole worker froze.
        ("tests.agents:asks_sync_on_the_loop", "RuntimeError: ask_sync() was called on the event loop"),
    ],
)
def test_agent_code__that_breaks_oddly_fails_its_run(alice: httpx.Client, target: str, error: str) -> None:
    name = target.rsplit(":", 1)[1].replace("_", "-")
    register(name, target)
    task = alice.post("/run/", json={"agent": name}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed", timeout=10)
    assert done["status"] == "failed" and done["error"].startswith(error), done


@pytest.mark.parametrize(
    ("target", "answer"),
    [
        # Was called, and the async generator it returned became the answer's text.
        ("tests.agents:counter", "counted"),
        # Was called in a thread, and the generator it returned became the answer's text.
        ("tests.agents:decorated_steps", "decorated answer"),
    ],
)
def test_agent_code__a_callable_object_or_a_decorated_generator_streams(
    alice: httpx.Client, target: str, answer: str
) -> None:
    name = target.rsplit(":", 1)[1].replace("_", "-")
    register(name, target)
    task = alice.post("/run/", json={"agent": name}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed", timeout=10)
    assert done["status"] == "succeeded" and done["output"] == answer, done
    assert [e["type"] for e in _events(task)].count("step") == 2  # its own step and the answer


@pytest.mark.parametrize(
    ("target", "text", "output", "steps"),
    [
        # The answer step yielded as a Step was kept as a step, and the run ended with a second,
        # empty answer ("" was the output, and seed 003's reply).
        ("tests.agents:answers_with_a_step", "it", "the answer to it", ["ActionStep", "FinalAnswerStep"]),
        # A result JSON cannot hold as it is failed a run whose work was done (and retried it).
        (
            "tests.agents:returns_a_datetime",
            "now",
            {"at": "2026-01-02 03:04:05", "text": "now"},
            ["FinalAnswerStep"],
        ),
        # Keyword-only parameters and **kwargs were counted as taking the context: "takes 1
        # positional argument but 2 were given".
        ("tests.agents:keyword_options", "hi", "hi (verbose=False, options=[])", ["FinalAnswerStep"]),
    ],
)
def test_agent_code__answers_the_way_python_code_gives_them(
    alice: httpx.Client, target: str, text: str, output: object, steps: list[str]
) -> None:
    name = target.rsplit(":", 1)[1].replace("_", "-")
    register(name, target)
    task = alice.post("/run/", json={"agent": name, "input": text}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed", timeout=10)
    assert done["status"] == "succeeded" and done["output"] == output, done
    assert [e["data"]["step_type"] for e in _events(task) if e["type"] == "step"] == steps
    reply = alice.post("/chat/run", json={"message": text, "agent": name})
    assert reply.status_code == 200, reply.text
    if isinstance(output, str):
        assert reply.json()["response"] == output
    sessionless = alice.post("/agent/run", json={"task": text, "agent": name})  # run as a job, not stored
    assert sessionless.status_code == 200, sessionless.text
    assert [s["step_type"] for s in sessionless.json()] == steps


async def test_python_adapter__an_async_generator_is_closed_in_its_own_task() -> None:
    """A run cancelled mid-stream: the generator's ``finally`` ran in another task (the loop's
    async-generator finalizer), where anyio's cancel scopes (MCP sessions, task groups) refuse
    to exit."""
    import asyncio

    from uai.agents.adapters.python import PythonAdapter
    from uai.agents.protocol import AgentContext, AgentRequest

    tasks: list[object] = []

    async def agent(request: AgentRequest):  # type: ignore[no-untyped-def]
        tasks.append(asyncio.current_task())
        try:
            yield "one"
            await asyncio.sleep(10)
            yield "two"
        finally:
            tasks.append(asyncio.current_task())

    context = AgentContext(run_id=None, chat_id=None, ask=None, loop=asyncio.get_running_loop())
    stream = PythonAdapter(agent).stream(AgentRequest(input="", text=""), context)
    assert (await anext(stream)).text == "one"
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert len(tasks) == 2 and tasks[0] is tasks[1]


def test_time_limit__a_run_working_too_long_fails_and_waiting_for_input_does_not_count(
    alice: httpx.Client,
) -> None:
    """A hung agent held its run, a worker slot and its chat's later turns for ever."""
    register("hasty", "uai.agents.builtin.slow:slow", timeout_seconds=1)
    task = alice.post("/run/", json={"agent": "hasty", "input": {"steps": 30, "delay": 1}}).json()["task_id"]
    done = wait_run(alice, task, "succeeded", "failed", timeout=10)
    assert done["status"] == "failed"
    assert done["error"] == "RunTimedOut: the run worked longer than its limit of 1 s"

    # 0.6 s of work around a 2 s wait for the user: within the limit.
    ask = {"steps": 2, "delay": 0.3, "ask": "sure?"}
    task = alice.post("/run/", json={"agent": "hasty", "input": ask}).json()["task_id"]
    wait_run(alice, task, "input_required")
    time.sleep(2)
    assert alice.post(f"/run/{task}/input", json={"text": "yes"}).status_code == 200
    done = wait_run(alice, task, "succeeded", "failed", timeout=10)
    assert done["status"] == "succeeded", done


def test_text_deltas__held_for_coalescing_are_written_within_the_interval(alice: httpx.Client) -> None:
    """A delta that came within UAI_DELTA_FLUSH_SECONDS of the last write waited for the agent's
    next event: here three seconds of work with " on it…" unseen."""
    from uai.runs.models import Event

    register("wordy", "tests.agents:says_a_word_then_works")
    task = alice.post("/run/", json={"agent": "wordy"}).json()["task_id"]

    def streamed() -> str:
        deltas = Event.objects.filter(run_id=task, type="delta").order_by("seq")
        return "".join(d["text"] for d in deltas.values_list("data", flat=True))

    wait_for(lambda: streamed() == "Working on it…", timeout=2)
    assert alice.get(f"/run/{task}").json()["status"] == "running"  # still working: not its end
    assert wait_run(alice, task, "succeeded", "failed", timeout=10)["output"] == "done"


@pytest.mark.django_db(transaction=True)
async def test_executor__a_question_nobody_answers_fails_the_run_without_a_retry(settings: Any) -> None:
    """Unanswered for UAI_INPUT_TIMEOUT_SECONDS, a run of an agent with retries started over: its
    work done again, the question asked again, for another wait (3 × 24 h by default)."""
    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.runs.dbcall import db
    from uai.runs.executor import Executor
    from uai.runs.models import Run
    from uai.runs.services import run_create

    settings.UAI_INPUT_TIMEOUT_SECONDS = 0.3
    user = await db(get_user_model().objects.create, username="unanswered")
    # On a queue no worker serves: this test is the run's only executor.
    agent = await db(
        Agent.objects.create, name="asks-twice", target="tests.agents:polite", max_attempts=2, queue="parked"
    )
    run = await db(run_create, owner_id=user.pk, agent=agent, input="hi")
    await Executor(run_id=str(run.id), attempt=1, max_attempts=2).execute()  # no RetryRun raised
    run = await db(Run.objects.get, pk=run.id)
    assert run.status == Run.Status.FAILED and "no input arrived within 0.3 seconds" in run.error
    assert run.attempts == 1


@pytest.mark.django_db
def test_admin_form__an_agent_module_that_fails_on_import_is_a_form_error() -> None:
    """The admin's agent form caught ImportError only: a target whose module raised anything else
    on import (a NameError, a SyntaxError) was a 500."""
    from uai.agents.admin import AgentForm

    form = AgentForm(
        data={
            "name": "broken",
            "adapter": "python",
            "target": "tests.broken_agent_module:agent",
            "queue": "runs",
        }
    )
    assert not form.is_valid()
    assert "importing 'tests.broken_agent_module' failed: NameError" in form.errors["target"][0]
