"""Writes of runs: creating and deferring them, and every change of their status.

The executor calls the ``run_*`` functions below as it drives an agent; the REST views call
``run_create``, ``run_cancel``, ``run_provide_input`` and ``run_logs_append``. All of them write
through one ``EventSink`` so every change is numbered, kept and published after commit.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from uai.agents import events as ev
from uai.agents import registry
from uai.agents import selectors as agent_selectors
from uai.agents.adapters import jsonable
from uai.agents.models import Agent
from uai.agents.protocol import AgentRequest, HistoryItem, InputFile
from uai.artifacts import services as artifact_services
from uai.artifacts import storage
from uai.artifacts.models import Artifact
from uai.chats import cache as conversation_cache
from uai.chats.models import Chat
from uai.chats.validators import validate_text
from uai.limits import services as limit_services
from uai.runs import queues
from uai.runs import sink as sink_module
from uai.runs.models import Log, Run
from uai.runs.stream_events import ToolCallData
from uai_project.errors import Conflict, InvalidInput, NotFound
from uai_project.sql import columns, first

logger = logging.getLogger(__name__)


def sink_for(run: Run) -> sink_module.EventSink:
    """The sink of a run's stream: its chat's when it has one."""
    return sink_module.EventSink(chat_id=run.chat_id, run_id=run.id)


# --- creating ------------------------------------------------------------------------------------


def run_create(
    *,
    owner_id: int,
    agent: Agent,
    input: Any,
    chat: Chat | None = None,
    run_id: uuid.UUID | None = None,
    schedule_id: Any = None,
) -> Run:
    """Create a run (a task, or a chat turn when ``chat`` is given) and defer its job.

    The job is deferred inside the same transaction as the run, so neither exists without the other.
    ``schedule_id``: the schedule whose firing made it.
    """
    with transaction.atomic():
        run = run_new(
            owner_id=owner_id, agent=agent, input=input, chat=chat, run_id=run_id, schedule_id=schedule_id
        )
        sink_for(run).status(run)
    return run


def run_new(
    *,
    owner_id: int,
    agent: Agent,
    input: Any,
    chat: Chat | None = None,
    run_id: uuid.UUID | None = None,
    request: dict[str, Any] | None = None,
    schedule_id: Any = None,
) -> Run:
    """``run_create`` without its first status event, for callers that number it with their own
    events (in their transaction)."""
    if not agent.enabled:
        # Taken offline by an operator: chats made with it before keep their agent, not its use.
        raise Conflict(f"Agent {agent.name!r} is disabled.")
    # The user's limit of unfinished runs or turns (429 past it), counted under their lock.
    limit_services.start_allowed(owner_id=owner_id, kind=Run.Kind.TURN if chat else Run.Kind.TASK)
    run_id = run_id or uuid.uuid4()
    eta = timezone.now() + datetime.timedelta(seconds=registry.estimate_seconds(agent, input))
    job_id = queues.defer_run(
        run_id=run_id,
        chat_id=chat.id if chat else None,
        max_attempts=agent.max_attempts,
        retry_delay_seconds=agent.retry_delay_seconds,
        queue=agent.queue,
    )
    return Run.objects.create(
        id=run_id,
        owner_id=owner_id,
        agent=agent,
        chat=chat,
        kind=Run.Kind.TURN if chat else Run.Kind.TASK,
        input=input,
        request=request or {},
        job_id=job_id,
        estimated_completion_time=eta,
        schedule_id=schedule_id,
    )


# --- what the executor calls ---------------------------------------------------------------------


@dataclass
class RunSpec:
    """Everything the executor needs to drive one attempt of a run."""

    run_id: str
    chat_id: str | None
    owner_id: int
    agent: Agent
    request: AgentRequest
    failed_attempts: int = 0  # earlier attempts held against max_attempts (not interruptions)


# One statement starts a run: it moves to ``running`` unless it is over, and brings back what the
# request is built from (its chat's state, whether it has files, and its agent's version, to reuse
# a cached agent row).
_BEGIN_SQL = f"""
WITH run AS (
    UPDATE runs_run
    SET status = 'running', started_at = COALESCE(started_at, %s), attempts = %s,
        input_prompt = '', updated_at = %s,
        -- A new attempt starts from nothing: not at the failed one's 80 %% (then 5 %%).
        progress = 0, current_step = CASE WHEN %s > 1 THEN 'attempt ' || %s ELSE '' END
    WHERE id = %s AND status NOT IN ({", ".join(f"'{s}'" for s in Run.TERMINAL)})
    RETURNING {columns(Run)}
)
SELECT run.*, agent.updated_at AS agent_updated_at,
       chat.state AS chat_state, chat.mode AS chat_mode, chat.metadata AS chat_metadata,
       chat.created_at AS chat_created_at,
       EXISTS (SELECT 1 FROM artifacts_artifact a WHERE a.run_id = run.id AND a.origin = 'user')
           AS has_files,
       -- Whether the chat has messages before the run's first: a chat's first turn (every
       -- stateless OpenAI call) has none, and skips the conversation cache (a read and a write).
       EXISTS (SELECT 1 FROM chats_message m WHERE m.chat_id = run.chat_id AND m.seq < (
                   SELECT COALESCE(min(r.seq), chat.last_seq + 1) FROM chats_message r WHERE r.run_id = run.id))
           AS has_history
