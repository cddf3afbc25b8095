"""The EventSink records each event's row with the event's number and publishes in number order."""

from __future__ import annotations

from typing import Any

import pytest


def _parked_turn(username: str) -> tuple[Any, Any, Any]:
    """A user, a chat and a started turn on a queue no worker serves: the test writes its events."""
    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.chats.services import chat_create, chat_send
    from uai.runs import services

    user = get_user_model().objects.create(username=username)
    Agent.objects.create(name="parked-sink", target="uai.agents.builtin.echo:echo", queue="parked-sink")
    chat = chat_create(owner_id=user.pk, agent_name="parked-sink")
    run, _ = chat_send(chat=chat, text="go")
    assert services.run_begin(run_id=str(run.id), attempt=1) is not None
    return user, chat, run


@pytest.mark.django_db(transaction=True)
def test_sink__a_mixed_batch_is_published_in_number_order_with_its_rows() -> None:
    """Steps are inserted before the rest of their batch (one statement), yet every event is
    published in the order of its number, and each row carries its event's number."""
    from uai.agents import events as ev
    from uai.artifacts.models import Artifact
    from uai.chats.models import Message
    from uai.runs import services, sink
    from uai.runs.models import Event, Log, Stat

    user, chat, run = _parked_turn("sink-order")
    batch: list[ev.AgentEvent] = [
        ev.Log("first"),
        ev.Step(ev.PLANNING_STEP, "plan"),
        ev.TextDelta("so"),
        ev.Artifact(name="note.json", data={"n": 1}, media_type="application/json"),
        ev.Step(ev.ACTION_STEP, "act", data={"tool": "x"}),
        ev.Stats({"tokens": 3}),
    ]
    with sink.collect() as published:
        services.run_apply(run_id=str(run.id), chat_id=chat.id, owner_id=user.pk, batch=batch)

    payloads = [payload for _, payload in published]
    first = payloads[0]["seq"]
    assert [(p["seq"], p["type"]) for p in payloads] == [
        (first, "log"),
        (first + 1, "step"),
        (first + 2, "delta"),
        (first + 3, "artifact"),
        (first + 4, "step"),
        (first + 5, "stats"),
    ]
    stored = {e.seq: (e.type, e.data) for e in Event.objects.filter(chat=chat, seq__gte=first)}
    assert stored == {p["seq"]: (p["type"], p["data"]) for p in payloads}
    assert Log.objects.get(run=run, message="first").seq == first
    steps = Message.objects.filter(run=run, role=Message.Role.AGENT).order_by("seq")
    assert [(m.seq, m.step_type, m.metadata) for m in steps] == [
        (first + 1, ev.PLANNING_STEP, {}),
        (first + 4, ev.ACTION_STEP, {"tool": "x"}),
    ]
    assert payloads[4]["data"]["message"]["id"] == str(steps[1].id)
    assert Artifact.objects.get(run=run, name="note.json").seq == first + 3
    assert Stat.objects.get(run=run).seq == first + 5


@pytest.mark.django_db(transaction=True)
def test_sink__a_sessionless_result_goes_to_its_callers_channel() -> None:
    """``execute_ephemeral`` publishes through the sink's ``reply``: the caller's channel gets
    the result, nothing is stored."""
    from asgiref.sync import async_to_sync

    from uai.runs import executor
    from uai.runs.models import Event
    from uai.runs.subscriptions import Subscription

    async def call() -> dict[str, Any] | None:
        async with Subscription() as subscription:
            assert subscription.channel is not None
            await executor.execute_ephemeral(
                {"agent": "echo", "text": "hi", "reply_channel": subscription.channel}
            )
            return await subscription.get(timeout=5)

    message = async_to_sync(call)()
    assert message is not None and message["type"] == "uai.ephemeral.result"
    assert message["result"]["error"] is None
    assert message["result"]["steps"][-1]["step_type"] == "FinalAnswerStep"
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sink__a_batch_is_timed_at_its_first_write_and_its_rows_share_that_time() -> None:
    """The batch's time is taken when it first writes — after reserve() has locked the stream —
    not when the block opens: a writer that waited for the lock must not date its rows before
    rows already committed (seed 002 polls by time). Its rows and events share that time."""
    from django.utils import timezone

    from uai.artifacts.models import Artifact
    from uai.runs import sink as sink_module
    from uai.runs.models import Event, Log, Stat

    user, chat, run = _parked_turn("sink-time")
    sink = sink_module.EventSink(chat_id=chat.id, run_id=run.id)
    with sink.batch():
        opened = timezone.now()
        first = sink.reserve(3)
        log = sink.log(message="one", seq=first)
        artifact = sink.artifact(owner_id=user.pk, name="a.json", data={"a": 1}, seq=first + 1)
        stat = sink.stat({"tokens": 1}, seq=first + 2)
    assert log.created_at > opened
    assert Log.objects.get(pk=log.pk).created_at == log.created_at
    assert Artifact.objects.get(pk=artifact.pk).created_at == log.created_at
    assert Stat.objects.get(pk=stat.pk).created_at == log.created_at
    assert {e.created_at for e in Event.objects.filter(chat=chat, seq__gte=first)} == {log.created_at}
