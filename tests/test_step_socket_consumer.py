"""Seed 001's WebSocket consumer in-process (channels' ``WebsocketCommunicator``): what a connection
costs, how it ends, and what its recheck finds that the channel layer lost."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest


@pytest.mark.django_db(transaction=True)
def test_consumer__a_status_without_a_frame_costs_no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn's queued and running statuses send nothing: the consumer must not look up their
    message id on the way (that lookup sat between the turn's commit and its first step)."""
    import uuid

    from asgiref.sync import async_to_sync

    from uai.dialects import step_socket as websocket

    looked_up: list[list[str]] = []
    real = websocket.selectors.client_message_ids
    monkeypatch.setattr(
        websocket.selectors,
        "client_message_ids",
        lambda *, run_ids: looked_up.append(run_ids) or real(run_ids=run_ids),
    )
    consumer = websocket.ChatStepConsumer()
    consumer.chat_id, consumer.message_ids = "chat-1", {}
    run_id = str(uuid.uuid4())

    def frames(seq: int, status: str) -> list[dict[str, Any]]:
        event = {"type": "status", "seq": seq, "run_id": run_id, "data": {"status": status}}
        return async_to_sync(consumer._frames)(event)

    assert frames(1, "queued") == [] and frames(2, "running") == []
    assert looked_up == []
    # A turn's end has a frame: its message id is looked up (none here: no such run).
    assert frames(3, "succeeded") == [
        {"type": "message_end", "message_id": None, "chat_id": "chat-1", "seq": 3}
    ]
    assert looked_up == [[run_id]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_ws__an_idle_connection_costs_four_tasks_and_one_scope() -> None:
    """What an idle connection is made of, counted in-process (bench/README: memory per idle
    WebSocket): the connection's own task, its follower, the stream's pump and the pump's pending
    receive. Channels' consumer loop added a task (and an asyncio.wait) per connection, and a copy
    of the scope per middleware kept another ~0.8 KiB for the connection's life."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from uai.dialects.step_socket import START_WINDOW_SECONDS
    from uai_project.asgi import router  # without the embedded worker: only the connection runs

    user = get_user_model().objects.create_user("idle")
    token = Token.objects.create(user=user).key

    async def settled() -> set[asyncio.Task[Any]]:
        """The loop's tasks once none has started or ended for a moment: on a loaded machine a
        connection may still be subscribing after its resume window (CI counted 7 once)."""
        tasks, stable_since = asyncio.all_tasks(), time.monotonic()
        deadline = stable_since + 10
        while time.monotonic() < deadline and time.monotonic() - stable_since < 0.5:
            await asyncio.sleep(0.05)
            now = asyncio.all_tasks()
            if now != tasks:
                tasks, stable_since = now, time.monotonic()
        return tasks

    async def idle(chat_id: str) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(router, f"/chat/{chat_id}?token={token}")
        connected, _ = await communicator.connect()
        assert connected
        await asyncio.sleep(START_WINDOW_SECONDS + 0.2)  # past the resume window: following live
        return communicator

    async def scenario() -> tuple[list[str], list[str]]:
        # The first connection also starts what the process keeps once (a Redis layer's reader).
        first = await idle("idle-1")
        before = await settled()
        second = await idle("idle-2")
        tasks = await settled() - before
        for communicator in (first, second):
            await communicator.disconnect()
        return sorted(task.get_coro().__qualname__ for task in tasks), sorted(second.scope)

    tasks, scope_keys = async_to_sync(scenario)()
    assert len(tasks) == 4, tasks
    assert "user" in scope_keys  # set on the connection's scope itself, not on a copy


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_ws__a_connection_the_server_cancels_leaves_nothing_behind() -> None:
    """An ASGI server cancels an application at shutdown or when it outlives its connection
    (daphne after ``application_close_timeout``). Channels' loop skips ``disconnect()`` then; the
    connection's follower, its stream's pump and pending receive must end all the same, or they
    follow the chat (and hold the channel-layer subscription) for the process's life."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from uai.dialects.step_socket import START_WINDOW_SECONDS
    from uai.runs import streams
    from uai_project.asgi import router

    user = get_user_model().objects.create_user("cancelled")
    token = Token.objects.create(user=user).key

    def following(chat_id: str) -> bool:
        return any(w.chat_id == chat_id for w in streams._recheck().watches)

    async def idle(chat_id: str) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(router, f"/chat/{chat_id}?token={token}")
        assert (await communicator.connect())[0]
        await asyncio.sleep(START_WINDOW_SECONDS)  # past the resume window
        for _ in range(500):  # until following live, at most 5 s
            if following(chat_id):
                break
            await asyncio.sleep(0.01)
        return communicator

    async def scenario() -> tuple[bool, bool, list[str]]:
        first = await idle("cancel-1")  # starts what the process keeps once (layer reader, recheck)
        before = asyncio.all_tasks()
        second = await idle("cancel-2")
        was_following = following("cancel-2")
        second.future.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second.future
        await asyncio.sleep(0.1)
        left = [repr(t) for t in asyncio.all_tasks() - before if not t.done()]
        still_following = following("cancel-2")
        await first.disconnect()
        return was_following, still_following, left

    was_following, still_following, left = async_to_sync(scenario)()
    assert was_following and not still_following
    assert left == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
@pytest.mark.parametrize("started_by", ["this socket", "another client"])
def test_ws__a_turns_end_lost_on_the_way_still_reaches_the_client(settings: Any, started_by: str) -> None:
    """The channel layer delivers at most once. The process's recheck finds a connection behind
    its chat's number and it reads the table: a lost ``message_end`` (the UI's unlock) arrives
    all the same, and only once — for a turn it started, and for one started elsewhere (a REST
    client, another tab) on the chat it shows."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from uai.agents.models import Agent
    from uai.chats.services import chat_find_or_create, chat_send
    from uai.runs import sink, streams
    from uai.runs.dbcall import db
    from uai.runs.models import Run
    from uai_project.asgi import router

    settings.UAI_STREAM_RECHECK_SECONDS = 0.3
    user = get_user_model().objects.create_user("lossy-ws")
    token = Token.objects.create(user=user).key
    # On a queue no worker serves: the turn stays queued until the test writes its end.
    Agent.objects.create(name="parked-ws", target="uai.agents.builtin.echo:echo", queue="parked")

    def end_lost(chat_id: str) -> None:
        run = Run.objects.get(chat_id=chat_id)
        with sink.collect():  # stored, and never published
            sink.EventSink(chat_id=chat_id, run_id=run.id).emit("status", {"status": "succeeded"})

    def send_elsewhere(chat_id: str) -> None:
        chat = chat_find_or_create(owner_id=user.pk, chat_id=chat_id, agent_name="parked-ws")
        chat_send(chat=chat, text="hi", client_message_id="m-1")

    async def scenario() -> list[dict[str, Any]]:
        communicator = WebsocketCommunicator(router, f"/chat/lossy-1?token={token}&agent=parked-ws")
        assert (await communicator.connect())[0]
        try:
            if started_by == "this socket":
                await communicator.send_json_to({"type": "client", "message": "hi", "message_id": "m-1"})
            else:
                await db(send_elsewhere, chat_id="lossy-1")
            for _ in range(300):  # until the connection follows live (caught up), at most 3 s
                if any(w.chat_id == "lossy-1" for w in streams._recheck().watches):
                    break
                await asyncio.sleep(0.01)
            for _ in range(500):  # until the turn is stored, at most 5 s
                if await db(Run.objects.filter(chat_id="lossy-1").exists):
                    break
                await asyncio.sleep(0.01)
            await db(end_lost, chat_id="lossy-1")
            frames = [await communicator.receive_json_from(timeout=3)]
            await asyncio.sleep(1.0)  # more quiet intervals: the turn is over, nothing more comes
            assert await communicator.receive_nothing(timeout=0.1)
            return frames
        finally:
            await communicator.disconnect()

    frames = async_to_sync(scenario)()
    assert [(f["type"], f["message_id"]) for f in frames] == [("message_end", "m-1")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_ws__a_stream_that_fails_closes_for_the_client_to_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the chat's events failed (the database away a moment): the follower ended and the
    socket stayed open, deaf — no step, no message_end — until the client thought to resume."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from django.db import OperationalError
    from rest_framework.authtoken.models import Token

    from uai.dialects.step_socket import CLOSE_TRY_AGAIN
    from uai.runs import streams
    from uai_project.asgi import router

    token = Token.objects.create(user=get_user_model().objects.create_user("deaf")).key

    def unreachable(**kwargs: Any) -> list[dict[str, Any]]:
        raise OperationalError("the database is away")

    monkeypatch.setattr(streams, "_page", unreachable)

    async def scenario() -> dict[str, Any]:
        communicator = WebsocketCommunicator(router, f"/chat/deaf-1?token={token}&after_seq=0")
        assert (await communicator.connect())[0]
        closed = await communicator.receive_output(10)
        await communicator.wait(5)
        return closed

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": CLOSE_TRY_AGAIN}


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
@pytest.mark.parametrize("after", ["deleted", "made anew by another user"])
def test_ws__a_chat_deleted_without_its_signal_is_found_by_the_recheck(settings: Any, after: str) -> None:
    """The signal of a deletion travels the channel layer, which delivers at most once, and a chat
    deleted with its owner (a cascade) sends none: the recheck notices the chat gone, or made
    anew under its id, and closes the socket (4404). A resume there is refused once the id is
    another user's."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from uai.chats.models import Chat
    from uai.chats.services import chat_create
    from uai.runs import streams
    from uai.runs.dbcall import db
    from uai_project.asgi import router

    settings.UAI_STREAM_RECHECK_SECONDS = 0.2
    alice = get_user_model().objects.create_user("gone-alice")
    bob = get_user_model().objects.create_user("gone-bob")
    token = Token.objects.create(user=alice).key
    chat_create(owner_id=alice.pk, chat_id="gone-1")

    def delete_quietly() -> None:  # no signal: as a cascade from the user, or a lost message
        Chat.objects.filter(pk="gone-1").delete()
        if after != "deleted":
            chat_create(owner_id=bob.pk, chat_id="gone-1")

    async def scenario() -> tuple[list[dict[str, Any]], Any]:
        communicator = WebsocketCommunicator(router, f"/chat/gone-1?token={token}&after_seq=0")
        assert (await communicator.connect())[0]
        try:
            for _ in range(300):  # until a recheck has seen the chat (at most 3 s)
                if any(w.chat_id == "gone-1" and w.born for w in streams._recheck().watches):
                    break
                await asyncio.sleep(0.01)
            await db(delete_quietly)
            frame = await communicator.receive_json_from(timeout=3)
            closed = await communicator.receive_output(timeout=3)
            return [frame], closed
        finally:
            await communicator.disconnect()

    frames, closed = async_to_sync(scenario)()
    assert frames == [{"type": "agent_error", "error": "The chat was deleted.", "chat_id": "gone-1"}]
    assert closed == {"type": "websocket.close", "code": 4404}


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_ws__a_resume_on_an_id_another_user_took_is_refused(settings: Any) -> None:
    """A resume replays from the table: on a socket still open when its chat was deleted and its
    id taken by another user (before any recheck noticed), it replayed that user's chat."""
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from uai.chats.models import Chat
    from uai.chats.services import chat_create
    from uai.runs import sink
    from uai.runs.dbcall import db
    from uai_project.asgi import router

    settings.UAI_STREAM_RECHECK_SECONDS = 60  # no recheck during the test
    alice = get_user_model().objects.create_user("resume-alice")
    bob = get_user_model().objects.create_user("resume-bob")
    token = Token.objects.create(user=alice).key
    chat_create(owner_id=alice.pk, chat_id="taken-1")

    def taken() -> None:
        Chat.objects.filter(pk="taken-1").delete()
        chat_create(owner_id=bob.pk, chat_id="taken-1")
        with sink.collect():  # stored only: what a resume would replay
            sink.EventSink(chat_id="taken-1").emit("log", {"message": "bob's secret"})

    async def scenario() -> Any:
        communicator = WebsocketCommunicator(router, f"/chat/taken-1?token={token}")
        assert (await communicator.connect())[0]
        try:
            await db(taken)
            await asyncio.sleep(0.4)  # later in the connection's life than its first resume
            await communicator.send_json_to({"type": "resume", "after_seq": 0})
            return await communicator.receive_output(timeout=3)
        finally:
            await communicator.disconnect()

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4403}
