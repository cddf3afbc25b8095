"""The reference adapter: plain Python functions and generators, sync or async.

The target is called as ``target(request, context)`` (or ``target(request)`` if it takes one
argument). It may be:

- an async generator or a generator yielding ``agents.events`` (a plain ``str`` is a text delta);
- a coroutine function or a function returning a ``str`` (the final answer), an event, a list of
  events, or any JSON value (the final answer's output).

Besides yielding, it may report through the context (``context.step()``, ``log()``, ``text()``,
``artifact()``, ``progress()``, ``state()``, ``stats()``) and ask with ``context.ask()`` (async) or
``context.ask_sync()`` (sync); a tool the front end offers (``request.tools``) is called the same
way, with ``context.call_tool()`` or ``context.call_tool_sync()``: the front end runs it, and its
result is the answer. Everything goes through one queue, so the order is the agent's.
Sync code runs in a thread of its own, never on the event loop; once the run is cancelled a sync
generator stops at its next yield and ``context.raise_if_cancelled()`` stops any loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest


def to_events(value: Any) -> list[events.AgentEvent]:
    """Turn what a plain function returned into events."""
    if value is None:
        return []
    if isinstance(value, events.EVENT_TYPES):
        return [value]
    if isinstance(value, str):
        return [events.FinalAnswer(content=value)]
    if isinstance(value, list | tuple) and all(isinstance(v, events.EVENT_TYPES) for v in value):
        return list(value)
    return [events.FinalAnswer(content=json.dumps(value, default=str), output=value)]


def _yielded(value: Any) -> events.AgentEvent:
    if isinstance(value, str):
        return events.TextDelta(value)
    if isinstance(value, events.EVENT_TYPES):
        return value
    raise TypeError(f"an agent yielded {type(value).__name__}; yield agents.events or str")


class _Done:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException | None = None) -> None:
        self.exc = exc


THREAD_WAIT_SECONDS = 0.5  # how often a blocked agent thread looks whether the run was cancelled


class _Channel:
    """Agent → UAI, one event at a time: an event is handled before the agent goes on.

    Yielded events and events reported through the context share it, in the agent's order; an
    async agent waits on a future, a thread on an event, until the consumer has taken the item
    and asked for the next one (so everything is persisted before, say, ``ask()`` runs).
    """

    def __init__(self, context: AgentContext) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.context = context
        self.queue: asyncio.Queue[tuple[Any, Callable[[], None] | None]] = asyncio.Queue()
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def _enqueue(self, item: Any, ack: Callable[[], None] | None) -> None:
        self.in_flight += 1
        self.idle.clear()
        self.queue.put_nowait((item, ack))

    def report(self, event: events.AgentEvent) -> None:
        """From ``context.emit``: async code queues it; a thread waits until it was handled."""
        if threading.get_ident() == self.loop_thread:
            self._enqueue(event, None)
            return
        handled = threading.Event()
        self.loop.call_soon_threadsafe(self._enqueue, event, handled.set)
        while not handled.wait(THREAD_WAIT_SECONDS):
            self.context.raise_if_cancelled()

    async def send(self, event: events.AgentEvent) -> None:
        """An async agent's yield: queue it and wait until it was handled."""
        handled = self.loop.create_future()

        def ack() -> None:
            if not handled.done():
                handled.set_result(None)

        self._enqueue(event, ack)
        await handled

    def finish(self, exc: BaseException | None = None) -> None:
        self._enqueue(_Done(exc), None)

    def done_with(self, ack: Callable[[], None] | None) -> None:
        if ack is not None:
            ack()
        self.in_flight -= 1
        if self.in_flight == 0:
            self.idle.set()

    async def drain(self) -> None:
        """Wait until everything reported so far was handled."""
        await self.idle.wait()


class PythonAdapter:
    """Runs a plain Python callable as an agent."""

    def __init__(self, target: Callable[..., Any], options: dict[str, Any] | None = None) -> None:
        if not callable(target):
            raise TypeError(f"{target!r} is not callable")
        self.target = target
        self.options = options or {}
        try:
            params = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            self._takes_context = True
        else:
            # Only a second positional parameter (or *args) takes the context: a keyword-only one
            # or **kwargs (``def agent(request, *, verbose=False)``) does not.
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            self._takes_context = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Call the target and yield its events, yielded and reported alike, in order."""
        channel = _Channel(context)
        context.bind(channel.report, drain=channel.drain)
        args = (request, context) if self._takes_context else (request,)
        driver = asyncio.create_task(self._drive(args, context, channel))
        try:
            while True:
                item, ack = await channel.queue.get()
                if isinstance(item, _Done):
                    channel.done_with(None)
                    if item.exc is not None:
                        raise item.exc
                    return
                yield item
                channel.done_with(ack)
        finally:
            context.bind(None)
            if not driver.done():
                context.cancel()  # a sync agent notices at its next step boundary
                driver.cancel()

    async def _drive(self, args: tuple[Any, ...], context: AgentContext, channel: _Channel) -> None:
        target = self.target
        try:
            if inspect.isasyncgenfunction(target) or inspect.iscoroutinefunction(target):
                result = target(*args)  # runs nothing yet: a generator or a coroutine
            elif inspect.isgeneratorfunction(target):
                result = target(*args)
            else:
                result = await run_in_own_thread(target, *args)
            await self._deliver(result, context, channel)
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # the run was cancelled (stream() cancels this task)
            # The agent's own code raised it (say, a task of its own it cancelled and awaited):
            # without an end on the channel, stream() would wait for one forever.
            channel.finish(RuntimeError("the agent raised asyncio.CancelledError without being cancelled"))
            return
        except BaseException as exc:
            channel.finish(exc)
            return
        channel.finish()

    async def _deliver(self, result: Any, context: AgentContext, channel: _Channel) -> None:
        """Send what the target gave — decided by the value, so a callable object or a decorated
        generator works as its plain twin would."""
        if inspect.isawaitable(result):
            result = await result
        if inspect.isasyncgen(result):
            # Closed in this task however it ends: the agent's own context managers (anyio cancel
            # scopes, task groups) must unwind in the task that entered them.
            async with contextlib.aclosing(result) as agen:
                async for item in agen:
                    await channel.send(_yielded(item))
        elif inspect.isgenerator(result):
            await run_in_own_thread(_pump, result, context)
        else:
            for event in to_events(result):
                await channel.send(event)


def _pump(gen: Generator[Any, Any, Any], context: AgentContext) -> None:
    """Drive a sync generator (in its own thread), stopping at a yield once cancelled."""
    try:
        for item in gen:
            context.emit(_yielded(item))
            if context.cancelled:
                break
    finally:
        gen.close()


async def run_in_own_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Call blocking agent code in a thread of its own (never a pool shared with UAI's work)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def call() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=call, name="uai-agent", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
