"""The distributed mode's Redis channel layers: channels-redis's two, each with a fix.

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
import functools
import time
import uuid
from typing import Any

from channels_redis import pubsub
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):  # type: ignore[misc]  # untyped base
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


class _Buffers(collections.defaultdict[str, Any]):
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


class RedisChannelLayer(BaseRedisChannelLayer):  # type: ignore[misc]  # untyped base
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer: _Buffers = _Buffers(self.receive_buffer.default_factory)
        self._readers: collections.Counter[str] = collections.Counter()
        # Look for forgotten buffers at most this often (at a receive, so never in an idle process).
        self.sweep_seconds = min(10.0, float(self.expiry))
        self._next_sweep = time.monotonic() + self.sweep_seconds

    async def receive(self, channel: str) -> dict[str, Any]:
        message: dict[str, Any]
        if "!" not in channel:  # a shared channel: nothing is buffered for it
            message = await super().receive(channel)
            return message
        self._sweep()
        self._readers[channel] += 1
        try:
            message = await super().receive(channel)
            return message
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
