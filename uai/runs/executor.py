"""The executor: drives one agent for one run attempt and hands every event to the sink.

It runs inside a procrastinate job. Cancellation arrives as ``asyncio.CancelledError`` (the
worker cancels the job's task on abort); everything the agent produced before it is persisted
before the run is marked cancelled: each event is written as it comes (with the ones that came
while the previous write was in flight), and the write in flight is waited for.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError

from uai.agents import events as ev
from uai.agents import registry
from uai.agents.adapters import jsonable
from uai.agents.models import Agent
from uai.agents.protocol import AgentAdapter, AgentContext, AgentRequest, Answer, InputFile
from uai.runs import services
from uai.runs import sink as sink_module
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.stream_events import ToolCallData
from uai.runs.subscriptions import Subscription
from uai_project import errors, tracing

logger = logging.getLogger(__name__)

_UAI_DIR = Path(__file__).resolve().parent.parent
# Agents' own code and the adapters that run or call them: what raises there is the agent's.
_AGENT_DIRS = (_UAI_DIR / "agents" / "builtin", _UAI_DIR / "agents" / "adapters")


def agent_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is an agent's expected failure (its code raised, a timeout) rather than a
    fault of UAI's: the first is logged in one line (its traceback at DEBUG), the second whole."""
    if isinstance(exc, (TimeoutError, RunTimedOut)):
        return True
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return True
    path = Path(last.tb_frame.f_code.co_filename).resolve()
    return _UAI_DIR not in path.parents or any(d in path.parents for d in _AGENT_DIRS)


def log_failure(message: str, *args: Any, exc: BaseException) -> None:
    if agent_failure(exc):
        logger.warning(message, *args)
        logger.debug("the agent's traceback:", exc_info=exc)
    else:
        logger.warning(message, *args, exc_info=exc)


T = TypeVar("T")


