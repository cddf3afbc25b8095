"""Lock order: a run, then its chat — everywhere, so that no two writers wait on each other.

The executor locks a turn's run and then its chat (``run_apply``, ``run_finish``); each test here
holds the locks in that order from another connection, as the executor would, while the request
code under test runs, and fails on PostgreSQL's ``deadlock detected``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection

from uai.runs.models import Run


def _waiting_on_a_lock(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def _started_until_it_waits(dsn: str, target: Callable[[], Any], what: str) -> threading.Thread:
    """``target`` on a thread of its own, once it waits on a lock (or has ended)."""
    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(dsn) and thread.is_alive():
        assert time.monotonic() < deadline, f"{what} never waited on a lock"
        time.sleep(0.02)
    return thread


def _as_the_executor(run_id: Any, chat_id: str, request: Callable[[], Any]) -> None:
    """Lock the run, let ``request`` start and wait on a lock, then lock the chat and commit."""
    dsn = connection.connection.info.dsn if connection.connection else None
    if dsn is None:
        connection.ensure_connection()
        dsn = connection.connection.info.dsn
    errors: list[BaseException] = []

    def call() -> None:
        try:
            request()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with psycopg.connect(dsn) as executor:
        executor.execute("SELECT 1 FROM runs_run WHERE id = %s FOR UPDATE", [run_id])
        thread = _started_until_it_waits(dsn, call, "the request")
        try:
            executor.execute("UPDATE chats_chat SET last_seq = last_seq WHERE id = %s", [chat_id])
            executor.commit()
        except psycopg.errors.DeadlockDetected as exc:
            errors.append(exc)
        thread.join(15)
    assert not thread.is_alive()
    assert errors == [], errors


def _chat_with_runs(username: str, turns: int) -> tuple[Any, list[Any]]:
    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.chats.models import Chat
    from uai.chats.services import chat_create, chat_send

    user = get_user_model().objects.create(username=username)
    Agent.objects.get_or_create(
        name="parked", defaults={"target": "uai.agents.builtin.echo:echo", "queue": "parked"}
    )
    chat = chat_create(owner_id=user.pk, agent_name="parked")
    runs = [chat_send(chat=Chat.objects.get(pk=chat.pk), text=f"turn {i}")[0] for i in range(turns)]
    return chat, runs


@pytest.mark.django_db(transaction=True)
def test_chat_stop__locks_every_active_run_before_the_chat() -> None:
    """Stopping a chat with a running turn and a queued one, while the running turn's executor
    writes: the stop cancelled the newest run first, holding the chat while it waited for the
    older one — which the executor held while it waited for the chat."""
    from uai.chats.models import Chat
    from uai.chats.services import chat_stop

    chat, (running, _queued) = _chat_with_runs("stopper", 2)
    Run.objects.filter(pk=running.pk).update(status=Run.Status.RUNNING)
    _as_the_executor(running.id, chat.id, lambda: chat_stop(chat=Chat.objects.get(pk=chat.pk)))
    assert set(Run.objects.filter(chat_id=chat.id).values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.django_db(transaction=True)
def test_run_logs__a_turns_logs_lock_the_run_before_its_chat() -> None:
    """``POST /run/{turn}/logs`` while the turn's executor writes: the logs took the chat first,
    and their rows' foreign key then waited for the run at commit."""
    from uai.runs.models import Log
    from uai.runs.services import run_logs_append

    chat, (turn,) = _chat_with_runs("logger", 1)
    Run.objects.filter(pk=turn.pk).update(status=Run.Status.RUNNING)
    _as_the_executor(
        turn.id, chat.id, lambda: run_logs_append(run=Run.objects.get(pk=turn.pk), items=[{"message": "hi"}])
    )
    assert list(Log.objects.filter(run_id=turn.id).values_list("message", flat=True)) == ["hi"]


