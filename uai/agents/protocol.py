"""The adapter protocol and the request and context types an agent receives."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypedDict

from uai.agents import events


class HistoryItem(NamedTuple):
    """A previous entry of the chat, oldest first (a named tuple: a turn builds up to
    ``UAI_HISTORY_MESSAGES`` of them, and a frozen dataclass costs several times more to make)."""

    role: str
    content: str
    step_type: str | None = None


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file the user sent with this turn or run; ``read()`` returns its bytes (blocking)."""

    name: str
    media_type: str
    size: int
    read: Callable[[], bytes]
    artifact_id: str | None = None


class Answer(str):
    """What ``ask()`` returns: the user's answer, a ``str``, with the files sent along with it;
    ``value``: the answer as the JSON value a client sent, when it sent one that is not text (a
    LangGraph client's ``command.resume``; the ``str`` is its JSON then)."""

    files: tuple[InputFile, ...]
    value: Any

    def __new__(cls, text: str, files: tuple[InputFile, ...] = (), value: Any = None) -> Answer:
        answer = super().__new__(cls, text)
        answer.files = tuple(files)
        answer.value = value
        return answer


@dataclass(slots=True)
class AgentRequest:
    """What the agent is asked: the input (text or JSON), the chat so far, state and files."""

    input: Any
    text: str
    history: list[HistoryItem] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    files: list[InputFile] = field(default_factory=list)
    mode: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # Tools the front end offers for this turn (``{"name", "description", "parameters"}``, the
    # parameters a JSON Schema): the agent calls one with ``context.call_tool()``.
    tools: list[dict[str, Any]] = field(default_factory=list)
    # What the client asked this turn to run with, where its protocol has it (LangGraph's run
    # ``config``, with ``configurable``, and ``context``): the LangGraph adapter passes both on.
    config: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


class InputNotSupported(RuntimeError):
    """The agent asked for input where nobody can answer (a sessionless call)."""


class AgentCancelled(Exception):
    """Raised by ``AgentContext.raise_if_cancelled()`` in an agent whose run was cancelled."""


