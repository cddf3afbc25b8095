"""Plans of the hot reads: right for a long chat before PostgreSQL has statistics about it.

A chat that grew since the last ANALYZE (or was written in one go, as the bench seeds it) is
estimated at a row or a few. The planner then read the whole chat and sorted it — for "the
newest 50 messages", for a stream's catch-up after a ``seq``, for the first kept event — ~2 ms
for 10,000 rows and growing with the chat, where 50 rows (or one) off ``(chat_id, seq)`` do:
through an index of ``chat_id`` alone (estimated at one row: those indexes are gone), or as a
bitmap scan (estimated at a few: ``UAI_DB_RANDOM_PAGE_COST``, 1.1 by default).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

LONG = 10_000

_MESSAGES = """
    INSERT INTO chats_message
        (id, chat_id, run_id, seq, role, content, step_type, client_message_id, metadata, created_at)
    SELECT gen_random_uuid(), %(prefix)s || c, NULL, g, 'user', 'message ' || g, NULL, '', '{}'::jsonb, now()
    FROM generate_series(0, %(chats)s - 1) AS c, generate_series(1, %(size)s) AS g
"""
_EVENTS = """
    INSERT INTO runs_event (chat_id, run_id, seq, type, data, created_at)
    SELECT %(prefix)s || c, NULL, g, 'log', '{}'::jsonb, now()
    FROM generate_series(0, %(chats)s - 1) AS c, generate_series(1, %(size)s) AS g