@pytest.mark.django_db(transaction=True)
def test_chat_find_or_create__the_same_new_id_from_two_requests_at_once() -> None:
    """Two requests create a client-chosen id at once (seed 003's conversation_id): the second
    one's insert failed on the key, an IntegrityError (a 500) where a Conflict means "found"."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from uai.chats.services import chat_create, chat_find_or_create

    user = get_user_model().objects.create(username="twice")
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    created = threading.Event()
    found: list[Any] = []

    def first() -> None:
        try:
            with transaction.atomic():
                chat_create(owner_id=user.pk, chat_id="at-once")
                created.set()
                deadline = time.monotonic() + 10
                while not _waiting_on_a_lock(dsn) and time.monotonic() < deadline:
                    time.sleep(0.02)  # until the second one's insert waits for this one's key
        finally:
            connection.close()

    def second() -> None:
        try:
            found.append(chat_find_or_create(owner_id=user.pk, chat_id="at-once"))
        except BaseException as exc:
            found.append(exc)
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert created.wait(10)
    two = threading.Thread(target=second)
    two.start()
    one.join(15)
    two.join(15)
    assert [getattr(f, "pk", f) for f in found] == ["at-once"]


@pytest.mark.django_db(transaction=True)
def test_chat_send__files_of_an_answer_checked_against_the_waiting_runs_agent() -> None:
    """The message that answers a waiting run goes to that run's agent, which need not be the
    chat's (seed 004's inference can run another): its files were checked against the chat's."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from uai.agents.models import Agent
    from uai.chats.models import Chat
    from uai.chats.services import chat_create, chat_send
    from uai.runs.services import run_create
    from uai_project.errors import InvalidInput

    user = get_user_model().objects.create(username="answers-with-files")
    chat = chat_create(owner_id=user.pk, agent_name="echo")
    # On a queue no worker serves: the test puts the run in input_required itself.
    no_files = Agent.objects.create(name="no-files", target="uai.agents.builtin.echo:echo", queue="parked")
    assert chat.agent.accepts_files and not no_files.accepts_files
    asking = run_create(owner_id=user.pk, agent=no_files, input="{}", chat=chat)
    Run.objects.filter(pk=asking.pk).update(status=Run.Status.INPUT_REQUIRED)
    Chat.objects.filter(pk=chat.pk).update(status=Chat.Status.RUNNING)
    upload = SimpleUploadedFile("a.txt", b"a")
    with pytest.raises(InvalidInput, match="'no-files' does not take files"):
        chat_send(chat=Chat.objects.get(pk=chat.pk), text="here", files=[upload], answering=asking)
    with pytest.raises(InvalidInput, match="'no-files' does not take files"):
        chat_send(chat=Chat.objects.get(pk=chat.pk), text="here", files=[upload])