FROM run
JOIN agents_agent agent ON agent.name = run.agent_id
LEFT JOIN chats_chat chat ON chat.id = run.chat_id
"""


class _BeginColumns(TypedDict):
    """What ``_BEGIN_SQL`` selects besides the run's columns (the chat's are NULL without one)."""

    agent_updated_at: datetime.datetime
    chat_state: Any
    chat_mode: str | None
    chat_metadata: Any
    chat_created_at: datetime.datetime | None
    has_files: bool
    has_history: bool


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    _BegunRun = WithAnnotations[Run, _BeginColumns]


def _json_column(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def run_begin(*, run_id: str, attempt: int) -> RunSpec | None:
    """Mark a run ``running`` and gather its request; None when it is gone or already over."""
    now = timezone.now()
    with transaction.atomic():
        # (``first`` sets the statement's further columns as attributes)
        run = cast(
            "_BegunRun | None", first(Run, _BEGIN_SQL, [now, attempt, now, attempt, str(attempt), run_id])
        )
        if run is None:
            return None
        sink = sink_for(run)
        with sink.batch():
            sink.status(
                run, seq=sink.reserve(1, chat_status=Chat.Status.RUNNING if run.chat_id else None), begun=True
            )
    agent = registry.agent_row(run.agent_id, run.agent_updated_at)
    return RunSpec(
        run_id=str(run.id),
        chat_id=run.chat_id,
        owner_id=run.owner_id,
        agent=agent,
        request=_build_request(run, agent),
        failed_attempts=run.failed_attempts,
    )


def _input_files(uploads: Iterable[Artifact]) -> list[InputFile]:
    return [
        InputFile(
            name=a.name,
            media_type=a.media_type,
            size=a.size,
            read=functools.partial(artifact_services.read_bytes, a),
            artifact_id=str(a.id),
        )
        for a in uploads
    ]


def answer_files(*, run_id: str, artifact_ids: list[str]) -> list[InputFile]:
    """The files the user sent with an answer to the run's question."""
    uploads = Artifact.objects.filter(run_id=run_id, origin=Artifact.Origin.USER, pk__in=artifact_ids)
    return _input_files(uploads.order_by("created_at"))


def _build_request(run: _BegunRun, agent: Agent) -> AgentRequest:
    text = run.input if isinstance(run.input, str) else json.dumps(run.input)
    files: list[InputFile] = []
    if run.has_files:  # most runs have none: not even a queryset built (~75 µs)
        uploads = Artifact.objects.filter(run_id=run.id, origin=Artifact.Origin.USER)
        files = _input_files(uploads.order_by("created_at"))
    history: list[HistoryItem] = []
    state: dict[str, Any] = {}
    mode = ""
    metadata: dict[str, Any] = {}
    if run.chat_id and run.chat_created_at is not None:  # (it is None only without a chat)
        state = dict(_json_column(run.chat_state) or {})
        metadata = dict(_json_column(run.chat_metadata) or {})
        mode = run.chat_mode or ""
        if run.has_history:
            rows = conversation_cache.history(run.chat_id, run.chat_created_at, run_id=str(run.id))
            history = [HistoryItem(r, c, s) for _, r, c, s in rows]
    return AgentRequest(
        input=run.input,
        text=text,
        history=history,
        state=state,
        files=files,
        mode=mode,
        metadata=metadata,
        options=dict(agent.options or {}),
        tools=list(run.request.get("tools") or ()) if run.request else [],
        config=dict(run.request.get("config") or {}) if run.request else {},
        context=dict(run.request.get("context") or {}) if run.request else {},
    )


