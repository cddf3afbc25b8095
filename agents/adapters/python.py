"""The reference adapter: plain Python functions and generators, sync or async.

The target is called as ``target(request, context)`` (or ``target(request)`` if it takes one
argument). It may be:

- an async generator or a generator yielding ``agents.events`` (a plain ``str`` is a text delta);
- a coroutine function or a function returning a ``str`` (the final answer), an event, a list of
  events, or any JSON value (the final answer's output).

Sync code runs in a worker thread, never on the event loop; a sync generator is stopped at the
next step boundary once the run is cancelled.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from agents import events
from agents.protocol import AgentContext, AgentRequest

_DONE = object()


def to_events(value: Any) -> list[events.AgentEvent]:
    """Turn what a plain function returned or yielded into events."""
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


class PythonAdapter:
    """Runs a plain Python callable as an agent."""

    def __init__(self, target: Callable[..., Any], options: dict[str, Any] | None = None) -> None:
        self.target = target
        self.options = options or {}
        try:
            params = inspect.signature(target).parameters
            self._takes_context = len(params) >= 2
        except (TypeError, ValueError):
            self._takes_context = True

    def _args(self, request: AgentRequest, context: AgentContext) -> tuple[Any, ...]:
        return (request, context) if self._takes_context else (request,)

    async def stream(self, request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
        """Call the target and yield its events."""
        target = self.target
        args = self._args(request, context)
        if inspect.isasyncgenfunction(target):
            async for item in target(*args):
                yield _yielded(item)
        elif inspect.isgeneratorfunction(target):
            async for item in _iterate_in_thread(target(*args), context):
                yield _yielded(item)
        elif inspect.iscoroutinefunction(target):
            for event in to_events(await target(*args)):
                yield event
        else:
            result = await run_in_own_thread(target, *args)
            if inspect.isawaitable(result):
                result = await result
            for event in to_events(result):
                yield event


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


async def _iterate_in_thread(gen: Iterator[Any], context: AgentContext) -> AsyncIterator[Any]:
    """Drive a sync generator in a thread, handing its items to the loop as they come."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in gen:
                loop.call_soon_threadsafe(queue.put_nowait, item)
                if stop.is_set() or context.cancelled:
                    break
        except BaseException as exc:  # handed to the loop and re-raised there
            loop.call_soon_threadsafe(queue.put_nowait, _Raised(exc))
        finally:
            gen.close()
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    thread = threading.Thread(target=pump, name="uai-agent", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        # The consumer stopped early (cancelled): the thread ends at its next step boundary.
        stop.set()


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