@pytest.mark.django_db(transaction=True)
def test_chat_delete__waits_for_a_writer_of_the_chat_and_takes_its_rows_too() -> None:
    """Deleting a chat while its executor writes a step (the chat row locked, the step's row
    inserted, not yet committed): the delete gathered the chat's rows before the writer committed,
    then deleted the chat under the new row — a foreign-key violation, a 500 (the schema fuzz's
    DELETE /v1/conversations/{id} while the chat's turn was being answered)."""
    from uai.chats.models import Chat, Message
    from uai.chats.services import chat_delete

    chat, _runs = _chat_with_runs("deleter", 0)
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            chat_delete(chat=Chat.objects.get(pk=chat.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with psycopg.connect(dsn) as writer:
        seq = writer.execute(
            "UPDATE chats_chat SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq", [chat.id]
        ).fetchone()
        assert seq is not None
        writer.execute(
            "INSERT INTO chats_message (id, chat_id, seq, role, content, client_message_id, metadata, created_at)"
            " VALUES (gen_random_uuid(), %s, %s, 'assistant', 'a step', '', '{}', now())",
            [chat.id, seq[0]],
        )
        thread = _started_until_it_waits(dsn, delete, "the delete")
        writer.commit()
        thread.join(15)
    assert not thread.is_alive()
    assert errors == [], errors
    assert not Chat.objects.filter(pk=chat.id).exists()
    assert not Message.objects.filter(chat_id=chat.id).exists()


# What the chat's deletion does, holding the chat's row, after the message's delete began to wait:
# unlink the chat's messages from its runs (chat_delete's collector), or delete the chat's row
# (its other rows go too in chat_delete; left here, the test's flush takes them; foreign keys
# are unchecked for that connection only).
_UNLINK = ["UPDATE chats_message SET run_id = NULL WHERE chat_id = %s"]
_DELETE = ["SET LOCAL session_replication_role = replica", "DELETE FROM chats_chat WHERE id = %s"]


@pytest.mark.parametrize(
    ("then", "outcome"), [(_UNLINK, "deleted"), (_DELETE, "404")], ids=["unlinks", "deletes"]
)
@pytest.mark.django_db(transaction=True)
def test_message_delete__takes_the_chat_before_the_message(then: list[str], outcome: str) -> None:
    """Deleting a message while its chat is being deleted (the chat's row locked, its messages
    being unlinked): the message's delete locked the message, then waited for the chat that the
    chat's deletion held while it waited for the message — ``deadlock detected``, a 500 (the
    schema fuzz's DELETE /v1/conversations/{id}/items/{item} beside DELETE of the chat). Taking
    the chat first, it waits; a chat deleted meanwhile is then a 404, not StreamGone's 500."""
    from uai.chats.models import Chat, Message
    from uai.chats.services import message_delete
    from uai_project.errors import NotFound

    chat, (turn,) = _chat_with_runs(f"item-deleter-{outcome}", 1)
    message = Message.objects.get(chat_id=chat.id, run_id=turn.id, role="user")
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            message_delete(chat=Chat.objects.get(pk=chat.pk), message=Message.objects.get(pk=message.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with psycopg.connect(dsn) as deletion:  # as chat_delete: the chat, then its rows
        deletion.execute("SELECT 1 FROM chats_chat WHERE id = %s FOR UPDATE", [chat.id])
        thread = _started_until_it_waits(dsn, delete, "the message's delete")
        try:
            for statement in then:
                deletion.execute(statement, [chat.id] if "%s" in statement else [])
            deletion.commit()
        except psycopg.errors.DeadlockDetected as exc:
            errors.append(exc)
        thread.join(15)
    assert not thread.is_alive()
    if outcome == "deleted":
        assert errors == [], errors
        assert not Message.objects.filter(pk=message.pk).exists()
    else:
        assert len(errors) == 1 and isinstance(errors[0], NotFound), errors  # (a 404 on every surface)


@pytest.mark.parametrize("strategy", ["interrupt", "rollback", "reject"])
@pytest.mark.django_db(transaction=True)
def test_chat_send__double_texting_locks_the_going_turns_before_the_chat(strategy: str) -> None:
    """A message that interrupts (or rolls back, or is refused by) a going turn, while that
    turn's executor writes: the going turns are locked before the chat, as the executor takes
    them — the other way round, each would wait for the other."""
    from uai.chats.models import Chat, Message
    from uai.chats.services import chat_send
    from uai_project.errors import Conflict

    chat, (running,) = _chat_with_runs(f"double-{strategy}", 1)
    Run.objects.filter(pk=running.pk).update(status=Run.Status.RUNNING)

    refused: list[Conflict] = []

    def send() -> None:
        try:
            chat_send(chat=Chat.objects.get(pk=chat.pk), text="again", double_texting=strategy)
        except Conflict as exc:
            refused.append(exc)

    _as_the_executor(running.id, chat.id, send)
    assert [exc.extra for exc in refused] == ([{"run_id": str(running.id)}] if strategy == "reject" else [])
    texts = list(Message.objects.filter(chat_id=chat.id).values_list("content", flat=True))
    statuses = list(
        Run.objects.filter(chat_id=chat.id).order_by("created_at").values_list("status", flat=True)
    )
    assert {
        "interrupt": (["turn 0", "again"], ["cancelled", "queued"]),
        "rollback": (["again"], ["queued"]),
        "reject": (["turn 0"], ["running"]),
    }[strategy] == (texts, statuses)


@pytest.mark.parametrize("strategy", ["interrupt", "reject"])
@pytest.mark.django_db(transaction=True)
def test_chat_send__a_turn_added_between_the_two_locks_is_found(strategy: str) -> None:
    """Two messages at once: the first (enqueued) holds the chat while its turn is not yet
    committed; the second has locked the going turns (none it could see) and waits for the chat.
    Once the first commits, the second must see its turn — refuse it (reject), or lock and
    cancel it (interrupt) — never start a turn beside it."""
    from django.db import transaction

    from uai.chats.models import Chat
    from uai.chats.services import chat_send
    from uai_project.errors import Conflict

    chat, _runs = _chat_with_runs(f"between-{strategy}", 0)
    connection.ensure_connection()
    dsn = connection.connection.info.dsn
    sent = threading.Event()
    results: dict[str, Any] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = chat_send(chat=Chat.objects.get(pk=chat.pk), text="first")[0].id
                sent.set()
                deadline = time.monotonic() + 10
                while not _waiting_on_a_lock(dsn) and time.monotonic() < deadline:
                    time.sleep(0.02)  # until the second one waits for the chat
        finally:
            connection.close()

    def second() -> None:
        try:
            results["second"] = chat_send(
                chat=Chat.objects.get(pk=chat.pk), text="second", double_texting=strategy
            )[0].id
        except Conflict as exc:
            results["second"] = exc
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert sent.wait(10)
    two = threading.Thread(target=second)
    two.start()
    one.join(15)
    two.join(15)
    statuses = dict(Run.objects.filter(chat_id=chat.id).values_list("id", "status"))
    if strategy == "reject":
        assert isinstance(results["second"], Conflict)
        assert results["second"].extra == {"run_id": str(results["first"])}
        assert statuses == {results["first"]: "queued"}
    else:
        assert statuses == {results["first"]: "cancelled", results["second"]: "queued"}
