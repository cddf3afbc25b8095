"""The execution pipeline: transactional deferral, the sink's numbering, a turn's statements and reply."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import transaction


@pytest.mark.django_db(transaction=True)
def test_run_create__job_rolls_back_with_the_run() -> None:
    from django.contrib.auth import get_user_model
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.agents.models import Agent
    from uai.agents.selectors import agent_get
    from uai.runs.models import Event, Run
    from uai.runs.services import run_create

    user = get_user_model().objects.create(username="rollback")
    # On a queue no worker serves, so the jobs stay where the test can count them (a queue of its
    # own: other tests' transactional flushes leave procrastinate's unmanaged job table as it is).
    parked = Agent.objects.create(
        name="parked", target="uai.agents.builtin.echo:echo", queue="parked-rollback"
    )
    parked_jobs = ProcrastinateJob.objects.filter(queue_name="parked-rollback")
    with pytest.raises(RuntimeError), transaction.atomic():
        run_create(owner_id=user.pk, agent=parked, input="x")
        assert parked_jobs.count() == 1
        raise RuntimeError("roll back")
    assert parked_jobs.count() == 0
    assert not Run.objects.exists()
    assert not Event.objects.exists()

    run = run_create(owner_id=user.pk, agent=parked, input="x")
    job = parked_jobs.get()
    assert job.id == run.job_id
    assert job.task_name == "uai.run_agent"
    assert job.args["run_id"] == str(run.id)
    assert agent_get(name="echo").queue == ""


def test_sink__every_event_numbered_once_in_order(alice: httpx.Client) -> None:
    from uai.runs.models import Event

    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    for text in ["1+1", "2*3", "nothing"]:
        assert alice.post(f"/chat/{session}", json={"text": text}).status_code == 200
    seqs = list(Event.objects.filter(chat_id=session).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(Event.objects.filter(chat_id=session).order_by("seq").values_list("type", flat=True))
    assert types.count("message") == 3 and types.count("stats") == 3
    message_seqs = [m["seq"] for m in alice.get(f"/chat/{session}/messages").json()]
    assert set(message_seqs) <= set(seqs)


def test_health__reports_database_and_worker(live: str) -> None:
    body = httpx.get(f"{live}/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["workers"] >= 1


def test_concurrent_turns__many_chats_at_once(user_client) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    # More waiting turns than the server's pool has connections: waiting must not hold one.
    client = user_client()
    sessions = [client.post("/chat/", json={}).json()["session_id"] for _ in range(32)]

    def turn(session: str) -> tuple[str, str]:
        body = client.post(f"/chat/{session}", json={"text": f"hello {session}"}).json()
        return body["status"], body["messages"][-1]["content"]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(turn, sessions))
    assert results == [("succeeded", f"hello {s}") for s in sessions]
    assert time.monotonic() - started < 20


def test_turns__reuse_their_cache_client(alice: httpx.Client) -> None:
    """The executor's database calls run in fresh contexts; the conversation cache must not open a
    new cache client (with Redis: new connections) for every turn."""
    from django.conf import settings

    from uai.chats import cache as conversation_cache
    from uai.runs.dbcall import db

    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    alice.post(f"/chat/{session}", json={"text": "warm up"})
    if settings.REDIS_URL:
        import redis

        def opened() -> int:
            return int(redis.Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"])

        before = opened()
        for n in range(10):
            assert alice.post(f"/chat/{session}", json={"text": f"turn {n}"}).json()["status"] == "succeeded"
        # one connection per opened() call, and nothing per turn (it was two per turn)
        assert opened() - before <= 3
    stores = [async_to_sync(db)(conversation_cache._store) for _ in range(2)]
    assert stores[0] is stores[1] is conversation_cache._store()


def test_turn_reply__from_its_events_equals_the_tables(alice: httpx.Client) -> None:
    """A waited REST turn answers from the events it received; the tables say the same."""
    from uai.runs.models import Run

    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    reply = alice.post(f"/chat/{session}", json={"text": "2*8", "message_id": "m-1"}).json()
    assert reply["status"] == "succeeded" and reply["error"] is None and reply["artifacts"] == []
    stored = [m for m in alice.get(f"/chat/{session}/messages").json() if m["run_id"] == reply["run_id"]]
    assert reply["messages"] == stored
    assert [m["role"] for m in stored] == ["user", "agent", "agent", "agent"]
    assert stored[0]["message_id"] == "m-1" and stored[-1]["content"] == "16"
    run = Run.objects.get(pk=reply["run_id"])
    assert (run.status, run.output, run.progress) == ("succeeded", "16", 100.0)
    assert run.chat.status == "idle"


def test_turn_watch__a_missing_event_means_reading_the_tables() -> None:
    from uai.runs.waiting import TurnWatch

    def event(seq: int, type: str, run: str, **data: Any) -> dict[str, Any]:
        return {"seq": seq, "type": type, "run_id": run, "data": data}

    message = {"id": "m", "content": "hi", "files": []}
    watch = TurnWatch("c")
    watch.status, watch.until = "succeeded", {"succeeded", "failed"}
    watch.events = [
        event(4, "status", "r", status="queued"),
        event(5, "message", "r", message=message),
        event(6, "log", "other"),  # another run of the chat, in between
        event(7, "step", "r", step_type="FinalAnswerStep", content="hi", message=message),
        event(8, "status", "r", status="succeeded", error=None),
    ]
    body = watch.reply("r", after_seq=4)
    assert body == {
        "messages": [message, message],
        "artifacts": [],
        "run_id": "r",
        "status": "succeeded",
        "error": None,
    }
    # The wait timed out while the turn ran: its own "running" status was no end (it was a 200
    # with the turn half told, where the tables' reply is a 202 with all it has so far).
    running = TurnWatch("c")
    running.status, running.until = "running", {"succeeded", "failed"}
    running.events = [*watch.events[:2], event(6, "status", "r", status="running")]
    assert running.reply("r", after_seq=4) is None
    del watch.events[2]  # seq 6 never arrived: the reply cannot be trusted
    assert watch.reply("r", after_seq=4) is None
    watch.events.insert(2, event(6, "artifact", "r"))  # artifacts have URLs: read them
    assert watch.reply("r", after_seq=4) is None


def _parked_turn(username: str, text: str) -> tuple[Any, Any, Any]:
    """A user, a chat and a sent turn on a queue no worker serves: the test drives its phases."""
    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.chats.services import chat_create, chat_send

    user = get_user_model().objects.create(username=username)
    Agent.objects.create(name="parked", target="uai.agents.builtin.echo:echo", queue="parked")
    chat = chat_create(owner_id=user.pk, agent_name="parked")
    run, _ = chat_send(chat=chat, text=text)
    return user, chat, run


@pytest.mark.django_db(transaction=True)
def test_run_phases__a_few_statements_whatever_the_events() -> None:
    """Starting and ending a turn take a fixed handful of statements (they were ~2 per event)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from uai.agents import events as ev
    from uai.runs import services
    from uai.runs.models import Event

    _, chat, run = _parked_turn("counted", "hello")
    with CaptureQueriesContext(connection) as begin:
        spec = services.run_begin(run_id=str(run.id), attempt=1)
    assert spec is not None and [h.content for h in spec.request.history] == []
    with CaptureQueriesContext(connection) as finish:
        assert services.run_finish(
            run_id=str(run.id),
            status="succeeded",
            final=ev.FinalAnswer(content="hello"),
            stats={"steps": 0},
            made_artifacts=False,
        )
    # begin: start (with chat, agent, files), number+status, events, history catch-up (+ tx)
    assert len(begin.captured_queries) <= 7, [q["sql"] for q in begin.captured_queries]
    # finish: end, number+settle, message, stat, events (+ tx)
    assert len(finish.captured_queries) <= 7, [q["sql"] for q in finish.captured_queries]
    assert list(Event.objects.filter(chat=chat).values_list("seq", "type")) == [
        (1, "status"),
        (2, "message"),
        (3, "status"),
        (4, "step"),
        (5, "stats"),
        (6, "status"),
    ]
    chat.refresh_from_db()
    assert (chat.status, chat.last_seq) == ("idle", 6)
    # The finished run is over: a second finish changes nothing.
    assert not services.run_finish(run_id=str(run.id), status="failed")