"""


def _seed(prefix: str, chats: int, size: int) -> None:
    with connection.cursor() as cursor:
        for statement in (_MESSAGES, _EVENTS):
            cursor.execute(statement, {"prefix": prefix, "chats": chats, "size": size})


@pytest.fixture(params=[(2_000, 5), (3, 3_000)], ids=["after-2000-short-chats", "after-3-long-chats"])
def long_chat(request: pytest.FixtureRequest, django_user_model: Any) -> Any:
    """A chat of 10,000 messages and 10,000 events written after ANALYZE saw only other chats:
    2,000 of 5 (it is estimated at ~5 rows: with random_page_cost 4.0, a bitmap scan and a sort
    looked cheaper) or 3 of 3,000 (estimated at 1 row: an index of chat_id alone, and a sort, won).
    """
    from uai.agents.models import Agent
    from uai.chats.models import Chat

    chats, size = request.param
    owner = django_user_model.objects.create(username="planner")
    agent = Agent.objects.create(name="plan-echo", target="uai.agents.builtin.echo:echo")
    Chat.objects.bulk_create(
        Chat(id=f"other-{i}", owner=owner, agent=agent, last_seq=size) for i in range(chats)
    )
    _seed("other-", chats, size)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chats_message")
        cursor.execute("ANALYZE runs_event")
    chat = Chat.objects.create(id="long0", owner=owner, agent=agent, last_seq=LONG)
    _seed("long", 1, LONG)
    return chat


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _only_read(queries: CaptureQueriesContext) -> str:
    (read,) = [q["sql"] for q in queries.captured_queries]
    return read


def test_plan__newest_page_of_a_long_chat_reads_50_rows_backwards(long_chat: Any) -> None:
    from uai.chats import selectors

    with CaptureQueriesContext(connection) as queries:
        page = selectors.message_list(chat=long_chat, limit=50)
    assert [m.seq for m in page] == list(range(LONG - 49, LONG + 1))
    plan = _plan(_only_read(queries))
    assert "Index Scan Backward using message_unique_chat_seq" in plan, plan
    assert "Sort" not in plan, plan


def test_plan__messages_after_a_seq_read_only_those(long_chat: Any) -> None:
    from uai.chats import selectors

    with CaptureQueriesContext(connection) as queries:
        newer = selectors.message_list(chat=long_chat, after_seq=LONG - 3)
    assert [m.seq for m in newer] == [LONG - 2, LONG - 1, LONG]
    plan = _plan(_only_read(queries))
    assert "Index Scan using message_unique_chat_seq" in plan, plan
    assert "Sort" not in plan, plan


def test_plan__a_stream_catching_up_reads_the_first_kept_event_and_its_page_off_the_index(
    long_chat: Any,
) -> None:
    from uai.runs import streams

    with CaptureQueriesContext(connection) as queries:
        first_kept, page, _ = streams._catch_up(chat_id=long_chat.id, run_id=None, after_seq=LONG - 2)
    assert first_kept is None and [e["seq"] for e in page] == [LONG - 1, LONG]
    (events,) = [q["sql"] for q in queries.captured_queries]  # it starts right after: no gap to look for
    with CaptureQueriesContext(connection) as queries:  # what a stream whose page starts later reads
        assert streams._gap(chat_id=long_chat.id, run_id=None, after_seq=LONG - 2) is None
    last_seq, first_event = [q["sql"] for q in queries.captured_queries]
    assert "last_seq" in last_seq
    for read in (first_event, events):
        plan = _plan(read)
        assert re.search(r"Index (Only )?Scan using event_unique_chat_seq", plan), plan
        assert "Sort" not in plan, plan


def test_plan__a_page_without_files_and_one_with_them(long_chat: Any) -> None:
    from uai.artifacts.models import Artifact
    from uai.chats import selectors

    page = selectors.message_list(chat=long_chat, limit=3)
    assert selectors.message_files(page) == {}
    first = Artifact.objects.create(owner=long_chat.owner, chat=long_chat, message=page[1], name="a.txt")
    second = Artifact.objects.create(owner=long_chat.owner, chat=long_chat, message=page[1], name="b.txt")
    assert selectors.message_files(page) == {page[1].id: [first, second]}
    with CaptureQueriesContext(connection) as queries:
        assert selectors.message_files([]) == {}
    assert not queries.captured_queries


def test_plan__chat_data_after_a_timestamp_reads_only_what_is_newer(long_chat: Any) -> None:
    """Seed 002's polling (``chatData?afterTimestamp=``) reads each table off ``(chat_id,
    created_at)``: the newer rows, not the whole chat filtered (1.2 ms per 10,000 messages).

    Once statistics know the chat: estimated at one row (grown since the last ANALYZE) both
    indexes look alike to the planner, which may filter the chat off ``(chat_id, seq)`` as
    before these indexes until autoanalyze catches up.
    """
    from rest_framework.test import APIRequestFactory, force_authenticate

    from uai.chats.models import Message
    from uai.dialects.workflows import ChatDataView

    with connection.cursor() as cursor:  # a log line and a stat per message, as turns leave them
        cursor.execute(
            "INSERT INTO runs_log (chat_id, seq, level, message, source, data, created_at)"
            " SELECT chat_id, seq, 'info', 'log', 'agent', '{}', created_at FROM chats_message"
        )
        cursor.execute(
            "INSERT INTO runs_stat (chat_id, seq, name, data, created_at)"
            " SELECT chat_id, seq, 'run', '{}', created_at FROM chats_message"
        )
        for table in ("chats_message", "runs_log", "runs_stat"):
            cursor.execute(f"ANALYZE {table}")
    newest = Message.objects.filter(chat=long_chat).order_by("-seq").values_list("created_at", flat=True)[0]
    request = APIRequestFactory().get(
        f"/api/chat/playground/{long_chat.id}/chatData", {"afterTimestamp": newest.timestamp()}
    )
    force_authenticate(request, long_chat.owner)
    with CaptureQueriesContext(connection) as queries:
        response = ChatDataView.as_view()(request, workflow_id=long_chat.id)
    assert response.status_code == 200 and response.data["messages"] == []
    reads = {
        table: next(q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"])
        for table in ("chats_message", "runs_log", "runs_stat")
    }
    for table, index in [
        ("chats_message", "message_chat_created"),
        ("runs_log", "log_chat_created"),
        ("runs_stat", "stat_chat_created"),
    ]:
        plan = _plan(reads[table])
        assert re.search(rf"Index Scan using {index}", plan) and "created_at >" in plan, plan


def _generic_plan(read: Callable[[], Any], table: str) -> str:
    """The plan PostgreSQL keeps for ``read``'s statement on ``table`` once it is prepared and
    planned for any parameters (``UAI_DB_PREPARED_STATEMENTS``: after a few runs on a connection
    it may use that one instead of planning each time)."""
    seen: list[tuple[str, Sequence[Any]]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        read()
    sql, params = next((s, p) for s, p in seen if f'FROM "{table}"' in s)
    numbers = iter(range(1, len(params) + 1))
    statement = re.sub(r"%s", lambda _: f"${next(numbers)}", sql)
    arguments = ", ".join(["%s"] * len(params))
    name = f"uai_generic_{uuid.uuid4().hex[:12]}"  # prepared statements outlive a rollback
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # until the test's end
        cursor.execute(f"PREPARE {name} AS {statement}")
        try:
            with transaction.atomic():  # a failing EXPLAIN leaves the transaction usable
                cursor.execute(connection.ops.compose_sql(f"EXPLAIN EXECUTE {name}({arguments})", params))
                return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute(f"DEALLOCATE {name}")


@pytest.mark.parametrize(
    ("read", "table", "index"),
    [
        ("newest page", "chats_message", "Index Scan Backward using message_unique_chat_seq"),
        ("messages after a seq", "chats_message", "Index Scan using message_unique_chat_seq"),
        ("a stream's page", "runs_event", "Index (Only )?Scan using event_unique_chat_seq"),
        ("a stream's first kept event", "runs_event", "Index (Only )?Scan using event_unique_chat_seq"),
    ],
)
def test_plan__the_hot_reads_keep_their_index_when_planned_for_any_parameters(
    long_chat: Any, read: str, table: str, index: str
) -> None:
    from uai.chats import selectors
    from uai.runs import streams

    reads: dict[str, Callable[[], Any]] = {
        "newest page": lambda: selectors.message_list(chat=long_chat, limit=50),
        "messages after a seq": lambda: selectors.message_list(chat=long_chat, after_seq=LONG - 3),
        "a stream's page": lambda: streams._page(chat_id=long_chat.id, run_id=None, after_seq=LONG - 2),
        "a stream's first kept event": lambda: streams._gap(chat_id=long_chat.id, run_id=None, after_seq=1),
    }
    plan = _generic_plan(reads[read], table)
    assert re.search(index, plan) and "Sort" not in plan, plan