def run_apply(*, run_id: str, chat_id: str | None, owner_id: int, batch: list[ev.AgentEvent]) -> None:
    """Persist and publish a batch of the agent's events (all but the final answer)."""
    if not batch:
        return
    sink = sink_module.EventSink(chat_id=chat_id, run_id=run_id)
    try:
        refused = _apply(sink, run_id=run_id, owner_id=owner_id, batch=batch)
    except BaseException:
        storage.delete_files(sink.written)  # a batch rolled back takes its files along
        raise
    if refused is not None:
        # The batch is kept, the file's place taken by an error log line; the run fails with it.
        raise refused


def _apply(
    sink: sink_module.EventSink, *, run_id: str, owner_id: int, batch: list[ev.AgentEvent]
) -> limit_services.StorageQuotaExceeded | None:
    refused = None
    with transaction.atomic(), sink.batch():
        # Lock order everywhere: the run, then its chat (taken by reserve).
        if not Run.objects.select_for_update().filter(pk=run_id).exists():
            raise sink_module.StreamGone(f"run {run_id} no longer exists")
        first = sink.reserve(len(batch))
        messages = sink.step_messages(
            [(seq, event) for seq, event in enumerate(batch, start=first) if isinstance(event, ev.Step)]
        )
        run_fields: dict[str, Any] = {}
        for seq, event in enumerate(batch, start=first):
            match event:
                case ev.Step():
                    sink.step(event, seq=seq, message=messages.get(seq))
                    run_fields["current_step"] = event.step_type[:200]
                case ev.TextDelta():
                    sink.delta(event.text, seq=seq)
                case ev.Log():
                    level = event.level if event.level in Log.Level.values else Log.Level.INFO
                    sink.log(level=level, message=event.message, data=event.data, seq=seq)
                case ev.Artifact():
                    try:
                        sink.artifact(
                            owner_id=owner_id,
                            name=event.name,
                            content=event.content,
                            data=event.data,
                            media_type=event.media_type,
                            seq=seq,
                        )
                    except limit_services.StorageQuotaExceeded as exc:  # refused before its row
                        refused = refused or exc
                        sink.log(level=Log.Level.ERROR, source=Log.Source.SYSTEM, message=exc.detail, seq=seq)
                case ev.Progress():
                    run_fields["progress"] = max(0.0, min(100.0, float(event.percent)))
                    if event.current_step:
                        run_fields["current_step"] = event.current_step[:200]
                    if event.remaining_seconds is not None:
                        run_fields["estimated_completion_time"] = timezone.now() + datetime.timedelta(
                            seconds=max(0.0, event.remaining_seconds)
                        )
                    sink.progress(
                        progress=run_fields["progress"],
                        current_step=run_fields.get("current_step", ""),
                        estimated_completion_time=(
                            run_fields["estimated_completion_time"].isoformat()
                            if "estimated_completion_time" in run_fields
                            else None
                        ),
                        seq=seq,
                    )
                case ev.StateUpdate():
                    sink.state(event.state, seq=seq)
                case ev.Stats():
                    sink.stat(event.data, seq=seq)
                case _:
                    raise TypeError(f"run_apply cannot persist {type(event).__name__}")
        if run_fields:
            Run.objects.filter(pk=run_id).update(**run_fields, updated_at=timezone.now())
    return refused


def run_request_input(
    *, run_id: str, prompt: str, tool_call: ToolCallData | None = None, value: Any = None
) -> None:
    """The agent asks a question: the run waits in ``input_required``. ``tool_call``: the
    question is a front-end tool's call, which its event carries; ``value``: the question as a
    JSON value (``AgentContext.ask``), which its event carries too."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != Run.Status.RUNNING:
            raise sink_module.StreamGone(f"run {run_id} is not running")
        sink = sink_for(run)
        run.status = Run.Status.INPUT_REQUIRED
        run.input_prompt = prompt
        run.save(update_fields=["status", "input_prompt", "updated_at"])
        sink.question(prompt, tool_call=tool_call, value=value)
        sink.status(run)


def run_take_input(*, run_id: str) -> dict[str, Any] | None:
    """Take the input handed to a waiting run, if any has arrived."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).only("pending_input", "status").first()
        if run is None or run.is_terminal:
            raise sink_module.StreamGone(f"run {run_id} is over")
        value = run.pending_input
        if value is not None:
            Run.objects.filter(pk=run_id).update(pending_input=None)
        return value