@pytest.mark.django_db(transaction=True)
def test_run_apply__a_batch_of_steps_is_a_few_statements() -> None:
    """Events written together take a fixed handful of statements (a step was four)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from uai.agents import events as ev
    from uai.chats.models import Message
    from uai.runs import services
    from uai.runs.models import Event, Log, Run

    user, chat, run = _parked_turn("batched", "go")
    assert services.run_begin(run_id=str(run.id), attempt=1) is not None
    batch = [ev.Step(ev.ACTION_STEP, f"step {i}", data={"i": i}) for i in range(50)]
    batch += [ev.Log("halfway"), ev.Progress(50.0, current_step="working")]
    with CaptureQueriesContext(connection) as apply:
        services.run_apply(run_id=str(run.id), chat_id=chat.id, owner_id=user.pk, batch=batch)
    # lock, numbers, messages, log, events, run fields (+ tx)
    assert len(apply.captured_queries) <= 8, [q["sql"] for q in apply.captured_queries]
    events = list(Event.objects.filter(chat=chat, seq__gt=3).order_by("seq"))
    assert [e.seq for e in events] == list(range(4, 56))
    assert [e.type for e in events] == ["step"] * 50 + ["log", "progress"]
    steps = list(Message.objects.filter(run=run, step_type=ev.ACTION_STEP).order_by("seq"))
    assert [(m.seq, m.content, m.metadata) for m in steps] == [
        (4 + i, f"step {i}", {"i": i}) for i in range(50)
    ]
    # Each step event carries its message as stored.
    assert events[7].data["message"]["id"] == str(steps[7].id)
    assert events[7].data["message"]["created_at"] == steps[7].created_at.isoformat()
    assert Log.objects.get(run=run).seq == 54
    run.refresh_from_db()
    assert (run.progress, run.current_step) == (50.0, "working")
    assert Run.objects.get(pk=run.pk).status == "running"


def test_back_to_back_steps__written_together_in_order(alice: httpx.Client) -> None:
    """An agent emitting steps faster than they are written is not held up by each one: the
    steps that come while one write is in flight go in the next transaction, in order."""
    from django.db import connection

    from tests.conftest import register
    from uai.runs.models import Event

    register("burst", "tests.agents:burst")
    session = alice.post("/chat/", json={"agent": "burst"}).json()["session_id"]
    turn = alice.post(f"/chat/{session}", json={"text": "450"}, timeout=60)
    assert turn.status_code == 200, turn.text
    body = turn.json()
    assert body["status"] == "succeeded"
    contents = [m["content"] for m in body["messages"]]
    assert contents == ["450", *(f"step {i}" for i in range(450)), "450 steps"]
    seqs = list(Event.objects.filter(chat_id=session).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(Event.objects.filter(chat_id=session).order_by("seq").values_list("type", flat=True))
    assert types.count("step") == 451 and types.index("progress") == len(types) - 4  # step, stats, status
    with connection.cursor() as cursor:
        # xmin: the transaction that wrote each row. 450 steps were 450 transactions.
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM chats_message WHERE chat_id = %s AND step_type = %s",
            [session, "ActionStep"],
        )
        transactions = cursor.fetchone()[0]
    assert 1 <= transactions <= 10, transactions
    run = alice.get(f"/run/{body['run_id']}").json()
    assert (run["progress"], run["current_step"]) == (100.0, "all steps")


@pytest.mark.django_db(transaction=True)
def test_run_cancel__settles_its_chat_with_the_same_statement_as_finish() -> None:
    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.chats.models import Chat
    from uai.chats.services import chat_create, chat_send
    from uai.runs import services
    from uai.runs.models import Event

    user = get_user_model().objects.create(username="cancelled")
    Agent.objects.create(name="parked", target="uai.agents.builtin.echo:echo", queue="parked")
    chat = chat_create(owner_id=user.pk, agent_name="parked")
    first, _ = chat_send(chat=chat, text="one")
    second, _ = chat_send(chat=Chat.objects.get(pk=chat.pk), text="two")
    assert services.run_begin(run_id=str(first.id), attempt=1) is not None
    assert Chat.objects.get(pk=chat.pk).status == "running"
    services.run_cancel(run=first)
    # Another run of the chat is still active: the chat stays running.
    assert Chat.objects.get(pk=chat.pk).status == "running"
    services.run_cancel(run=second)
    chat.refresh_from_db()
    assert chat.status == "idle"
    seqs = list(Event.objects.filter(chat=chat).values_list("seq", flat=True))
    assert seqs == list(range(1, chat.last_seq + 1))


@pytest.mark.django_db(transaction=True)
def test_publish__a_channel_layer_that_fails_loses_no_committed_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sending an event after commit failed (Redis away a moment): the committed request raised
    (a 500, inviting a retry that duplicates it), and the executor's write failed a healthy run.
    The event is stored; streams find what the layer lost."""
    from channels.layers import get_channel_layer
    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.runs import services
    from uai.runs.dbcall import db
    from uai.runs.models import Event, Run

    layer = get_channel_layer()

    async def unreachable(group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("the channel layer is away")

    monkeypatch.setattr(layer, "group_send", unreachable)
    user = get_user_model().objects.create(username="unpublished")
    run = services.run_create(
        # On a queue no worker serves: a session's live worker ran it to its end first (CI).
        owner_id=user.pk,
        agent=Agent.objects.create(name="parked-echo", target="uai.agents.builtin.echo:echo", queue="parked"),
        input="x",
    )  # after commit, in sync code
    assert Event.objects.filter(run_id=run.id, type="status").count() == 1

    async def from_a_worker() -> None:  # published by db() once the thread has committed
        await db(services.run_finish, run_id=str(run.id), status=Run.Status.CANCELLED)

    async_to_sync(from_a_worker)()
    assert Run.objects.get(pk=run.pk).status == "cancelled"
