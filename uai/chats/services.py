"""Writes of chats: creating, sending a turn, deleting, and sessionless calls."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from uai.agents import events as ev
from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.artifacts import services as artifact_services
from uai.artifacts import storage
from uai.artifacts.models import Artifact
from uai.chats import cache as conversation_cache
from uai.chats import selectors
from uai.chats.models import Chat, Message
from uai.chats.validators import validate_chat_id, validate_text
from uai.limits import services as limit_services
from uai.runs import queues
from uai.runs import services as run_services
from uai.runs import sink as sink_module
from uai.runs.models import Run
from uai.runs.subscriptions import Subscription
from uai_project.api import parse_uuid
from uai_project.errors import Conflict, InvalidInput, NotFound, Timeout

__all__ = ["Conflict", "validate_chat_id"]  # for the dialects that create chats by id


def chat_create(
    *,
    owner_id: int,
    agent_name: str | None = None,
    agent: Agent | None = None,
    chat_id: str | None = None,
    name: str = "",
    description: str = "",
    mode: str = "",
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    double_texting: str = "",
) -> Chat:
    """Create a chat for ``owner`` with the named agent (the default agent when none is named),
    or with ``agent`` when the caller has read it already. ``double_texting``: what a message
    does while its turn is going (blank: the server's UAI_DOUBLE_TEXTING)."""
    agent = agent or agent_selectors.agent_get(name=agent_name)
    fields: dict[str, Any] = {
        "owner_id": owner_id,
        "agent": agent,
        "name": name,
        "description": description,
        "mode": mode,
        "metadata": metadata or {},
        "tags": tags or [],
    }
    if double_texting:
        fields["double_texting"] = double_texting
    if chat_id is None:
        # A server-made id collides with nothing: one INSERT, without a transaction of its own
        # (BEGIN and COMMIT were two of a stateless OpenAI call's round trips).
        return Chat.objects.create(**fields)
    fields["id"] = validate_chat_id(chat_id)
    if Chat.objects.filter(pk=chat_id).exists():
        raise Conflict(f"Chat {chat_id!r} already exists.")
    try:
        with transaction.atomic():  # a savepoint when the caller has a transaction
            return Chat.objects.create(**fields)
    except IntegrityError as exc:  # another request created that id since the check above
        raise Conflict(f"Chat {chat_id!r} already exists.") from exc


def chat_start(
    *,
    owner_id: int,
    agent: Agent,
    chat_id: str,
    name: str,
    text: str,
    files: list[UploadedFile] | None = None,
    before: list[tuple[str, str]] | None = None,
    request: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    client_message_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> tuple[Chat, Run, Message]:
    """A new chat and its first turn, committed together: a stateless client's call (an OpenAI
    chat completion), a front end's new thread (with its ``state``). One commit, not two; a
    refused turn leaves no empty chat behind. ``chat_id``: a server-made id (``new_chat_id``) or
    the client's (an AG-UI thread id), known before the call so that the caller can listen to the
    chat before its first event; a client's id taken meanwhile is an ``IntegrityError``."""
    chat = Chat(
        id=chat_id, owner_id=owner_id, agent=agent, name=name, state=state or {}, metadata=metadata or {}
    )
    run, message = chat_send(
        chat=chat,
        text=text,
        files=files,
        before=before,
        request=request,
        client_message_id=client_message_id,
        new=True,
    )
    return chat, run, message


def chat_find_or_create(*, owner_id: int, chat_id: str, agent_name: str | None = None) -> Chat:
    """The chat of a client-chosen id, created for ``owner_id`` on first use — whoever owns it
    (the caller decides what another user's chat means in its dialect)."""
    chat = selectors.chat_find(chat_id=chat_id)
    if chat is not None:
        return chat
    validate_chat_id(chat_id)
    try:
        return chat_create(owner_id=owner_id, agent_name=agent_name, chat_id=chat_id)
    except Conflict:  # another request created it a moment ago
        chat = selectors.chat_find(chat_id=chat_id)
        if chat is None:
            raise
        return chat


def chat_send(
    *,
    chat: Chat,
    text: str,
    files: list[UploadedFile] | None = None,
    client_message_id: str = "",
    answering: Run | None = None,
    before: list[tuple[str, str]] | None = None,
    request: dict[str, Any] | None = None,
    new: bool = False,
    double_texting: str | None = None,
    answer_value: Any = None,
    drop_question: bool = False,
) -> tuple[Run, Message]:
    """Add the user's message to the chat and start a turn — or, when the chat's agent is waiting
    for input, hand the message to it as that input. Returns the run and the message.

    ``answering``: the message must answer that run's question (409 when it is not waiting),
    never start a turn (``POST /run/{turn}/input``).
    ``before``: ``(role, content)`` messages added just before the user's, as the chat's past
    (the history a stateless client sends, instructions as a system message): the agent sees them.
    ``request``: how the dialect was asked for a new turn (``Run.request``).
    ``new``: ``chat`` is not stored yet: it is inserted in the turn's transaction (``chat_start``).
    ``double_texting``: what the message does to the chat's turns still going (``make_way``);
    None: the chat's own choice, else the server's (UAI_DOUBLE_TEXTING).
    ``answer_value``: the answer as the JSON value the client sent (``text`` is its JSON), for
    the agent's ``Answer.value``.
    ``drop_question``: a turn waiting for input is cancelled (its question left unanswered)
    and the message starts a new turn (LangGraph's new input on an interrupted thread); in the
    message's transaction, under the turns' locks, so a refused message drops nothing.
    """
    strategy = double_texting_of(chat, double_texting)
    validate_text(text)
    before = before or []
    for _, content in before:
        validate_text(content)
    files = artifact_services.check_uploads(files or [])
    sink: sink_module.EventSink | None = None
    try:
        with transaction.atomic():
            if new:
                chat.save(force_insert=True)
            # Only a running chat can have a run waiting for input (it turns running when a run starts).
            waiting = None
            if answering is not None:
                waiting = Run.objects.select_for_update().filter(pk=answering.pk).first()
                if waiting is None or waiting.status != Run.Status.INPUT_REQUIRED:
                    status = waiting.status if waiting is not None else "deleted"
                    raise Conflict(f"Run is not waiting for input (status: {status}).")
            elif strategy != Chat.DoubleTexting.ENQUEUE and not new:
                # The user's lock of their turn limit first (run_new takes it again, below): the
                # order chat_answer takes them in, so neither waits on the other's chat lock.
                limit_services.hold_starts(owner_id=chat.owner_id, kind=Run.Kind.TURN)
                waiting = make_way(chat, strategy, drop_question=drop_question)
            elif chat.status == Chat.Status.RUNNING:
                asking = (
                    Run.objects.select_for_update()
                    .filter(chat_id=chat.id, status=Run.Status.INPUT_REQUIRED)
                    .order_by("created_at")
                )
                if drop_question:
                    for run in list(asking):
                        run_services.run_cancel(run=run)
                else:
                    waiting = asking.first()
            if files:  # for the agent that gets them: the waiting run's (an inference run's may differ)
                agent = waiting.agent if waiting is not None else chat.agent
                if not agent.accepts_files:
                    raise InvalidInput(f"Agent {agent.name!r} does not take files.")
            run = waiting or run_services.run_new(
                owner_id=chat.owner_id, agent=chat.agent, input=text, chat=chat, request=request
            )
            sink = sink_module.EventSink(chat_id=chat.id, run_id=run.id)
            with sink.batch():
                # The new run's first status and the message: numbered together, inserted together.
                seq = sink.reserve((1 if waiting else 2) + len(before))
                if waiting is None:
                    sink.status(run, seq=seq)
                    seq += 1
                for role, content in before:
                    step_type = ev.FINAL_ANSWER_STEP if role == Message.Role.AGENT else None
                    sink.message(role=role, content=content, step_type=step_type, seq=seq, of_run=False)
                    seq += 1
                message, attached = sink.message(
                    role=Message.Role.USER,
                    content=text,
                    client_message_id=client_message_id[:200],
                    owner_id=chat.owner_id,
                    uploads=files,
                    seq=seq,
                )
            if waiting is not None:
                run_services.run_provide_input(
                    run=waiting, text=text, artifact_ids=[str(a.id) for a in attached], value=answer_value
                )
    except Exception:
        if sink is not None:
            storage.delete_files(sink.written)
        raise
    return run, message


_RACE_TRIES = 5  # a sender that keeps finding new turns (others' sends) gives up with a 409


class _Raced(Exception):
    """A turn was added to the chat between the lock of its going turns and the chat's: the
    sender tries again (with that turn locked too)."""


_STRATEGIES = frozenset(Chat.DoubleTexting.values)  # (the enum's ``values`` is rebuilt per call)


def double_texting_of(chat: Chat, asked: Any = None) -> str:
    """The strategy a message to ``chat`` follows: the request's, else the chat's, else the
    server's (UAI_DOUBLE_TEXTING). An unknown value is a 400."""
    if asked is not None:  # (false, 0 or "" are refused, not taken for "not given")
        return valid_double_texting(asked)
    if not chat.double_texting:
        return settings.UAI_DOUBLE_TEXTING  # (checked at start-up) the usual case, on every turn
    return valid_double_texting(chat.double_texting)


def valid_double_texting(strategy: Any) -> str:
    """``strategy`` if it is one of Chat.DoubleTexting's values, else a 400 saying which are."""
    if not isinstance(strategy, str) or strategy not in _STRATEGIES:
        choices = ", ".join(Chat.DoubleTexting.values)
        raise InvalidInput(f"double_texting must be one of {choices}, not {strategy!r}.")
    return strategy


def make_way(chat: Chat, strategy: str, *, drop_question: bool = False) -> Run | None:
    """Deal with the chat's turns still going before a new message starts one, by ``strategy``
    (not ``enqueue``, which leaves them be: the new turn runs after them). Returns the turn
    waiting for input, if any: the message is that input, whatever the strategy.

    ``reject``: a 409 ``Conflict`` whose ``run_id`` is the going turn (the running one, else the
    oldest queued). ``interrupt``: every going turn is cancelled — what it did stays in the
    chat — and its job aborted; the new turn starts once the worker has stopped it (turns of a
    chat hold one queue lock). ``rollback``: cancelled, then deleted with everything it added
    (``roll_back``).

    Locks the going turns, then the chat (the lock order everywhere), held to commit: of two
    messages sent at once, the second waits for the first to commit and then finds its turn.
    A turn added between the two locks is not locked: they are taken again (``_Raced``).
    """
    going = lock_going(chat, strategy)
    if drop_question:  # (``chat_send``'s): the question is cancelled, the message is no answer
        for run in going:
            if run.status == Run.Status.INPUT_REQUIRED:
                run_services.run_cancel(run=run)
        going = [run for run in going if run.status != Run.Status.INPUT_REQUIRED]
    waiting = next((run for run in going if run.status == Run.Status.INPUT_REQUIRED), None)
    if waiting is None:
        settle_going(chat, strategy, going)
    return waiting


def lock_going(chat: Chat, strategy: str) -> list[Run]:
    """The chat's going turns, oldest first, locked, and then the chat locked (see ``make_way``).
    Call it inside the caller's transaction, before it has locked anything of the chat."""
    for _ in range(_RACE_TRIES):
        try:
            # A savepoint: rolled back, the locks taken in it go too, and the next try takes the
            # new turn's lock before the chat's.
            with transaction.atomic():
                return _lock_going(chat, strategy)
        except _Raced:
            continue
    raise Conflict("The chat's turns kept changing; send the message again.")


def _lock_going(chat: Chat, strategy: str) -> list[Run]:
    going = list(
        Run.objects.select_for_update()
        .filter(chat_id=chat.id, status__in=Run.ACTIVE)
        .order_by("created_at")
        .only("id", "status", "job_id", "chat_id", "agent_id")
    )
    if not Chat.objects.select_for_update().filter(pk=chat.id).values_list("pk", flat=True):
        raise NotFound("Chat not found.")
    now = list(
        Run.objects.filter(chat_id=chat.id, status__in=Run.ACTIVE)
        .order_by("created_at")
        .values_list("id", "status")
    )
    locked = {run.id for run in going}
    if any(run_id not in locked for run_id, _ in now):
        if strategy == Chat.DoubleTexting.REJECT:  # refused whatever the new turn is: no retry
            _reject([run_id for run_id, status in now if status == Run.Status.RUNNING] or [now[0][0]])
        raise _Raced
    return going


def settle_going(chat: Chat, strategy: str, going: list[Run]) -> None:
    """Reject the new message, or cancel (and roll back) the ``going`` turns (see ``make_way``)."""
    if not going or strategy == Chat.DoubleTexting.ENQUEUE:
        return
    if strategy == Chat.DoubleTexting.REJECT:
        _reject([run.id for run in going if run.status == Run.Status.RUNNING] or [going[0].id])
    for run in going:
        run_services.run_cancel(run=run)
    if strategy == Chat.DoubleTexting.ROLLBACK:
        roll_back(chat, [run.id for run in going])


def _reject(run_ids: list[Any]) -> None:
    raise Conflict(
        f"The chat's turn {run_ids[0]} is still going (double_texting: reject).",
        extra={"run_id": str(run_ids[0])},
    )


# What a request that started a turn learns when a newer message rolled that turn back.
ROLLED_BACK = "The turn was rolled back: a newer message replaced it (double_texting: rollback)."


def roll_back(chat: Chat, run_ids: list[Any]) -> None:
    """Delete cancelled turns and everything they added: their messages (the user's that started
    them too), files, events, logs and figures, and the runs themselves. The chat's stream says
    which messages went (``message.deleted``, at new numbers); the numbers of the deleted events
    are never used again, so a client resuming after one of them gets what followed it."""
    messages = list(Message.objects.filter(chat_id=chat.id, run_id__in=run_ids).values_list("id", flat=True))
    artifacts = Artifact.objects.filter(run_id__in=run_ids)
    names = [name for name in artifacts.values_list("file", flat=True) if name]
    artifacts.delete()
    Message.objects.filter(pk__in=messages).delete()
    Run.objects.filter(pk__in=run_ids).delete()  # their events, logs and stats go with them
    if messages:
        sink = sink_module.EventSink(chat_id=chat.id)
        with sink.batch():
            first = sink.reserve(len(messages))
            for offset, message_id in enumerate(messages):
                sink.message_deleted(message_id, seq=first + offset)
    transaction.on_commit(lambda: storage.delete_files(names))
    transaction.on_commit(lambda: conversation_cache.forget(chat.id, chat.created_at))


def _cancel_active_runs(chat: Chat) -> None:
    # Every active run is locked before the chat (the lock order everywhere: runs, then their
    # chat). Cancelling them one by one would hold the chat, from the first cancel, while waiting
    # for the next run — which its executor may hold while it waits for the chat.
    runs = Run.objects.select_for_update().filter(chat_id=chat.id, status__in=Run.ACTIVE).order_by("id")
    for run in list(runs):
        try:
            run_services.run_cancel(run=run)
        except Conflict:
            pass  # it ended meanwhile


def chat_delete(*, chat: Chat) -> None:
    """Delete a chat: cancel its work in flight, remove its records and stored files."""
    with transaction.atomic():
        _cancel_active_runs(chat)
        # The chat's row before its rows are gathered (after its runs: the lock order), so a
        # writer of the chat that holds it commits first and its rows are gathered too: gathered
        # before, its new row is left referencing a deleted chat, a foreign-key violation.
        if not Chat.objects.select_for_update().filter(pk=chat.id).values_list("pk", flat=True):
            return  # deleted meanwhile
        names = [
            name for name in Artifact.objects.filter(chat_id=chat.id).values_list("file", flat=True) if name
        ]
        Chat.objects.filter(pk=chat.id).delete()
        # The followers first: files on slow storage would hold their end back, and the id is
        # anyone's from the commit on.
        sink_module.chat_gone_after_commit(chat.id)
        transaction.on_commit(lambda: storage.delete_files(names))
        transaction.on_commit(lambda: conversation_cache.forget(chat.id, chat.created_at))


def chat_next(
    *,
    agent: Agent,
    text: str,
    run_input: Any,
    state: dict[str, Any],
    files: list[UploadedFile] | None = None,
) -> dict[str, Any]:
    """A sessionless turn: run the agent as a job and return its result; nothing is stored."""
    validate_text(text)
    files = artifact_services.check_uploads(files or [])
    if files and not agent.accepts_files:
        raise InvalidInput(f"Agent {agent.name!r} does not take files.")
    encoded = [
        {
            "name": storage.clean_name(f.name or "file"),
            "media_type": storage.guess_media_type(f.name or "", f.content_type),
            "content_b64": base64.b64encode(f.read()).decode(),
        }
        for f in files
    ]
    payload = {"agent": agent.name, "text": text, "input": run_input, "state": state, "files": encoded}
    result = async_to_sync(_call_ephemeral)(payload, settings.UAI_TURN_WAIT_SECONDS)
    if result is None:
        raise Timeout("The agent did not answer in time.")
    if result["state"] is None:
        result["state"] = _default_state(state, text, result)
    return result


async def _call_ephemeral(payload: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    async with Subscription() as subscription:
        job_id = await sync_to_async(queues.defer_ephemeral)(
            {**payload, "reply_channel": subscription.channel}
        )
        message = await subscription.get(timeout=timeout)
    if message is None:
        await sync_to_async(queues.abort_job)(job_id)
        return None
    result: dict[str, Any] = message["result"]  # what sink.reply sent
    return result


def _default_state(state: dict[str, Any], text: str, result: dict[str, Any]) -> dict[str, Any]:
    """An agent that keeps no state of its own: the conversation so far, as ``messages``."""
    messages = state.get("messages", [])
    if not isinstance(messages, list):
        return state
    answer = result["steps"][-1]["content"] if result["steps"] else ""
    return {
        **state,
        "messages": [*messages, {"role": "user", "content": text}, {"role": "assistant", "content": answer}],
    }


def chat_update(*, chat: Chat, fields: dict[str, Any]) -> Chat:
    """Change a chat's descriptive fields (name, description, tags, metadata, mode) or its
    ``double_texting``."""
    for name, value in fields.items():
        setattr(chat, name, value)
    chat.save(update_fields=[*fields, "updated_at"])
    return chat


def chat_stop(*, chat: Chat) -> Chat:
    """Stop a chat's work: cancel its active runs; the chat is ``stopped`` (a new turn resumes it)."""
    with transaction.atomic():
        _cancel_active_runs(chat)
        chat.status = Chat.Status.STOPPED
        chat.stopped_at = timezone.now()
        chat.save(update_fields=["status", "stopped_at", "updated_at"])
    return chat


def message_delete(*, chat: Chat, message: Message) -> None:
    """Remove one message of a chat, with its files."""
    with transaction.atomic():
        # The chat's row first (its event's number), then its messages: the order a chat's
        # deletion takes them in. Message first, a deletion of the chat at once deadlocked.
        sink = sink_module.EventSink(chat_id=chat.id)
        seq = _reserve_in_chat(sink)
        names = [a.file.name for a in message.files.all() if a.file]
        message.files.all().delete()
        message.delete()
        sink.message_deleted(message.id, seq=seq)
        transaction.on_commit(lambda: storage.delete_files(names))
        transaction.on_commit(lambda: conversation_cache.forget(chat.id, chat.created_at))


def _reserve_in_chat(sink: sink_module.EventSink) -> int:
    """The chat's next event number, its row locked; a chat deleted meanwhile (the lock waited
    for its deletion) is a 404, as it would have been a moment earlier."""
    try:
        return sink.reserve(1)
    except sink_module.StreamGone as exc:
        raise NotFound(f"Chat {sink.chat_id!r} no longer exists.") from exc


def message_file_delete(*, chat: Chat, message: Message, artifact: Artifact) -> None:
    """Remove one file from a message (the stored bytes go too)."""
    with transaction.atomic():
        sink = sink_module.EventSink(chat_id=chat.id)
        seq = _reserve_in_chat(sink)  # (the chat's row first, as in message_delete)
        name = artifact.file.name if artifact.file else ""
        artifact.delete()
        sink.file_deleted(message_id=message.id, artifact_id=artifact.id, seq=seq)
        transaction.on_commit(lambda: storage.delete_files([name]))


def copy_artifacts(*, owner_id: int, artifact_ids: list[str]) -> list[UploadedFile]:
    """The user's existing artifacts of those ids, as uploads to attach to a new message.

    The upload limits are checked on the records before any file is read: a short list could
    otherwise name one large file thousands of times, all read into memory first.
    """
    ids = [parse_uuid(artifact_id, "File") for artifact_id in artifact_ids]
    found = {a.id: a for a in Artifact.objects.filter(pk__in=set(ids), owner_id=owner_id)}  # one query
    if unknown := next((raw for raw, pk in zip(artifact_ids, ids, strict=True) if pk not in found), None):
        raise InvalidInput(f"Unknown file {unknown!r}.")
    # The records carry the count and sizes the upload limits are about.
    artifacts = artifact_services.check_uploads(found[pk] for pk in ids)
    uploads: list[UploadedFile] = []
    for artifact in artifacts:
        try:
            content = artifact_services.read_bytes(artifact)
        except FileNotFoundError as exc:  # its stored file is gone (removed from the disk)
            raise InvalidInput(f"File {artifact.name!r} is no longer stored.") from exc
        uploads.append(SimpleUploadedFile(artifact.name, content, content_type=artifact.media_type))
    return uploads


def message_add(*, chat: Chat, role: str, content: str, step_type: str | None = None) -> Message:
    """Add a message to a chat without running its agent (seed 004's conversations/create)."""
    validate_text(content)
    with transaction.atomic():
        message, _ = sink_module.EventSink(chat_id=chat.id).message(
            role=role, content=content, step_type=step_type
        )
    return message


def messages_add(*, chat: Chat, messages: Sequence[tuple[str, str, str | None]]) -> list[Message]:
    """Add ``(role, content, step_type)`` messages to a chat, in order, without running its agent:
    all of them or none (a client's items, added to a conversation at once)."""
    for _, content, _ in messages:
        validate_text(content)
    if not messages:
        return []
    with transaction.atomic():
        sink = sink_module.EventSink(chat_id=chat.id)
        with sink.batch():
            seq = sink.reserve(len(messages))
            return [
                sink.message(role=role, content=content, step_type=step_type, seq=seq + offset)[0]
                for offset, (role, content, step_type) in enumerate(messages)
            ]


def chat_create_with_messages(
    *, owner_id: int, metadata: dict[str, Any], messages: Sequence[tuple[str, str, str | None]]
) -> Chat:
    """A new chat of the default agent with its first messages (``messages_add``): both or
    neither, so that a refused message leaves no empty chat behind."""
    for _, content, _ in messages:
        validate_text(content)  # before anything is written
    with transaction.atomic():
        chat = chat_create(owner_id=owner_id, metadata=metadata)
        messages_add(chat=chat, messages=messages)
    return chat


def chat_answer(
    *, chat: Chat, agent: Any = None, resuming: bool = False, double_texting: str | None = None
) -> tuple[Run, int, bool]:
    """The run of the agent (the chat's, or ``agent``) on the chat's latest user message: a new
    one, unless that agent has already answered it or is answering it — or failed or was
    cancelled, and the client is ``resuming`` a stream of it (asked afresh, it tries again).

    Returns the run, the chat's event number to stream its answer from, and whether the run is
    new. A GET (seed 004's SSE inference) is asked again whenever an ``EventSource`` reconnects:
    it must not store one more answer each time.

    A new run deals with the chat's other turns still going by ``double_texting`` (see
    ``chat_send``): an answer already given or going is no new turn, whatever the strategy.
    """
    agent = agent or chat.agent
    strategy = double_texting_of(chat, double_texting)
    with transaction.atomic():
        # The user's lock of their turn limit before the chat, in the order chat_send takes them
        # (run_new counts under the user's lock, then the sink locks the chat): the other way
        # round, a turn sent meanwhile and this answer could each wait for the other.
        limit_services.hold_starts(owner_id=chat.owner_id, kind=Run.Kind.TURN)
        # With a strategy other than enqueue, the chat's going turns are locked next, then the
        # chat (the lock order).
        going = lock_going(chat, strategy) if strategy != Chat.DoubleTexting.ENQUEUE else []
        # The chat first: two requests at once answer a message once (runs are only inserted).
        after = Chat.objects.select_for_update().filter(pk=chat.id).values_list("last_seq", flat=True).get()
        latest = chat.messages.filter(role=Message.Role.USER).order_by("-seq").first()
        if latest is None:
            raise InvalidInput("The chat has no Human message to answer.")
        answering = (
            Run.objects.filter(chat_id=chat.id, agent_id=agent.name)
            .filter(Q(pk=latest.run_id) | Q(created_at__gte=latest.created_at))
            .order_by("-created_at")
            .first()
        )
        failed = answering is not None and answering.status in (Run.Status.FAILED, Run.Status.CANCELLED)
        if answering is not None and (resuming or not failed):
            return answering, latest.seq, False
        if going:
            settle_going(chat, strategy, going)
            if strategy == Chat.DoubleTexting.ROLLBACK:
                # The rolled-back turn may have been this message's (another agent's answer).
                latest = chat.messages.filter(role=Message.Role.USER).order_by("-seq").first()
                if latest is None:
                    raise InvalidInput("The chat has no Human message to answer.")
            after = Chat.objects.filter(pk=chat.id).values_list("last_seq", flat=True).get()
        run = run_services.run_create(owner_id=chat.owner_id, agent=agent, input=latest.content, chat=chat)
        # The message is this run's question (unless an earlier run already answered it).
        Message.objects.filter(pk=latest.pk, run__isnull=True).update(run=run)
    return run, after, True
