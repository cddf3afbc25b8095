"""The stream follower every streaming surface shares (``uai.runs.streams``): catch-up, live events,
the recheck that finds what the channel layer lost, overflow and clean ends."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest


@pytest.mark.django_db(transaction=True)
async def test_follow__a_slow_reader_overflows_cleanly(settings) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    settings.UAI_STREAM_BUFFER = 5
    user = await db(get_user_model().objects.create, username="slowpoke")
    chat = await db(chat_create, owner_id=user.pk)

    def emit(n: int) -> None:
        for i in range(n):
            sink.EventSink(chat_id=chat.id).emit("log", {"message": str(i)})

    reader = streams.follow(chat_id=chat.id)
    first = asyncio.ensure_future(reader.__anext__())
    await asyncio.sleep(0.3)  # subscribed
    await db(emit, n=1)
    assert (await asyncio.wait_for(first, 5))["seq"] == 1
    await db(emit, n=20)  # nobody reads meanwhile
    await asyncio.sleep(0.3)
    with pytest.raises(streams.StreamOverflow):
        for _ in range(30):
            await asyncio.wait_for(reader.__anext__(), 5)
    await reader.aclose()


@pytest.mark.django_db(transaction=True)
async def test_follow__resuming_reads_the_table_once_then_goes_live(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream that resumes (a client reconnecting with its last event id) catches up with one
    trip to a DB thread — the retention check and the first page together — then goes live."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    user = await db(get_user_model().objects.create, username="resumer")
    chat = await db(chat_create, owner_id=user.pk)

    def emit(n: int) -> None:
        for i in range(n):
            sink.EventSink(chat_id=chat.id).emit("log", {"message": str(i)})

    await db(emit, n=5)
    trips: list[str] = []

    async def counted(fn: Any, **kwargs: Any) -> Any:
        trips.append(fn.__name__)
        return await db(fn, **kwargs)

    monkeypatch.setattr(streams, "db", counted)
    reader = streams.follow(chat_id=chat.id, after_seq=2)
    caught_up = [(await asyncio.wait_for(reader.__anext__(), 5))["seq"] for _ in range(3)]
    assert caught_up == [3, 4, 5] and trips == ["_catch_up"]
    live = asyncio.ensure_future(reader.__anext__())
    await asyncio.sleep(0.1)
    await db(emit, n=1)
    assert (await asyncio.wait_for(live, 5))["seq"] == 6 and trips == ["_catch_up"]
    await reader.aclose()


@pytest.mark.django_db(transaction=True)
async def test_follow__a_fresh_stream_reads_the_table_only_when_its_live_events_do_not_tell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An SSE turn follows from the number it has just written: its first live event, the next
    number, shows that nothing was missed (no read); a later one is a gap read from the table;
    and when nothing comes at all (the turn ended before the stream subscribed) the table is
    read after ``FRESH_WAIT_SECONDS``."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    user = await db(get_user_model().objects.create, username="freshman")
    chat = await db(chat_create, owner_id=user.pk)

    def emit(n: int, *, unpublished: bool = False) -> None:
        for i in range(n):
            if unpublished:  # committed before the stream subscribed: it never hears of them
                with sink.collect():
                    sink.EventSink(chat_id=chat.id).emit("log", {"message": f"early {i}"})
            else:
                sink.EventSink(chat_id=chat.id).emit("log", {"message": str(i)})

    trips: list[str] = []

    async def counted(fn: Any, **kwargs: Any) -> Any:
        trips.append(fn.__name__)
        return await db(fn, **kwargs)

    monkeypatch.setattr(streams, "db", counted)
    monkeypatch.setattr(streams, "FRESH_WAIT_SECONDS", 3.0)  # the first two cases: never waited out
    await db(emit, n=2)

    async def follow_then(after_seq: int, before: int, after: int, count: int) -> list[int]:
        reader = streams.follow(chat_id=chat.id, after_seq=after_seq, fresh=True)
        first = asyncio.ensure_future(reader.__anext__())
        await asyncio.sleep(0.1)  # subscribed
        await db(emit, n=before, unpublished=True)
        await db(emit, n=after)
        seqs = [(await asyncio.wait_for(first, 5))["seq"]]
        seqs += [(await asyncio.wait_for(reader.__anext__(), 5))["seq"] for _ in range(count - 1)]
        await reader.aclose()
        return seqs

    assert await follow_then(2, before=0, after=2, count=2) == [3, 4] and trips == []
    started = asyncio.get_running_loop().time()
    assert await follow_then(4, before=2, after=1, count=3) == [5, 6, 7] and trips == ["_page"]
    assert asyncio.get_running_loop().time() - started < streams.FRESH_WAIT_SECONDS  # the gap told
    trips.clear()
    monkeypatch.setattr(streams, "FRESH_WAIT_SECONDS", 0.25)
    await db(emit, n=2)  # 8 and 9: published before the next stream subscribes
    reader = streams.follow(chat_id=chat.id, after_seq=7, fresh=True)
    waited = asyncio.get_running_loop().time()
    assert [(await asyncio.wait_for(reader.__anext__(), 5))["seq"] for _ in range(2)] == [8, 9]
    waited = asyncio.get_running_loop().time() - waited
    assert trips == ["_page"] and streams.FRESH_WAIT_SECONDS <= waited < 5
    await reader.aclose()


@pytest.mark.django_db
def test_catch_up__looks_for_removed_events_only_when_the_page_does_not_start_right_after() -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.models import Event

    chat = chat_create(owner_id=get_user_model().objects.create(username="catcher").pk)
    for i in range(6):
        sink.EventSink(chat_id=chat.id).emit("log", {"message": str(i)})
    with CaptureQueriesContext(connection) as queries:
        first_kept, page, past_end = streams._catch_up(chat_id=chat.id, run_id=None, after_seq=2)
    assert first_kept is None and past_end is None and [e["seq"] for e in page] == [3, 4, 5, 6]
    assert len(queries.captured_queries) == 1  # the page starts right after: nothing was removed
    Event.objects.filter(chat_id=chat.id, seq__lte=4).delete()  # as retention would
    first_kept, page, _ = streams._catch_up(chat_id=chat.id, run_id=None, after_seq=2)
    assert first_kept == 5 and [e["seq"] for e in page] == [5, 6]
    Event.objects.filter(chat_id=chat.id).delete()
    assert streams._catch_up(chat_id=chat.id, run_id=None, after_seq=2) == (7, [], None)
    assert streams._catch_up(chat_id=chat.id, run_id=None, after_seq=6) == (None, [], None)  # up to date
    # Past the end: the stream's last number, to follow from.
    assert streams._catch_up(chat_id=chat.id, run_id=None, after_seq=9) == (None, [], 6)


@pytest.mark.django_db(transaction=True)
async def test_follow__a_stream_finds_events_lost_on_the_way_in_the_table(settings: Any) -> None:
    """The channel layer delivers at most once (Redis Pub/Sub across a reconnect, a full
    channel). The process's recheck tells a stream still behind its chat's number of the previous
    check to look in the table, so a lost last event (a turn's end) cannot hang it."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    user = await db(get_user_model().objects.create, username="lossy")
    chat = await db(chat_create, owner_id=user.pk)

    def emit(n: int, *, lost: bool = False) -> None:
        for i in range(n):
            if lost:
                with sink.collect():  # stored, and what it would publish is thrown away
                    sink.EventSink(chat_id=chat.id).emit("log", {"message": f"lost {i}"})
            else:
                sink.EventSink(chat_id=chat.id).emit("log", {"message": str(i)})

    settings.UAI_STREAM_RECHECK_SECONDS = 0.2
    reader = streams.follow(chat_id=chat.id, after_seq=0)
    first = asyncio.ensure_future(reader.__anext__())
    await asyncio.sleep(0.1)
    await db(emit, n=1)
    assert (await asyncio.wait_for(first, 5))["seq"] == 1
    await db(emit, n=2, lost=True)
    caught_up = [await asyncio.wait_for(reader.__anext__(), 5) for _ in range(2)]
    assert [(e["seq"], e["data"]["message"]) for e in caught_up] == [(2, "lost 0"), (3, "lost 1")]
    await db(emit, n=1)  # live again, numbered after what the table gave
    assert (await asyncio.wait_for(reader.__anext__(), 5))["seq"] == 4
    await reader.aclose()


@pytest.mark.django_db(transaction=True)
async def test_follow__a_stream_of_new_events_only_also_finds_a_lost_first_one(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Without a number to start from ("only new ones"), the stream starts after the chat's number
    at subscription: what was there before is not replayed, a first event lost on the way is
    found by the recheck, and a failing re-read is tried again at the next check, not the end
    of the stream."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    user = await db(get_user_model().objects.create, username="newonly")
    chat = await db(chat_create, owner_id=user.pk)

    def emit(message: str, *, lost: bool = False) -> None:
        with sink.collect() if lost else contextlib.nullcontext():
            sink.EventSink(chat_id=chat.id).emit("log", {"message": message})

    settings.UAI_STREAM_RECHECK_SECONDS = 0.2
    await db(emit, message="old 1")
    await db(emit, message="old 2")
    reader = streams.follow(chat_id=chat.id)
    first = asyncio.ensure_future(reader.__anext__())
    for _ in range(500):  # until subscribed and started after seq 2 (live), at most 5 s
        if any(w.chat_id == chat.id for w in streams._recheck().watches):
            break
        await asyncio.sleep(0.01)
    await db(emit, message="lost", lost=True)
    got = await asyncio.wait_for(first, 5)
    assert (got["seq"], got["data"]["message"]) == (3, "lost")

    page = streams._page
    failures = []

    def failing_once(**kwargs: Any) -> Any:
        if not failures:
            failures.append(kwargs)
            raise RuntimeError("database away")
        return page(**kwargs)

    monkeypatch.setattr(streams, "_page", failing_once)
    await db(emit, message="lost again", lost=True)
    got = await asyncio.wait_for(reader.__anext__(), 5)  # the first re-read failed, the next one
    assert (got["seq"], got["data"]["message"], len(failures)) == (4, "lost again", 1)
    await reader.aclose()


@pytest.mark.django_db(transaction=True)
async def test_follow__quiet_streams_cost_one_query_per_recheck_together(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Looking for lost events is one query per process and interval whatever the number of
    streams (it used to be a query per quiet stream), and a stream that lost nothing reads
    nothing; the check stops with the last stream."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    settings.UAI_STREAM_RECHECK_SECONDS = 0.1
    user = await db(get_user_model().objects.create, username="quiet-many")
    chats = [await db(chat_create, owner_id=user.pk) for _ in range(20)]
    calls: list[str] = []
    for name in ("_last_seqs", "_page"):
        original = getattr(streams, name)

        def counted(*, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(**kwargs)

        monkeypatch.setattr(streams, name, counted)

    def emit(chat_id: str) -> None:
        sink.EventSink(chat_id=chat_id).emit("log", {"message": "live"})

    readers = [streams.follow(chat_id=chat.id, after_seq=0) for chat in chats]
    pending = [asyncio.ensure_future(reader.__anext__()) for reader in readers]
    await asyncio.sleep(0.05)
    for chat in chats:
        await db(emit, chat_id=chat.id)  # delivered live: nothing to look for
    assert [(await asyncio.wait_for(p, 5))["seq"] for p in pending] == [1] * 20
    pending = [asyncio.ensure_future(reader.__anext__()) for reader in readers]
    await asyncio.sleep(0.15)  # a check that saw the numbers before the events
    calls.clear()  # (and the streams' catch-up reads)
    await asyncio.sleep(1.0)  # ~10 checks
    checks = calls.count("_last_seqs")
    assert 2 <= checks <= 11 and "_page" not in calls, calls
    recheck = streams._recheck()
    for p in pending:
        p.cancel()
    await asyncio.gather(*pending, return_exceptions=True)  # each stream's end: it leaves the check
    assert not recheck.watches
    await asyncio.sleep(0.25)
    assert recheck.task is None  # ended with the last stream (and lets its loop go)


@pytest.mark.django_db(transaction=True)
async def test_follow__a_chatless_runs_lost_event_is_found_too(settings: Any) -> None:
    """A run without a chat numbers its events on its own (``runs_run.last_seq``): the recheck
    reads those numbers too."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.runs import sink, streams
    from uai.runs.dbcall import db
    from uai.runs.services import run_create

    settings.UAI_STREAM_RECHECK_SECONDS = 0.2
    user = await db(get_user_model().objects.create, username="lossy-run")
    # On a queue no worker serves: only the test writes the run's events.
    agent = await db(
        Agent.objects.create, name="parked-run", target="uai.agents.builtin.echo:echo", queue="parked"
    )
    run = await db(run_create, owner_id=user.pk, agent=agent, input="x")

    def lost_log() -> None:
        with sink.collect():  # stored, and never published
            sink.EventSink(run_id=run.id).emit("log", {"message": "lost"})

    reader = streams.follow(run_id=run.id)
    pending = asyncio.ensure_future(reader.__anext__())
    for _ in range(500):  # until following live, at most 5 s
        if any(w.run_id == str(run.id) for w in streams._recheck().watches):
            break
        await asyncio.sleep(0.01)
    await db(lost_log)
    got = await asyncio.wait_for(pending, 5)
    assert (got["type"], got["data"]["message"], got["run_id"]) == ("log", "lost", str(run.id))
    await reader.aclose()


@pytest.mark.django_db(transaction=True)
async def test_follow__a_reader_behind_what_it_heard_is_not_sent_to_the_table(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A reader that has not yet read what its buffer received is behind its chat's number, yet
    lost nothing: the recheck leaves it alone (a slow reader in a busy chat would otherwise
    re-read its whole lag at every check)."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.chats.services import chat_create
    from uai.runs import sink, streams
    from uai.runs.dbcall import db

    settings.UAI_STREAM_RECHECK_SECONDS = 0.1
    user = await db(get_user_model().objects.create, username="slow-reader")
    chat = await db(chat_create, owner_id=user.pk)
    pages: list[dict[str, Any]] = []
    page = streams._page

    def counted(**kwargs: Any) -> Any:
        pages.append(kwargs)
        return page(**kwargs)

    def emit(n: int) -> None:
        for i in range(n):
            sink.EventSink(chat_id=chat.id).emit("log", {"message": str(i)})

    reader = streams.follow(chat_id=chat.id, after_seq=0)
    first = asyncio.ensure_future(reader.__anext__())
    for _ in range(500):  # until following live, at most 5 s
        if any(w.chat_id == chat.id for w in streams._recheck().watches):
            break
        await asyncio.sleep(0.01)
    await db(emit, n=1)
    assert (await asyncio.wait_for(first, 5))["seq"] == 1
    monkeypatch.setattr(streams, "_page", counted)
    await db(emit, n=3)  # received, not read
    await asyncio.sleep(0.6)  # several checks
    got = [(await asyncio.wait_for(reader.__anext__(), 5))["seq"] for _ in range(3)]
    more = asyncio.ensure_future(reader.__anext__())  # anything else it was told to do
    await asyncio.sleep(0.1)
    more.cancel()
    await asyncio.gather(more, return_exceptions=True)
    assert got == [2, 3, 4] and pages == []


@pytest.mark.django_db(transaction=True)
async def test_follow__a_stream_that_fails_to_start_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream that ends while it looks up its start number (the reader gone, the database
    away) closes its subscription and its pump: left open, the pump stopped at its full buffer
    and the layer kept the channel's messages for the process's life."""
    import asyncio

    from uai.runs import streams
    from uai.runs.subscriptions import Subscription

    def failing(**kwargs: Any) -> Any:
        raise RuntimeError("database away")

    async with Subscription("warm-up"):  # what the layer keeps once per process (a reader)
        pass
    monkeypatch.setattr(streams, "_last_seqs", failing)
    before = asyncio.all_tasks()
    reader = streams.follow(chat_id="never-started")
    with pytest.raises(RuntimeError, match="database away"):
        await reader.__anext__()
    await asyncio.sleep(0.05)
    assert [t for t in asyncio.all_tasks() - before if not t.done()] == []
