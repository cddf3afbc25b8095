"""Agents used only by the tests (imported by the server process through their dotted paths)."""

from __future__ import annotations

import asyncio
import datetime
import functools
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest


async def flaky(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Fails on its first attempt (leaving a marker file), succeeds on the next."""
    marker = Path(request.options["marker"])
    yield events.Log(f"attempt with marker present: {marker.exists()}")
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("first attempt fails")
    yield events.FinalAnswer(content="second attempt worked")


async def progress_then_flaky(
    request: AgentRequest, context: AgentContext
) -> AsyncIterator[events.AgentEvent]:
    """Reports 80 % and fails on its first attempt; on the next, works a while before any report."""
    marker = Path(request.options["marker"])
    if not marker.exists():
        marker.write_text("failed once")
        yield events.Progress(80.0, current_step="almost there")
        raise RuntimeError("first attempt fails late")
    await asyncio.sleep(float(request.options.get("pause", 2.0)))
    yield events.Progress(5.0, current_step="starting over")
    yield events.FinalAnswer(content="second attempt worked")


def sync_steps(request: AgentRequest, context: AgentContext):  # type: ignore[no-untyped-def]
    """A plain sync generator: runs in a thread; yields a step and a streamed answer."""
    yield events.Step(events.ACTION_STEP, f"thinking about {request.text}")
    yield "part one, "
    yield "part two"


def sync_function(request: AgentRequest) -> str:
    """A plain blocking function of the request alone: its return value is the answer."""
    import time

    time.sleep(0.05)
    return f"sync says {request.text}"


async def chatty(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams its answer one character at a time, as fast as it can."""
    for char in "x" * 2000:
        yield events.TextDelta(char)


async def burst(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Emits N ``ActionStep``s back to back (N is the message), a progress report, then answers."""
    count = int(request.text)
    for i in range(count):
        yield events.Step(events.ACTION_STEP, f"step {i}")
    yield events.Progress(100.0, current_step="all steps")
    yield events.FinalAnswer(content=f"{count} steps")


async def recall(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Answers with what it was shown of the conversation: proves history reaches the agent."""
    said = [h.content for h in request.history if h.role == "user"]
    yield events.FinalAnswer(content=f"{len(said)} earlier: {' | '.join(said)}")


def reporter(request: AgentRequest, context: AgentContext) -> None:
    """A blocking function that reports everything through the context and returns nothing."""
    context.step(events.PLANNING_STEP, "I will report through the context.")
    context.log("working", level="warning", stage=1)
    context.progress(50, "halfway")
    context.artifact("notes.txt", b"context notes", media_type="text/plain")
    context.stats(tokens=3)
    context.text("all ")
    context.text("reported")


async def polite(request: AgentRequest, context: AgentContext) -> str:
    """An async function that reports, asks, and returns its answer."""
    context.log("about to ask")
    context.progress(10, "asking")
    name = await context.ask("Who is asking?")
    context.log(f"asked by {name}")
    return f"Hello, {name}"


def stubborn(request: AgentRequest, context: AgentContext) -> str:
    """A blocking loop that only stops because it checks for cancellation."""
    import time

    for i in range(10_000):
        context.raise_if_cancelled()
        context.progress(i / 100, f"round {i}")
        time.sleep(0.05)
    return "never"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def asks_for_a_file(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Asks for a file, then says what came with the answer."""
    answer = await context.ask("Send me the file.")
    parts = [f"{f.name}={f.read().decode()}" for f in answer.files]
    yield events.FinalAnswer(content=f"{answer} with {', '.join(parts) or 'no file'}")


async def cancels_itself(request: AgentRequest) -> str:
    """Awaits a task of its own that it cancelled: asyncio.CancelledError out of agent code."""
    task = asyncio.create_task(asyncio.sleep(10))
    task.cancel()
    await asyncio.gather(task)
    return "never"


async def unwritable_last_step(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """A last step whose data JSON cannot hold: its write fails at the run's end."""
    yield events.Step("ActionStep", "when", {"at": datetime.datetime(2026, 1, 1)})


def exits(request: AgentRequest) -> str:
    """Agent code that calls sys.exit() (a CLI's main, argparse)."""
    sys.exit(3)


class Counter:
    """A callable object whose ``__call__`` is an async generator."""

    async def __call__(self, request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
        yield events.Step("ActionStep", "counting")
        yield events.FinalAnswer(content="counted")


counter = Counter()


def _logged(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        return fn(*args)

    return wrapper


@_logged
def decorated_steps(request: AgentRequest) -> Iterator[events.AgentEvent]:
    """A generator behind a decorator: the adapter sees a plain function."""
    yield events.Step("ActionStep", "decorated")
    yield "decorated answer"


async def asks_sync_on_the_loop(request: AgentRequest, context: AgentContext) -> str:
    """The blocking twin of ask() called from async code: it froze the worker's event loop."""
    return str(context.ask_sync("froze?"))


async def says_a_word_then_works(request: AgentRequest, context: AgentContext) -> str:
    """Streams two pieces of text close together, then works a while before answering."""
    context.text("Working")
    await asyncio.sleep(0.01)
    context.text(" on it…")
    await asyncio.sleep(3)
    return "done"


async def answers_with_a_step(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """Yields the seed's answer step as a Step, as docs/agents/python.md shows steps."""
    yield events.Step(events.ACTION_STEP, "working")
    yield events.Step(events.FINAL_ANSWER_STEP, f"the answer to {request.text}")


def returns_a_datetime(request: AgentRequest) -> dict[str, Any]:
    """A plain function whose result JSON cannot hold as it is."""
    return {"at": datetime.datetime(2026, 1, 2, 3, 4, 5), "text": request.text}


def keyword_options(request: AgentRequest, *, verbose: bool = False, **options: Any) -> str:
    """Keyword-only parameters and ``**kwargs``: it takes the request alone."""
    return f"{request.text} (verbose={verbose}, options={sorted(options)})"


async def two_rounds(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """Streams a first round (before a tool call), then the answer, which is only the last round's
    text (as a chat model with tools does)."""
    yield events.TextDelta("Let me check. ")
    yield events.Step(events.ACTION_STEP, "weather()")
    yield events.TextDelta("It's sunny.")
    yield events.FinalAnswer(content="It's sunny.")