class AgentContext:
    """What a running agent can do besides yielding: report events, ask for input, see cancellation.

    The reporting methods (``step``, ``log``, ``text``, ``artifact``, ``progress``, ``state``,
    ``stats``) work from async code and from sync code running in a thread alike; what they report
    keeps its order with what the agent yields or returns.
    """

    def __init__(
        self,
        *,
        run_id: str | None,
        chat_id: str | None,
        ask: Callable[..., Awaitable[str]] | None,
        loop: asyncio.AbstractEventLoop,
        ask_tool: Callable[[str, ToolCall], Awaitable[str]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.chat_id = chat_id
        self._ask = ask
        # Asks as ``ask`` does, the question carrying a front-end tool's call; without it, a tool
        # call is asked as a plain question (a console has no front end to run tools).
        self._ask_tool = ask_tool
        self._loop = loop
        self._cancelled = False
        self._emit: Callable[[events.AgentEvent], None] | None = None
        self._drain: Callable[[], Awaitable[None]] | None = None

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled; sync agents check it between steps."""
        return self._cancelled

    def cancel(self) -> None:
        """Mark the run cancelled (called by the executor)."""
        self._cancelled = True

    def raise_if_cancelled(self) -> None:
        """Stop here if the run was cancelled (a convenient check for long sync loops)."""
        if self._cancelled:
            raise AgentCancelled("the run was cancelled")

    def bind(
        self,
        emit: Callable[[events.AgentEvent], None] | None,
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Route reported events (called by the adapter that drives the agent).

        ``drain`` waits until what was reported so far is handled; ``ask`` calls it first.
        """
        self._emit = emit
        self._drain = drain

    def emit(self, event: events.AgentEvent) -> None:
        """Report one event."""
        if self._emit is None:
            raise RuntimeError("this context reports no events: yield them instead")
        self._emit(event)

    def step(self, step_type: str, content: str, **data: Any) -> None:
        """Report a step (``PlanningStep``, ``ActionStep``, …)."""
        self.emit(events.Step(step_type, content, data))

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        """Report a log line."""
        self.emit(events.Log(message, level, data))

    def text(self, delta: str) -> None:
        """Stream a piece of the answer's text."""
        self.emit(events.TextDelta(delta))

    def artifact(
        self,
        name: str,
        content: bytes | None = None,
        *,
        media_type: str = "application/octet-stream",
        data: Any = None,
    ) -> None:
        """Hand back a file (``content``) or a JSON value (``data``)."""
        self.emit(events.Artifact(name=name, content=content, media_type=media_type, data=data))

    def progress(
        self, percent: float, current_step: str = "", remaining_seconds: float | None = None
    ) -> None:
        """Report how far the work is (0–100)."""
        self.emit(events.Progress(percent, current_step, remaining_seconds))

    def state(self, state: dict[str, Any]) -> None:
        """Keep this state for the chat's next turn."""
        self.emit(events.StateUpdate(state))

    def stats(self, **data: Any) -> None:
        """Report figures (tokens, timings…)."""
        self.emit(events.Stats(data))

    async def ask(self, question: str, *, value: Any = None) -> Answer:
        """Ask the user a question and wait for the answer (the run is ``input_required`` meanwhile).

        The answer is a ``str``; the files the user sent with it are its ``files``. ``value``: the
        question as a JSON value, when it is more than its text (a LangGraph ``interrupt()``'s
        object): its event carries it, for clients that show it.
        """
        if self._ask is None:
            raise InputNotSupported("This agent asked for input, which a sessionless call cannot give.")
        if self._drain is not None:
            await self._drain()
        answer = await (self._ask(question) if value is None else self._ask(question, None, value))
        return answer if isinstance(answer, Answer) else Answer(answer)

    def ask_sync(self, question: str) -> Answer:
        """``ask`` for agents running in a worker thread."""
        self._not_on_loop("ask_sync", "ask")
        return asyncio.run_coroutine_threadsafe(self.ask(question), self._loop).result()

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        call_id: str | None = None,
        announce: bool = True,
    ) -> Answer:
        """Call a tool of the front end (one of ``request.tools``) and wait for its result.

        The run waits in ``input_required`` as for ``ask()``; its question carries the call
        (``tool_call``), and the front end's result comes back as the answer. ``arguments``: a
        dict, or its JSON text. The call is reported as an ActionStep first and its result as
        another, unless ``announce`` is false: an adapter whose framework reports the call and
        the result itself passes the framework's ``call_id`` and reports them (``data["client"]``).
        """
        if self._ask is None:
            raise InputNotSupported(
                f"This agent called the front-end tool {name!r}, which a sessionless call cannot run."
            )
        text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        call: ToolCall = {"id": call_id or new_call_id(), "name": name, "arguments": text}
        if announce:
            self.step(
                events.ACTION_STEP,
                f"Calling tool {name}({text})",
                tool=name,
                call_id=call["id"],
                arguments=text,
                client=True,
            )
        if self._drain is not None:
            await self._drain()
        prompt = f"Run the tool {name} with {text}"
        if self._ask_tool is not None:
            answer = await self._ask_tool(prompt, call)
        else:
            answer = await self._ask(prompt)
        result = answer if isinstance(answer, Answer) else Answer(answer)
        if announce:
            self.step(
                events.ACTION_STEP,
                f"Observation from {name}: {result}",
                tool=name,
                call_id=call["id"],
                result=str(result),
                client=True,
            )
        return result

    def call_tool_sync(
        self, name: str, arguments: dict[str, Any] | str | None = None, *, call_id: str | None = None
    ) -> Answer:
        """``call_tool`` for agents running in a worker thread."""
        self._not_on_loop("call_tool_sync", "call_tool")
        coroutine = self.call_tool(name, arguments, call_id=call_id)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _not_on_loop(self, sync: str, coroutine: str) -> None:
        if self._loop.is_running() and _running_loop() is self._loop:
            # Blocking the loop the answer must arrive on would freeze the whole worker.
            raise RuntimeError(f"{sync}() was called on the event loop: use `await context.{coroutine}()`")


class ToolCall(TypedDict):
    """A front-end tool's call, as the ``input_required`` event carries it (``arguments``: JSON text)."""

    id: str
    name: str
    arguments: str


def new_call_id() -> str:
    """A tool call's id where the model gave none, shaped like OpenAI's (``call_`` + 24 hex)."""
    return "call_" + uuid.uuid4().hex[:24]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AgentAdapter(Protocol):
    """Runs one agent for one request and yields its events; it never touches the ORM."""

    def stream(self, request: AgentRequest, context: AgentContext) -> AsyncGenerator[events.AgentEvent, None]:
        """Yield the agent's events until it is done; raise on failure. An async generator: the
        executor closes it in the task that started it, however the run ends."""
        ...
