"""Reads of chats and messages, always scoped to the asking user."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Window
from django.db.models.functions import RowNumber, Substr

from uai.agents import registry
from uai.agents.events import FINAL_ANSWER_STEP
from uai.agents.models import Agent
from uai.artifacts.models import Artifact
from uai.chats.models import PREVIEW_READ_CHARS, Chat, Message
from uai.runs.models import Log, Run, Stat
from uai_project.api import parse_uuid
from uai_project.errors import NotFound
from uai_project.sql import columns, first

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def chat_get(*, user: Any, chat_id: str) -> Chat:
    """The user's chat with its agent, or 404 (another user's chat is not found either)."""
    chat = chat_find(chat_id=chat_id)
    if chat is None or chat.owner_id != user.pk:
        raise NotFound("Chat not found.")
    return chat


def chat_find(*, chat_id: str) -> Chat | None:
    """The chat of that id with its agent, whoever owns it; None if there is none.

    Every chat request and turn starts here: one hand-written statement (0.15 ms of CPU; the
    ORM's ``select_related`` query took 0.7), the agent from the per-process registry as of its
    ``updated_at``.
    """
    # (``first`` sets the statement's further columns as attributes)
    chat = cast("WithAnnotations[Chat, _ChatFindColumns] | None", first(Chat, _CHAT_FIND, [chat_id]))
    if chat is not None:
        chat.agent = registry.agent_row(chat.agent_id, chat.agent_updated_at)
    return chat


class _ChatFindColumns(TypedDict):
    """What ``_CHAT_FIND`` selects besides the chat's columns."""

    agent_updated_at: datetime.datetime


_CHAT_FIND = (
    f"SELECT {columns(Chat, 'chat')}, agent.updated_at AS agent_updated_at FROM {Chat._meta.db_table} chat"
    f" JOIN {Agent._meta.db_table} agent ON agent.{Agent._meta.pk.column} = chat.agent_id"
    " WHERE chat.id = %s"
)


def chat_head(*, chat_id: str) -> tuple[int | None, int, datetime.datetime | None]:
    """The chat's owner, last sequence number and creation time (None, 0, None: no such chat)."""
    row = Chat.objects.filter(pk=chat_id).values_list("owner_id", "last_seq", "created_at").first()
    return (row[0], row[1], row[2]) if row else (None, 0, None)


def chat_list(*, user: Any, previews: bool = False) -> list[Chat]:
    """The user's chats, newest first, at most UAI_MAX_CHAT_LIST; ``previews``: each with
    ``preview``, the start of its first user message (None before one), read in the same query
    (index message_unique_chat_seq)."""
    chats = Chat.objects.filter(owner=user).order_by("-created_at")
    if previews:
        first_text = (
            Message.objects.filter(chat_id=OuterRef("pk"), role=Message.Role.USER)
            .order_by("seq")
            .values("content")[:1]
        )
        chats = chats.annotate(preview=Substr(Subquery(first_text), 1, PREVIEW_READ_CHARS + 1))
    return list(chats[: settings.UAI_MAX_CHAT_LIST])


@dataclass(frozen=True)
class ChatSummary:
    """What seed 002's workflow object tells of a chat besides the chat's own fields."""

    latest_run: Run | None
    message_ids: list[uuid.UUID]  # in order
    log_ids: list[int]  # in order


def chat_summaries(*, chats: Sequence[Chat]) -> list[ChatSummary]:
    """Each chat's summary, in the order of ``chats``: three queries however many (none for none)."""
    if not chats:
        return []
    ids = [chat.id for chat in chats]
    latest = {
        run.chat_id: run
        for run in Run.objects.filter(chat_id__in=ids).order_by("chat_id", "-created_at").distinct("chat_id")
    }
    message_ids: dict[str, list[uuid.UUID]] = {}
    for chat_id, message_id in (
        Message.objects.filter(chat_id__in=ids).order_by("chat_id", "seq").values_list("chat_id", "id")
    ):
        message_ids.setdefault(chat_id, []).append(message_id)
    log_ids: dict[str, list[int]] = {}
    for chat_id, log_id in (
        Log.objects.filter(chat_id__in=ids).order_by("chat_id", "seq", "id").values_list("chat_id", "id")
    ):
        log_ids.setdefault(chat_id, []).append(log_id)
    return [
        ChatSummary(
            latest_run=latest.get(chat.id),
            message_ids=message_ids.get(chat.id, []),
            log_ids=log_ids.get(chat.id, []),
        )
        for chat in chats
    ]


def chat_summary(*, chat: Chat) -> ChatSummary:
    """One chat's summary."""
    (summary,) = chat_summaries(chats=[chat])
    return summary


def chat_latest_run(*, chat: Chat) -> Run | None:
    """The chat's newest turn, whatever its status; None before its first."""
    return Run.objects.filter(chat_id=chat.id).order_by("-created_at").first()


@dataclass(frozen=True)
class ChatData:
    """Everything a chat holds, each kind oldest first: seed 002's ``chatData``."""

    messages: list[Message]
    message_files: dict[uuid.UUID, list[Artifact]]  # by message id
    logs: list[Log]
    stats: list[Stat]
    documents: list[Artifact]


def chat_data(*, chat: Chat, after: datetime.datetime | None = None) -> ChatData:
    """What the chat holds, or only what was created after ``after``; each table read off its
    ``(chat_id, created_at)`` index."""
    newer = {"created_at__gt": after} if after is not None else {}
    outer = connection.in_atomic_block  # (a caller's transaction decides how it reads)
    with transaction.atomic(), connection.cursor() as cursor:
        # One snapshot for every table: read one by one, a turn that ended in between showed
        # its stats but not its answer, and a poll after the newest time shown missed the answer
        # for good (both have the time of the batch that wrote them).
        if not outer:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        messages = list(Message.objects.filter(chat_id=chat.id, **newer).order_by("created_at", "seq"))
        return ChatData(
            messages=messages,
            message_files=message_files(messages),
            logs=list(Log.objects.filter(chat_id=chat.id, **newer).order_by("created_at", "seq")),
            stats=list(Stat.objects.filter(chat_id=chat.id, **newer).order_by("created_at", "seq")),
            documents=list(Artifact.objects.filter(chat_id=chat.id, **newer).order_by("created_at", "seq")),
        )


def history(*, chat: Chat) -> list[tuple[str, str, str | None, datetime.datetime]]:
    """The chat's conversation in order: ``(role, content, step_type, created_at)`` per message."""
    return list(
        Message.objects.filter(chat_id=chat.id)
        .order_by("seq")
        .values_list("role", "content", "step_type", "created_at")
    )


def message_list(
    *, chat: Chat, after_seq: int | None = None, run_id: Any = None, limit: int | None = None
) -> list[Message]:
    """A chat's messages in order (``message_files`` has their files); ``limit`` keeps the newest."""
    qs = Message.objects.filter(chat_id=chat.id)
    if after_seq is not None:
        qs = qs.filter(seq__gt=after_seq)
    if run_id is not None:
        qs = qs.filter(run_id=run_id)
    if limit is not None:
        return list(reversed(qs.order_by("-seq")[:limit]))
    return list(qs.order_by("seq"))


def message_page(
    *, chat: Chat, limit: int, newest_first: bool, after_seq: int | None = None
) -> tuple[list[Message], bool]:
    """Up to ``limit`` of a chat's messages in number order (or newest first), those past
    ``after_seq`` in that order, and whether more follow (``message_files`` has their files)."""
    qs = Message.objects.filter(chat_id=chat.id)
    if after_seq is not None:
        qs = qs.filter(seq__lt=after_seq) if newest_first else qs.filter(seq__gt=after_seq)
    rows = list(qs.order_by("-seq" if newest_first else "seq")[: limit + 1])  # one more: is there more?
    return rows[:limit], len(rows) > limit


def message_get(*, chat: Chat, message_id: str) -> Message:
    """One message of the chat, or 404."""
    message = Message.objects.filter(chat_id=chat.id, pk=parse_uuid(message_id, "Message")).first()
    if message is None:
        raise NotFound("Message not found.")
    return message


def message_seq(*, chat: Chat, message_id: uuid.UUID) -> int:
    """The number of one message of the chat (a client polls after it), or 404."""
    seq = Message.objects.filter(chat_id=chat.id, pk=message_id).values_list("seq", flat=True).first()
    if seq is None:
        raise NotFound("Message not found.")
    return seq


def run_user_messages(*, run_id: Any) -> list[Message]:
    """A turn's user messages in order: the one that started it, then each answer to a question
    it asked (the k-th question of a turn is asked after its k-th user message)."""
    return list(Message.objects.filter(run_id=run_id, role=Message.Role.USER).order_by("seq"))


def turn_of_client_message(*, chat: Chat, client_message_id: str) -> tuple[Run, int] | None:
    """The turn a user message of the chat with the client's id ``client_message_id`` started or
    answered, and which of the turn's user messages it is (0: the one that started it; k: the
    answer to its k-th question); None when no user message of the chat has that id."""
    message = (
        Message.objects.filter(
            chat_id=chat.id, role=Message.Role.USER, client_message_id=client_message_id, run__isnull=False
        )
        .order_by("-seq")
        .first()
    )
    if message is None or message.run_id is None:
        return None
    earlier = Message.objects.filter(
        run_id=message.run_id, role=Message.Role.USER, seq__lt=message.seq
    ).count()
    run = Run.objects.filter(pk=message.run_id).first()
    return None if run is None else (run, earlier)


def final_answer(*, run: Run) -> Message | None:
    """The last ``FinalAnswerStep`` message of a turn, if it gave one."""
    return Message.objects.filter(run_id=run.id, step_type=FINAL_ANSWER_STEP).order_by("-seq").first()


def client_message_ids(*, run_ids: list[str]) -> dict[str, str]:
    """For each run, the id the client gave its first message (or that message's own id)."""
    found: dict[str, str] = {}
    for run_id, client_id, pk in (
        Message.objects.filter(run_id__in=run_ids, role=Message.Role.USER)
        .order_by("seq")
        .values_list("run_id", "client_message_id", "id")
    ):
        found.setdefault(str(run_id), client_id or str(pk))
    return found


def message_files(messages: Sequence[Message]) -> dict[uuid.UUID, list[Artifact]]:
    """The files attached to ``messages``, by message id, oldest first, in one query (none for no
    messages). ``prefetch_related`` does the same but builds a related manager per message: a page
    of 50 cost ~1 ms more.
    """
    files: dict[uuid.UUID, list[Artifact]] = {}
    if messages:
        attached = Artifact.objects.filter(message_id__in=[m.id for m in messages]).order_by(
            "created_at", "seq"
        )
        for artifact in attached:
            if artifact.message_id is not None:  # (all of them: filtered by it)
                files.setdefault(artifact.message_id, []).append(artifact)
    return files


def run_messages(*, run_id: Any, newest: int | None = None) -> list[Message]:
    """A turn's messages in order: the user's (its start, its answers) and the agent's steps;
    only the ``newest`` N of them when given."""
    messages = Message.objects.filter(run_id=run_id)
    if newest is None:
        return list(messages.order_by("seq"))
    return list(reversed(messages.order_by("-seq")[:newest]))


def run_messages_of(*, run_ids: list[Any], newest: int | None = None) -> dict[str, list[Message]]:
    """``run_messages`` of several turns in one query, by run id (a page of A2A tasks); only the
    ``newest`` N of each when given (sliced in SQL)."""
    found: dict[str, list[Message]] = {str(run_id): [] for run_id in run_ids}
    messages = Message.objects.filter(run_id__in=run_ids)
    if newest is not None:
        messages = messages.annotate(
            newness=Window(RowNumber(), partition_by=[F("run_id")], order_by=F("seq").desc())
        ).filter(newness__lte=newest)
    for message in messages.order_by("run_id", "seq"):
        found[str(message.run_id)].append(message)
    return found


# --- a chat as a thread of runs' segments (LangGraph's API) -------------------------------------------


# What a conversation leaves out (LangGraph's thread values): the agent's steps but its final
# answers, and the user's answers to its questions (each a turn's user message after its first):
# the question and its answer are an interrupt and its resume there, not messages.
_NOT_SAID = Q(role=Message.Role.AGENT) & (Q(step_type__isnull=True) | ~Q(step_type=FINAL_ANSWER_STEP)) | Q(
    role=Message.Role.USER,
    run__isnull=False,
    answer=True,
)


def _said(messages: Any) -> Any:
    answers = Message.objects.filter(
        run_id=OuterRef("run_id"), role=Message.Role.USER, seq__lt=OuterRef("seq")
    )
    return messages.alias(answer=Exists(answers)).exclude(_NOT_SAID)


def conversation(*, chat: Chat, upto_seq: int | None = None) -> list[Message]:
    """The chat's conversation in order: the user's messages that started its turns, system
    messages and the agent's final answers (not its other steps, nor its questions and their
    answers); those numbered ``upto_seq`` or lower when it is given."""
    found = _said(Message.objects.filter(chat_id=chat.id))
    if upto_seq is not None:
        found = found.filter(seq__lte=upto_seq)
    return list(found.order_by("seq"))


def conversations(*, chats: Sequence[Chat]) -> dict[str, list[Message]]:
    """Each chat's ``conversation``, in one query."""
    found: dict[str, list[Message]] = {chat.id: [] for chat in chats}
    if found:
        for message in _said(Message.objects.filter(chat_id__in=list(found))).order_by("chat_id", "seq"):
            found[message.chat_id].append(message)
    return found


def latest_runs(*, chats: Sequence[Chat]) -> dict[str, Run]:
    """Each chat's newest turn (chats without one are left out), in one query."""
    ids = [chat.id for chat in chats]
    if not ids:
        return {}
    newest = Run.objects.filter(chat_id__in=ids).order_by("chat_id", "-created_at").distinct("chat_id")
    return {str(run.chat_id): run for run in newest}


@dataclass(frozen=True)
class Segment:
    """A part of a turn: from its starting user message (the turn's, or the answer to its k-th
    question) to its next question or its end. ``latest``: no answer followed it yet."""

    message: Message
    turn: Run
    index: int
    latest: bool


def chat_segments(*, chat: Chat) -> list[Segment]:
    """Every segment of the chat's turns, newest first."""
    messages = list(
        Message.objects.filter(chat_id=chat.id, role=Message.Role.USER, run__isnull=False)
        .select_related("run")
        .order_by("seq")
    )
    counts: dict[Any, int] = {}
    for message in messages:
        counts[message.run_id] = counts.get(message.run_id, 0) + 1
    seen: dict[Any, int] = {}
    segments = []
    for message in messages:
        index = seen.get(message.run_id, 0)
        seen[message.run_id] = index + 1
        run = cast(Run, message.run)
        segments.append(Segment(message, run, index, index == counts[message.run_id] - 1))
    return segments[::-1]


def segment_get(*, chat: Chat, message_id: str) -> Segment | None:
    """The segment of the chat that user message ``message_id`` started; None when none did."""
    key = parse_uuid(message_id, "Run")
    message = (
        Message.objects.filter(pk=key, chat_id=chat.id, role=Message.Role.USER, run__isnull=False)
        .select_related("run")
        .first()
    )
    if message is None or message.run is None or message.run_id is None:
        return None
    others = list(
        Message.objects.filter(run_id=message.run_id, role=Message.Role.USER).values_list("seq", flat=True)
    )
    index = sum(1 for seq in others if seq < message.seq)
    return Segment(message, message.run, index, index == len(others) - 1)


def segment_at(*, chat: Chat, run_id: Any, index: int) -> Segment | None:
    """The ``index``-th segment of a turn of the chat (0: the one its user message started; k:
    the one its answer to the k-th question started; -1: its newest); None when there is none."""
    started = list(
        Message.objects.filter(chat_id=chat.id, run_id=run_id, role=Message.Role.USER)
        .select_related("run")
        .order_by("seq")
    )
    if not -len(started) <= index < len(started) or started[index].run is None:
        return None
    index %= len(started)
    return Segment(started[index], cast(Run, started[index].run), index, index == len(started) - 1)


def chat_search(
    *, user: Any, metadata: dict[str, Any] | None, ids: list[str] | None, limit: int, offset: int
) -> list[Chat]:
    """The user's chats whose metadata holds ``metadata`` (JSON containment), newest first (at
    most UAI_MAX_CHAT_LIST)."""
    limit = min(limit, settings.UAI_MAX_CHAT_LIST)
    found = Chat.objects.filter(owner_id=user.pk).select_related("agent")
    if metadata:
        found = found.filter(metadata__contains=metadata)
    if ids is not None:
        found = found.filter(pk__in=ids)
    return list(found.order_by("-updated_at")[offset : offset + limit])