class Executor:
    """Runs one attempt of one run."""

    def __init__(
        self,
        *,
        run_id: str,
        attempt: int,
        max_attempts: int,
        shutting_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.shutting_down = shutting_down  # whether a cancellation is the worker stopping
        self.spec: services.RunSpec | None = None
        self._queued: list[ev.AgentEvent] = []  # waiting for the write in flight to end
        self._writer: asyncio.Task[None] | None = None
        self._deltas: list[str] = []
        self._all_text: list[str] = []
        self._last_flush = 0.0
        self._started = time.monotonic()
        self._first_event_at: float | None = None
        self._steps = 0
        self._made_artifacts = False
        self._unanswered = False  # a question went unanswered for UAI_INPUT_TIMEOUT_SECONDS
        self._budget: asyncio.Timeout | None = None  # the attempt's time limit, once it started
        self._delta_timer: asyncio.TimerHandle | None = None  # writes held text deltas

    async def execute(self) -> None:
        """Run the agent to its end, recording success, failure, retry or cancellation."""
        begin = asyncio.ensure_future(db(services.run_begin, run_id=self.run_id, attempt=self.attempt))
        try:
            self.spec = await asyncio.shield(begin)
        except asyncio.CancelledError:
            # Stopped while the start was being written: the write ends in its thread all the
            # same (the run `running`). Left there, the job ended `aborted` with nothing to
            # finish the run until the orphan sweep failed it a minute later.
            with contextlib.suppress(Exception):
                await begin
            if self.shutting_down():
                await asyncio.shield(self._finish_interrupted())
                raise Interrupted(f"the worker stopped during attempt {self.attempt}") from None
            raise  # a cancel: the run is `cancelled` already
        except Exception as exc:
            # Before the agent: a failure here (the database, a request that cannot be built)
            # ends the run now, retried or failed, as an agent's would — not `running` until
            # the orphan sweep calls its job lost.
            await self._failed(exc)
            return
        if self.spec is None:
            logger.info("run %s is gone or over; nothing to do", self.run_id)
            return
        loop = asyncio.get_running_loop()
        context = AgentContext(
            run_id=self.run_id, chat_id=self.spec.chat_id, ask=self._ask, loop=loop, ask_tool=self._ask
        )
        final: ev.FinalAnswer | None = None
        limit: float | None = self.spec.agent.timeout_seconds
        limit = settings.UAI_RUN_TIMEOUT_SECONDS if limit is None else limit
        try:
            adapter = await _adapter(self.spec.agent)
            try:
                async with asyncio.timeout(limit or None) as budget:
                    self._budget = budget
                    # Closed here, in this task, however the loop ends: a cancellation that lands
                    # while an event is being written (not inside the agent) must still unwind the
                    # agent's own context managers in the task that entered them (anyio cancel
                    # scopes, contextvars); left to the garbage collector, they unwind in another
                    # task and the job never ends.
                    async with contextlib.aclosing(adapter.stream(self.spec.request, context)) as stream:
                        with tracing.span(
                            "uai.agent", agent=self.spec.agent.name, adapter=self.spec.agent.adapter
                        ):
                            async for event in stream:
                                if self._first_event_at is None:
                                    self._first_event_at = time.monotonic()
                                event = ev.as_answer(event)
                                if isinstance(event, ev.FinalAnswer):
                                    final = event
                                    continue
                                await self._handle(event)
            except TimeoutError as exc:
                if budget.expired():
                    raise RunTimedOut(f"the run worked longer than its limit of {limit:g} s") from exc
                raise
            await self._flush()
            if final is None:
                # An agent that only streamed text: its text is its answer.
                final = ev.FinalAnswer(content="".join(self._all_text))
            await db(
                services.run_finish,
                run_id=self.run_id,
                status=Run.Status.SUCCEEDED,
                final=final,
                stats=self._stats(),
                made_artifacts=self._made_artifacts,
            )
        except asyncio.CancelledError:
            context.cancel()
            if self.shutting_down():
                # Not the run's fault: back in the queue, for the next worker to start again.
                await asyncio.shield(self._finish_interrupted())
                raise Interrupted(f"the worker stopped during attempt {self.attempt}") from None
            await asyncio.shield(self._finish_cancelled())
            raise
        except sink_module.StreamGone:
            context.cancel()
            logger.info("run %s was deleted while running; stopped", self.run_id)
        except (Exception, SystemExit) as exc:  # sys.exit() in an agent ends its run, not the worker
            context.cancel()
            await self._failed(exc)
        finally:
            if self._delta_timer is not None:  # the run is over: nothing more to write
                self._delta_timer.cancel()

    async def _handle(self, event: ev.AgentEvent) -> None:
        if isinstance(event, ev.TextDelta):
            if not event.text:
                return
            self._deltas.append(event.text)
            self._all_text.append(event.text)
            since = time.monotonic() - self._last_flush
            if since >= settings.UAI_DELTA_FLUSH_SECONDS:
                await self._write(wait=False)
            elif self._delta_timer is None:
                # Held for coalescing, not until the agent's next event: an agent that streams a
                # word and then works for a minute has the word shown within the interval.
                self._delta_timer = asyncio.get_running_loop().call_later(
                    settings.UAI_DELTA_FLUSH_SECONDS - since, self._write_held_deltas
                )
            return
        if isinstance(event, ev.Step):
            self._steps += 1
        elif isinstance(event, ev.Artifact):
            self._made_artifacts = True
        await self._write([event], wait=False)

    def _write_held_deltas(self) -> None:
        """The delta timer: write held text deltas unless a write failed (the agent's next event,
        or its end, reports that and writes them)."""
        self._delta_timer = None
        if not self._deltas:
            return
        if self._writer is not None and self._writer.done():
            if self._writer.cancelled() or self._writer.exception() is not None:
                return
            self._writer = None  # the last write ended well
        self._queued.append(ev.TextDelta("".join(self._deltas)))
        self._deltas.clear()
        self._last_flush = time.monotonic()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued(), name=f"uai-events-{self.run_id}")
        # (a write in flight takes what was queued meanwhile in its next transaction)

    async def _flush(self) -> None:
        """Write everything the agent produced so far; returns once it is committed."""
        if self._delta_timer is not None:
            self._delta_timer.cancel()
            self._delta_timer = None
        await self._write(wait=True)

    async def _write(self, also: list[ev.AgentEvent] | None = None, *, wait: bool) -> None:
        """Queue coalesced text deltas, then ``also``, for writing in order.

        One write is in flight at a time: an event is written at once when none is, and events
        that come while one is (an agent emitting steps back to back) go together in the next
        transaction — the agent is not held up by the database, and the first event by nothing.
        ``wait=False`` only waits when ``UAI_EVENT_BATCH_MAX`` events are queued (backpressure).
        """
        if self._deltas:
            self._queued.append(ev.TextDelta("".join(self._deltas)))
            self._deltas.clear()
        self._queued.extend(also or [])
        self._last_flush = time.monotonic()
        if self._writer is not None and self._writer.done():
            self._end_write()  # a failed write fails the run here
        if self._queued and self._writer is None:
            self._writer = asyncio.create_task(self._write_queued(), name=f"uai-events-{self.run_id}")
        if self._writer is not None and (wait or len(self._queued) >= settings.UAI_EVENT_BATCH_MAX):
            # Shielded: when the run is cancelled meanwhile, the write still ends (and is
            # published), and _finish_cancelled waits for this same write before its own.
            try:
                await asyncio.shield(self._writer)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._writer = None  # failed, and reported once: the next write is a new one
                raise
            self._end_write()

    def _end_write(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.result()

    async def _write_queued(self) -> None:
        assert self.spec is not None
        while self._queued:
            batch, self._queued = self._queued, []
            await db(
                services.run_apply,
                run_id=self.run_id,
                chat_id=self.spec.chat_id,
                owner_id=self.spec.owner_id,
                batch=batch,
            )

    async def _ask(self, question: str, tool_call: ToolCallData | None = None, value: Any = None) -> Answer:
        """Move the run to ``input_required`` and wait for the input endpoint to wake it; the
        wait is not counted against the run's time limit. ``tool_call``: the question is a
        front-end tool's call (``context.call_tool``), and the answer its result."""
        await self._flush()
        budget, loop = self._budget, asyncio.get_running_loop()
        left = None
        if budget is not None and budget.when() is not None and not budget.expired():
            left = budget.when() - loop.time()  # type: ignore[operator]
            budget.reschedule(None)
        try:
            return await self._wait_for_input(question, tool_call, value)
        finally:
            if left is not None and budget is not None and not budget.expired():
                budget.reschedule(loop.time() + max(left, 0.0))

    async def _wait_for_input(self, question: str, tool_call: ToolCallData | None, asked: Any) -> Answer:
        async with Subscription(sink_module.input_group(self.run_id)) as subscription:
            await db(
                services.run_request_input,
                run_id=self.run_id,
                prompt=question,
                tool_call=tool_call,
                value=asked,
            )
            deadline = time.monotonic() + settings.UAI_INPUT_TIMEOUT_SECONDS
            while True:
                value = await db(services.run_take_input, run_id=self.run_id)
                if value is not None:
                    files: list[Any] = []
                    if value.get("artifact_ids"):
                        ids = value["artifact_ids"]
                        files = await db(services.answer_files, run_id=self.run_id, artifact_ids=ids)
                    return Answer(str(value.get("text", "")), tuple(files), value.get("value"))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # Noted here, not by the error's type: the agent may catch and wrap it.
                    self._unanswered = True
                    raise TimeoutError(
                        f"no input arrived within {settings.UAI_INPUT_TIMEOUT_SECONDS:g} seconds"
                    )
                # Woken by the input endpoint; the periodic re-check covers a lost message.
                await subscription.get(timeout=min(remaining, 1.0))

    def _stats(self) -> dict[str, Any]:
        total = time.monotonic() - self._started
        first = (self._first_event_at - self._started) if self._first_event_at else None
        return {
            "duration_ms": round(total * 1000, 3),
            "time_to_first_event_ms": round(first * 1000, 3) if first is not None else None,
            "steps": self._steps,
            "attempt": self.attempt,
        }

    async def _finish_cancelled(self) -> None:
        try:
            await self._flush()
        except sink_module.StreamGone:  # deleted with its cancel (a double-texting rollback)
            logger.info("run %s: deleted as it was cancelled; its last events are dropped", self.run_id)
        except Exception:
            logger.warning("run %s: could not write its last events", self.run_id, exc_info=True)
        try:
            await db(services.run_finish, run_id=self.run_id, status=Run.Status.CANCELLED)
        except Exception:
            logger.warning("run %s: could not record cancellation", self.run_id, exc_info=True)

    async def _finish_interrupted(self) -> None:
        try:
            await self._flush()
        except Exception:
            logger.warning("run %s: could not write its last events", self.run_id, exc_info=True)
        try:
            await db(
                services.run_requeue,
                run_id=self.run_id,
                error="",
                attempt=self.attempt,
                max_attempts=self.max_attempts,
                message=f"The worker stopped during attempt {self.attempt}; the run will start again.",
            )
        except Exception:
            # Interrupted all the same: the job goes back in the queue (or, if its end cannot be
            # written either, the worker's restart or the sweep puts it back).
            logger.warning("run %s: could not record the interruption", self.run_id, exc_info=True)

    def _failed_before(self) -> int:
        """Earlier attempts held against max_attempts: interruptions (a shutdown, an outage) are not."""
        if self.spec is None:  # the attempt failed before its run could be read: all are counted
            return self.attempt - 1
        return self.spec.failed_attempts

    def _interruptions(self) -> int:
        """Earlier attempts that were interrupted rather than failed."""
        return self.attempt - 1 - self._failed_before()

    async def _failed(self, exc: BaseException) -> None:
        if errors.outage(exc) == "database" and self._interruptions() < settings.UAI_OUTAGE_RETRIES:
            # Not the agent's failure, and nothing can be written now: the job goes back in the
            # queue (written once the database answers) and the run starts again, as at a
            # shutdown — it stayed `running` with its job failed until the orphan sweep.
            logger.warning(
                "run %s attempt %s: the database went away; it starts again", self.run_id, self.attempt
            )
            raise Interrupted(f"the database went away during attempt {self.attempt}") from exc
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log_failure("run %s attempt %s failed: %s", self.run_id, self.attempt, error, exc=exc)
        try:
            await self._flush()
        except (sink_module.StreamGone, IntegrityError):
            return
        except Exception:
            # Its events are lost, not its end: the run still fails, with the agent's error.
            logger.warning("run %s: could not write its last events", self.run_id, exc_info=True)
        # (Nor is a refusal another attempt would meet again: an artifact over the storage quota.)
        retryable = getattr(exc, "retryable", True)
        if self._failed_before() + 1 < self.max_attempts and not self._unanswered and retryable:
            # (A question nobody answered is not the agent's failure: another attempt would do the
            # work again and ask again, for another UAI_INPUT_TIMEOUT_SECONDS.)
            await db(
                services.run_requeue,
                run_id=self.run_id,
                error=error,
                attempt=self.attempt,
                max_attempts=self.max_attempts,
            )
            raise RetryRun(error) from exc
        await db(
            services.run_finish,
            run_id=self.run_id,
            status=Run.Status.FAILED,
            error=error,
            stats=self._stats(),
        )


class RetryRun(Exception):
    """Raised to procrastinate so that its retry strategy schedules the next attempt."""


class RunTimedOut(Exception):
    """An attempt worked longer than its agent's ``timeout_seconds`` (UAI_RUN_TIMEOUT_SECONDS)."""


class Interrupted(RetryRun):
    """The worker stopped (shutdown) while the run was going: it starts again at once, whatever
    attempts it had left (it failed nothing)."""


async def execute_run(
    *, run_id: str, attempt: int, max_attempts: int, shutting_down: Callable[[], bool] = lambda: False
) -> None:
    """Entry point for the task: one attempt of one run."""
    await Executor(
        run_id=run_id, attempt=attempt, max_attempts=max_attempts, shutting_down=shutting_down
    ).execute()


# --- sessionless calls (POST /chat/next, POST /agent/run): nothing is stored ----------------------


async def _adapter(agent: Agent) -> AgentAdapter:
    """The agent's adapter; the first build (its framework's import, seconds on a busy machine) in
    a thread: on the worker's loop it held every other job's events and the worker's heartbeat,
    and a sweep took the worker for dead."""
    adapter = registry.cached_adapter(agent)
    if adapter is None:
        adapter = await asyncio.to_thread(registry.build_adapter, agent)
    return adapter


def _load_agent(name: str) -> Agent:
    return Agent.objects.get(name=name)


async def execute_ephemeral(payload: dict[str, Any]) -> None:
    """Run an agent for a sessionless call and send the whole result to the caller's channel."""
    reply_channel = payload["reply_channel"]
    result: dict[str, Any] = {"steps": [], "artifacts": [], "state": None, "output": None, "error": None}
    text_parts: list[str] = []
    try:
        agent = await db(_load_agent, name=payload["agent"])
        files = [
            InputFile(
                name=f["name"],
                media_type=f["media_type"],
                size=len(base64.b64decode(f["content_b64"])),
                read=functools.partial(base64.b64decode, f["content_b64"]),
            )
            for f in payload.get("files", [])
        ]
        request = AgentRequest(
            input=payload.get("input", payload.get("text", "")),
            text=payload.get("text", ""),
            state=dict(payload.get("state") or {}),
            files=files,
            options=dict(agent.options or {}),
        )
        context = AgentContext(run_id=None, chat_id=None, ask=None, loop=asyncio.get_running_loop())
        async for yielded in (await _adapter(agent)).stream(request, context):
            event = ev.as_answer(yielded)
            match event:
                case ev.Step():
                    result["steps"].append({"step_type": event.step_type, "content": event.content})
                case ev.TextDelta():
                    text_parts.append(event.text)
                case ev.Artifact():
                    item: dict[str, Any] = {"name": event.name, "media_type": event.media_type}
                    if event.content is not None:
                        item["size"] = len(event.content)
                        item["content_base64"] = base64.b64encode(event.content).decode()
                    else:
                        item["data"] = event.data
                        item["media_type"] = "application/json"
                    result["artifacts"].append(item)
                case ev.StateUpdate():
                    result["state"] = event.state
                case ev.FinalAnswer():
                    result["steps"].append({"step_type": ev.FINAL_ANSWER_STEP, "content": event.content})
                    output = event.output if event.output is not None else event.content
                    # JSON-safe, as a stored run's output: it crosses the channel layer (msgpack).
                    result["output"] = json.loads(json.dumps(output, default=jsonable))
                case _:
                    pass  # logs, progress and stats have no place in a sessionless reply
        if result["output"] is None:
            content = "".join(text_parts)
            result["steps"].append({"step_type": ev.FINAL_ANSWER_STEP, "content": content})
            result["output"] = content
    except asyncio.CancelledError:
        # The worker is stopping: the caller hears it now rather than at its own timeout.
        result["error"] = "The worker stopped before the call finished; try again."
        await asyncio.shield(sink_module.reply(reply_channel, result))
        raise
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log_failure("sessionless call of %s failed: %s", payload.get("agent"), result["error"], exc=exc)
    await sink_module.reply(reply_channel, result)
