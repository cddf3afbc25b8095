"""Waiters' channels: kept across timeouts, released when they end, on every channel layer."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import uuid
from typing import Any

import httpx
import pytest
import websockets
from asgiref.sync import async_to_sync
from django.conf import settings
from httpx_sse import connect_sse

from tests.conftest import token_of, wait_for, wait_run, ws_url
from uai.runs.subscriptions import Subscription

REDIS_URL = os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="a Redis channel layer needs REDIS_URL")


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


def subscribed(prefix: str) -> list[str]:
    """The channels and groups subscribed in Redis under ``prefix`` (not the layers' wake-up ones)."""
    redis = _redis()
    names = [*redis.pubsub_channels(f"{prefix}specific.*"), *redis.pubsub_channels(f"{prefix}__group__*")]
    return sorted(name.decode() for name in names)


class Layer:
    """A channel layer of one kind, made directly, and what it still holds for a channel."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.prefix = f"test-{uuid.uuid4().hex}"
        if kind == "memory":
            from uai_project.memory_layer import InMemoryChannelLayer

            self.layer = InMemoryChannelLayer()
        elif kind == "pubsub":
            from uai_project.channel_layers import RedisPubSubChannelLayer

            self.layer = RedisPubSubChannelLayer(hosts=[REDIS_URL], prefix=self.prefix)
        else:
            from uai_project.channel_layers import RedisChannelLayer

            self.layer = RedisChannelLayer(hosts=[REDIS_URL], prefix=self.prefix, expiry=60)

    def held(self, channel: str) -> list[str]:
        """What the layer keeps for ``channel`` or a group of it (empty: nothing)."""
        if self.kind == "memory":
            groups = [g for g, members in self.layer.groups.items() if channel in members]
            return ([channel] if channel in self.layer.channels else []) + groups
        if self.kind == "pubsub":  # what Redis has this process subscribed to
            return subscribed(self.prefix)
        # The list-based layer: messages buffered in the process for the channel, and the groups
        # in Redis. (A message sent and never read stays in Redis until the layer's expiry, as
        # designed; an empty buffer that a receive cancelled in mid-BZPOPMIN leaves behind is
        # the layer's sweep's, tests/test_channel_layer.py.)
        buffer = self.layer.receive_buffer.get(channel)
        buffered = [channel] if buffer is not None and not buffer.empty() else []
        return buffered + sorted(k.decode() for k in _redis().keys(self.layer._group_key("*")))


LAYERS = [
    "memory",
    pytest.param("pubsub", marks=needs_redis),
    pytest.param("core", marks=needs_redis),
]


@pytest.mark.parametrize("kind", LAYERS)
def test_subscription__a_timeout_keeps_the_channel_and_closing_releases_it(kind: str) -> None:
    layer = Layer(kind)

    async def scenario() -> None:
        subscription = Subscription("g", layer=layer.layer)
        channel = await subscription.open()
        assert await subscription.get(timeout=0.05) is None
        if kind == "pubsub":
            # Still subscribed after the timeout: what is published now is not lost.
            assert channel in layer.held(channel)
        await layer.layer.group_send("g", {"type": "uai.event", "n": 1})
        assert (await subscription.get(timeout=5))["n"] == 1
        await layer.layer.group_send("g", {"type": "uai.event", "n": 2})  # never read
        await asyncio.sleep(0.1)
        assert layer.held(channel)
        await subscription.close()
        await asyncio.sleep(0.05)
        assert layer.held(channel) == []
        await subscription.close()  # twice is harmless

    async_to_sync(scenario)()


@pytest.mark.parametrize("kind", LAYERS)
def test_subscription__a_channel_never_read_is_released_too(kind: str) -> None:
    layer = Layer(kind)

    async def scenario() -> None:
        async with Subscription("g", "h", layer=layer.layer) as subscription:
            channel = subscription.channel
            await layer.layer.send(channel, {"type": "uai.reply"})
            await asyncio.sleep(0.1)
        assert layer.held(channel) == []

    async_to_sync(scenario)()


@pytest.mark.parametrize("kind", LAYERS)
def test_subscription__closing_cancels_the_receive_left_pending(kind: str) -> None:
    layer = Layer(kind)

    async def scenario() -> None:
        subscription = Subscription("g", layer=layer.layer)
        channel = await subscription.open()
        assert await subscription.get(timeout=0.01) is None  # as a waiter ends on a timeout
        pending = subscription._receiving
        assert pending is not None and not pending.done()
        await subscription.close()
        await asyncio.sleep(0.05)
        assert pending.cancelled()
        assert layer.held(channel) == []
        if kind == "core":
            assert layer.layer.receive_count == 0  # no receive left running on this loop
        if kind == "memory":
            assert channel not in layer.layer.channels

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
# The receive the close stopped waiting for dies with its closed loop: collected below, it may
# say so ("Event loop is closed"), harmlessly — here, not in whichever test the GC lands in.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_subscription__a_stream_left_open_does_not_hang_its_loops_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event loop's end (``asyncio.run``, a server's shutdown) cancels every task at once: the
    layer's own with a stream's. The stream's close then cancels a receive that the Redis Pub/Sub
    layer ends by unsubscribing through a reader that is gone: waiting for that hung the loop's
    shutdown for good (a failing stream test hung the whole suite). The wait is bounded."""
    from uai.runs import streams, subscriptions

    monkeypatch.setattr(subscriptions, "RELEASE_TIMEOUT_SECONDS", 0.5)

    async def main() -> None:
        reader = streams.follow(chat_id="left-open")
        pending = asyncio.ensure_future(reader.__anext__())  # left waiting when main returns
        await asyncio.sleep(0.3)
        assert not pending.done()

    ended = threading.Event()

    def run() -> None:
        asyncio.run(main())
        ended.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ended.wait(15)
    thread.join(5)
    gc.collect()


class _FailingGroup:
    """A layer whose ``group_add`` fails for one group: the subscription must not stay half open."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.layer, name)

    async def group_add(self, group: str, channel: str) -> None:
        if group == "bad":
            raise ConnectionError("Redis went away")
        await self.layer.group_add(group, channel)


@pytest.mark.parametrize("kind", LAYERS)
def test_subscription__a_failed_open_leaves_nothing_behind(kind: str) -> None:
    layer = Layer(kind)

    async def scenario() -> None:
        subscription = Subscription("g", "bad", layer=_FailingGroup(layer.layer))
        with pytest.raises(ConnectionError):
            await subscription.open()
        await asyncio.sleep(0.05)
        assert subscription.channel is None
        if kind == "pubsub":
            assert layer.held("") == []  # neither the channel nor group "g" is subscribed
        else:
            assert all(not members for members in _groups(layer))

    async_to_sync(scenario)()


def _groups(layer: Layer) -> list[Any]:
    if layer.kind == "memory":
        return list(layer.layer.groups.values())
    return [_redis().zrange(key, 0, -1) for key in _redis().keys(layer.layer._group_key("*"))]


@needs_redis
def test_pubsub_layer__its_receiver_is_kept_waiting_on_the_socket() -> None:
    """channels-redis's pub/sub receiver naps 0.1 s at a time while a process has no
    subscription, delaying the first message after one is made by up to 100 ms (a REST turn on an
    idle server: 102 ms instead of 20). UAI's layer keeps one subscription per event loop."""
    layer = Layer("pubsub")

    async def scenario() -> list[str]:
        async with Subscription("g", layer=layer.layer):
            pass
        await asyncio.sleep(0.05)
        return sorted(c.decode() for c in _redis().pubsub_channels(f"{layer.prefix}*"))

    left = async_to_sync(scenario)()
    assert len(left) == 1 and left[0].startswith(f"{layer.prefix}awake.")

    async def after_flush() -> list[str]:
        await layer.layer.flush()  # drops every subscription of the loop's layer
        async with Subscription("g", layer=layer.layer):
            pass
        await asyncio.sleep(0.05)
        return sorted(c.decode() for c in _redis().pubsub_channels(f"{layer.prefix}*"))

    again = async_to_sync(after_flush)()
    assert len(again) == 1 and again[0].startswith(f"{layer.prefix}awake.")  # subscribed again


@needs_redis
def test_server__its_waiters_leave_nothing_subscribed(live: str, alice: httpx.Client) -> None:
    """Every waiter of a server in distributed mode — a REST turn, a conversation turn, an SSE
    stream, a sessionless call, a run asking for input, a WebSocket — unsubscribes from Redis
    when it ends."""
    if settings.UAI_CHANNEL_LAYER != "pubsub":
        pytest.skip("UAI_CHANNEL_LAYER is not pubsub")

    def server_subscribed() -> list[str]:  # the test server's and worker's (conftest.process_env)
        return subscribed(f"uai-test-{os.getpid()}")

    chat = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    assert alice.post(f"/chat/{chat}", json={"text": "rest"}).json()["status"] == "succeeded"
    assert alice.post("/chat/run", json={"message": "run", "conversation_id": "subs"}).status_code == 200
    with connect_sse(
        alice, "POST", "/chat/stream", json={"message": "sse", "conversation_id": "subs"}
    ) as source:
        assert [e for e in source.iter_sse()]
    assert alice.post("/chat/next", json={"user_input": "next"}).status_code == 200
    task = alice.post("/run/", json={"agent": "slow", "input": {"steps": 1, "delay": 0, "ask": "Name?"}})
    task_id = task.json()["task_id"]
    wait_run(alice, task_id, "input_required")
    assert alice.post(f"/run/{task_id}/input", json={"text": "Ada"}).status_code < 300
    wait_run(alice, task_id, "succeeded")

    async def websocket_turn() -> list[str]:
        headers = {"Authorization": f"Bearer {token_of(alice)}"}
        async with websockets.connect(
            ws_url(live, "/chat/subs-ws?agent=echo"), additional_headers=headers
        ) as ws:
            await ws.send(json.dumps({"type": "client", "message": "ws", "message_id": "w"}))
            while json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] != "message_end":
                pass
            return server_subscribed()

    during = async_to_sync(websocket_turn)()
    assert len(during) == 2  # the open socket's channel and its chat's group: the check sees them
    assert wait_for(lambda: server_subscribed() == [], timeout=5)
