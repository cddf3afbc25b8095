"""UAI's channel layers: Channels' in-memory one and channels-redis's two, each with a fix.

``InMemoryChannelLayer`` (embedded mode, one process): Channels' in-memory layer at a cost per
message that does not grow with the number of channels. Upstream sweeps every channel and group
membership for expired entries at each ``receive()`` and ``group_send()``, sends to a group's
members through a task each, and gives each channel an ``asyncio.Queue``. Every open WebSocket
follows its chat through a channel with a receive pending, so with N of them every event cost
O(N): a ``group_send`` and its ``receive`` took 30 µs with no other channel, 0.5 ms with 1,000
and 4.1 ms with 5,000. Here the sweep runs at most once a second, a ``group_send`` puts into
its members' buffers directly, and a channel is a list of messages and its waiters' futures.

``RedisPubSubChannelLayer`` (the default, ``UAI_CHANNEL_LAYER=pubsub``): channels-redis's Redis
Pub/Sub layer, whose receiver never naps. Upstream's receive loop sleeps 0.1 s at a time while
the process has no subscription at all, so the first message after a new one waits up to 100 ms
— every REST turn on an otherwise idle server (measured: a 20 ms turn took 102 ms). Here each
event loop's layer holds one subscription of its own for its life, so the receiver always waits
on the socket and a message is read as it arrives.

``RedisChannelLayer`` (``UAI_CHANNEL_LAYER=core``): channels-redis's list-based layer, without
its slow leak.

channels-redis receives all messages for a process's own channels (``new_channel()`` names)
through one loop, keeping each channel's in a buffer until somebody receives them there. A
message that reaches a channel whose reader has gone stays in memory for the life of the
process (django/channels_redis#384): an event published just before a reader's
``group_discard``, or a whole turn whose waiting request stopped listening (it read the run's
end from the table). Measured at 32 concurrent REST turns in distributed mode: ~10 MiB more per
1,000 turns, without end.

Here a buffer nobody has received from for the layer's ``expiry`` (60 s) is dropped — the age
at which the layer drops a message still in Redis anyway.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import functools
import time
import uuid
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as BaseInMemoryChannelLayer
from channels_redis import pubsub
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer


class _Channel:
    """One in-memory channel: ``(expires, message)`` pairs, oldest first, and its readers' futures."""

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.waiters: list[asyncio.Future[None]] = []

    def wake(self) -> None:
        """Wake the first reader still waiting (it takes the oldest message)."""
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
                return


class InMemoryChannelLayer(BaseInMemoryChannelLayer):
    # Expired messages (and group memberships) are looked for at most this often.
    sweep_seconds = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channels: dict[str, _Channel] = {}
        self._next_sweep = time.monotonic() + self.sweep_seconds

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, message)

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        if len(box.items) >= self.get_capacity(channel):
            raise ChannelFull(channel)
        # A copy per receiver, as upstream (and a real layer's serialization) gives.
        box.items.append((time.time() + self.expiry, copy.deepcopy(message)))
        box.wake()

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        self._sweep()
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        try:
            while not box.items:
                waiter = asyncio.get_running_loop().create_future()
                box.waiters.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        box.wake()  # woken for a message, then cancelled: it is the next reader's
                    raise
                finally:
                    box.waiters.remove(waiter)
            return box.items.pop(0)[1]
        finally:
            if not box.items and not box.waiters and self.channels.get(channel) is box:
                del self.channels[channel]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._sweep()
        members = list(self.groups.get(group, ()))
        for channel in members:
            try:
                self._put(channel, message)
            except ChannelFull:
                pass
        if members:
            # Let the readers just woken run before the sender goes on (as upstream's send tasks
            # did): a live client's frame leaves before the sender's next piece of work.
            await asyncio.sleep(0)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_seconds
            self._clean_expired()

    def _clean_expired(self) -> None:
        """Drop expired messages (their channel leaves its groups, as upstream) and memberships."""
        now = time.time()
        for channel, box in list(self.channels.items()):
            expired = 0
            while expired < len(box.items) and box.items[expired][0] < now:
                expired += 1
            if expired:
                del box.items[:expired]
                self._remove_from_groups(channel)
                if not box.items and not box.waiters:
                    del self.channels[channel]
        joined_before = int(now) - self.group_expiry
        for group, members in list(self.groups.items()):
            for channel, joined in list(members.items()):
                if joined and joined < joined_before:
                    del members[channel]
            if not members:
                del self.groups[group]


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    def _get_layer(self) -> pubsub.RedisPubSubLoopLayer:
        layer = super()._get_layer()
        awake = getattr(layer, "uai_awake", None)
        if awake is None:  # a channel nobody sends to, on every shard (each has its own receiver)
            awake = layer.uai_awake = _Awake(f"{layer.prefix}awake.{uuid.uuid4().hex}")
        awake.keep(layer)
        return layer


class _Awake:
    """One loop's wake-up channel: subscribed again on a shard that lost it (a ``flush()``, or a
    first attempt while Redis was unreachable)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending: dict[int, asyncio.Future[None]] = {}

    def keep(self, layer: pubsub.RedisPubSubLoopLayer) -> None:
        for index, shard in enumerate(layer._shards):
            if self.name in shard._subscribed_to or index in self.pending:
                continue
            task = asyncio.ensure_future(shard.subscribe(self.name))
            self.pending[index] = task
            task.add_done_callback(functools.partial(self._done, index))

    def _done(self, index: int, task: asyncio.Future[None]) -> None:
        del self.pending[index]
        if not task.cancelled():
            task.exception()  # retrieved: a failure is tried again at the next use


class _Buffers(collections.defaultdict):
    """channels-redis's per-channel buffers, remembering when each was last read or made."""

    def __init__(self, factory: Any) -> None:
        super().__init__(factory)
        self.touched: dict[str, float] = {}

    def __missing__(self, channel: str) -> Any:
        self.touched[channel] = time.monotonic()
        return super().__missing__(channel)

    def __delitem__(self, channel: str) -> None:
        super().__delitem__(channel)
        self.touched.pop(channel, None)

    def touch(self, channel: str) -> None:
        if channel in self:
            self.touched[channel] = time.monotonic()


class RedisChannelLayer(BaseRedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer = _Buffers(self.receive_buffer.default_factory)
        self._readers: collections.Counter[str] = collections.Counter()
        # Look for forgotten buffers at most this often (at a receive, so never in an idle process).
        self.sweep_seconds = min(10.0, float(self.expiry))
        self._next_sweep = time.monotonic() + self.sweep_seconds

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel:  # a shared channel: nothing is buffered for it
            return await super().receive(channel)
        self._sweep()
        self._readers[channel] += 1
        try:
            return await super().receive(channel)
        finally:
            self._readers[channel] -= 1
            if not self._readers[channel]:
                del self._readers[channel]
            self.receive_buffer.touch(channel)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_seconds
        buffers = self.receive_buffer
        for channel, touched in list(buffers.touched.items()):
            if channel not in self._readers and now - touched > self.expiry:
                del buffers[channel]