def run_requeue(*, run_id: str, error: str, attempt: int, max_attempts: int, message: str = "") -> None:
    """An attempt that will be tried again: back to ``queued``, with a log line why (``message``,
    or one made of ``error``). With an ``error`` it failed and counts against ``max_attempts``;
    without, it was interrupted (a shutdown, an outage) and does not."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_terminal:
            return
        sink = sink_for(run)
        run.status = Run.Status.QUEUED
        # The failed attempt's progress is not the next one's.
        run.progress = 0.0
        run.current_step = f"waiting for attempt {attempt + 1}"
        fields = ["status", "progress", "current_step", "updated_at"]
        if error:
            run.failed_attempts += 1
            fields.append("failed_attempts")
        run.save(update_fields=fields)
        sink.log(
            level=Log.Level.WARNING,
            source=Log.Source.SYSTEM,
            message=message or f"Attempt {attempt} of {max_attempts} failed: {error}; retrying.",
        )
        sink.status(run)


_FINISH_SQL = f"""
UPDATE runs_run
SET status = %s, error = %s, finished_at = %s, updated_at = %s, input_prompt = '',
    pending_input = NULL, output = COALESCE(%s::jsonb, output),
    progress = CASE WHEN %s THEN 100.0 ELSE progress END
WHERE id = %s AND status NOT IN ({", ".join(f"'{s}'" for s in Run.TERMINAL)})
RETURNING {columns(Run)}
"""


def run_finish(
    *,
    run_id: str,
    status: str,
    final: ev.FinalAnswer | None = None,
    error: str = "",
    stats: dict[str, Any] | None = None,
    made_artifacts: bool = True,
) -> bool:
    """End a run (``succeeded``, ``failed`` or ``cancelled``); False if it had ended already.

    ``made_artifacts=False`` (the executor saw none) spares looking for artifacts to attach.
    """
    now = timezone.now()
    output = None
    if final is not None:
        # An agent's output need not be JSON (a datetime, a pydantic model): stored as its JSON
        # form or its text, not a TypeError that fails a run whose work is done.
        output = json.dumps(final.output if final.output is not None else final.content, default=jsonable)
    with transaction.atomic():
        # One statement ends it, unless it is over already (the row stays locked until commit).
        run = first(
            Run, _FINISH_SQL, [status, error, now, now, output, status == Run.Status.SUCCEEDED, run_id]
        )
        if run is None:
            return False
        sink = sink_for(run)
        with sink.batch():
            count = 1 + (final is not None) + bool(stats)
            seq = sink.reserve(count, chat_status=sink_module.SETTLE if run.chat_id else None)
            if final is not None:
                sink.answer(final.content, seq=seq, attach_made=made_artifacts)
                seq += 1
            if stats:
                sink.stat(stats, name=run.kind, seq=seq)
                seq += 1
            sink.status(run, seq=seq)
    return True


# --- what clients call ---------------------------------------------------------------------------


def run_cancel(*, run: Run) -> Run:
    """Cancel a run: it is ``cancelled`` at once, and its job is aborted (or never starts)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.is_terminal:
            raise Conflict(f"Run already {run.status}.")
        run.status = Run.Status.CANCELLED
        run.finished_at = timezone.now()
        run.pending_input = None
        run.save(update_fields=["status", "finished_at", "pending_input", "updated_at"])
        sink = sink_for(run)
        sink.status(run, seq=sink.reserve(1, chat_status=sink_module.SETTLE if run.chat_id else None))
        if run.job_id:
            # In the same transaction: the abort notification goes out on commit.
            queues.abort_job(run.job_id)
    return run


def run_cancel_if_going(*, run_id: Any) -> None:
    """Cancel a run unless it ended (or went) meanwhile: what a client that left, or a newer
    message, asks of a run it does not hold a lock on."""
    run = Run.objects.filter(pk=run_id).first()
    if run is not None and not run.is_terminal:
        try:
            run_cancel(run=run)
        except Conflict:
            pass  # it ended meanwhile


def run_delete(*, run: Run) -> None:
    """Delete a run (the admin's delete): cancelled first if active, its stored files after."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().filter(pk=run.pk).first()
        if locked is None:
            return
        if not locked.is_terminal:
            run_cancel(run=locked)
        names = [n for n in Artifact.objects.filter(run_id=locked.pk).values_list("file", flat=True) if n]
        Run.objects.filter(pk=locked.pk).delete()
        transaction.on_commit(lambda: storage.delete_files(names))


def run_provide_input(
    *, run: Run, text: str, artifact_ids: list[str] | None = None, value: Any = None
) -> Run:
    """Hand input to a run waiting in ``input_required``; 409 if it is not waiting. ``value``:
    the answer as the JSON value a client sent (``text`` its JSON), for ``Answer.value``."""
    pending: dict[str, Any] = {"text": text, "artifact_ids": artifact_ids or []}
    if value is not None:
        pending["value"] = value
    with transaction.atomic():
        updated = Run.objects.filter(pk=run.pk, status=Run.Status.INPUT_REQUIRED).update(
            status=Run.Status.RUNNING, pending_input=pending, input_prompt="", updated_at=timezone.now()
        )
        run.refresh_from_db()
        if not updated:
            raise Conflict(f"Run is not waiting for input (status: {run.status}).")
        sink = sink_for(run)
        sink.input(text)
        sink.status(run)
        sink.wake_input()
    return run


def run_logs_append(*, run: Run, items: list[dict[str, Any]]) -> list[Log]:
    """Append client-sent log lines to a run, in order, after the agent's own so far."""
    if len(items) > settings.UAI_MAX_LOGS_PER_REQUEST:
        raise InvalidInput(f"At most {settings.UAI_MAX_LOGS_PER_REQUEST} log lines per request.")
    created = []
    with transaction.atomic():
        # The run first, then its chat (by the sink), as the executor takes them: the other way
        # round, this transaction would hold the chat while the inserts wait for the run.
        if not Run.objects.select_for_update().filter(pk=run.pk).exists():
            raise NotFound("Run not found.")
        sink = sink_for(run)
        for item in items:
            log = sink.log(
                level=item.get("level") or Log.Level.INFO,
                message=item["message"],
                data=item.get("data"),
                source=Log.Source.CLIENT,
            )
            created.append(log)
    return created


def _store_uploads(*, run: Run, files: list[UploadedFile], stored: list[Artifact]) -> list[Artifact]:
    """Store each upload, adding it to ``stored`` at once: when a later one fails, the caller
    removes the files written before it."""
    for upload in files:
        stored.append(
            artifact_services.artifact_create(
                owner_id=run.owner_id,
                name=upload.name or "file",
                upload=upload,
                origin=Artifact.Origin.USER,
                chat_id=run.chat_id,
                run_id=run.id,
            )
        )
    return stored


def run_start(*, owner_id: int, agent: Agent, input: Any, files: list[UploadedFile] | None = None) -> Run:
    """Start a task run, with the user's files attached to it."""
    files = artifact_services.check_uploads(files or [])
    if files and not agent.accepts_files:
        raise InvalidInput(f"Agent {agent.name!r} does not take files.")
    stored: list[Artifact] = []
    try:
        with transaction.atomic():
            run = run_create(owner_id=owner_id, agent=agent, input=input)
            _store_uploads(run=run, files=files, stored=stored)
    except Exception:
        storage.delete_files(a.file.name for a in stored)
        raise
    return run


def run_input_with_files(*, run: Run, text: str, files: list[UploadedFile] | None = None) -> Run:
    """Answer a waiting run with text and files (409 when it is not waiting)."""
    if files and not run.agent.accepts_files:
        raise InvalidInput(f"Agent {run.agent_id!r} does not take files.")
    validate_text(text)  # an answer is a message: the same limit
    files = artifact_services.check_uploads(files or [])
    if run.status != Run.Status.INPUT_REQUIRED:
        raise Conflict(f"Run is not waiting for input (status: {run.status}).")
    stored: list[Artifact] = []
    try:
        with transaction.atomic():
            _store_uploads(run=run, files=files, stored=stored)
            return run_provide_input(run=run, text=text, artifact_ids=[str(a.id) for a in stored])
    except Exception:
        storage.delete_files(a.file.name for a in stored)
        raise


def run_retry(*, run: Run) -> Run:
    """Start a new task run like ``run``: same owner, agent, input and uploaded files.

    It goes through ``run_start``, as ``POST /run/`` does, so the agent must still be enabled
    (and take files, if the run had any).
    """
    agent = agent_selectors.agent_get(name=run.agent_id)
    uploads = Artifact.objects.filter(run_id=run.pk, origin=Artifact.Origin.USER).exclude(file="")
    with contextlib.ExitStack() as stack:
        files = [
            UploadedFile(
                stack.enter_context(upload.file.open("rb")),
                name=upload.name,
                content_type=upload.media_type,
                size=upload.size,
            )
            for upload in uploads.order_by("created_at")
        ]
        return run_start(owner_id=run.owner_id, agent=agent, input=run.input, files=files)
