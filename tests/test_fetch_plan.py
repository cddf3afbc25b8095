"""procrastinate's job fetch stays linear in the queue's depth with stale statistics
(``uai/runs/fetch_plan.py``).

The state is the one the bench's drain met in about half of its runs: ANALYZE last saw
``procrastinate_jobs`` holding two turns over many pages, then 300 runs are queued. The work a
fetch does is counted as the rows PostgreSQL read for it in its transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from procrastinate import sql

from uai.runs import fetch_plan

pytestmark = pytest.mark.django_db

DEPTH = 300
QUEUE = "fetch-plan"


def _signature(cursor: Any) -> str:
    cursor.execute(
        "SELECT oid::regprocedure::text FROM pg_proc WHERE proname = %s", [fetch_plan.fetch_function()]
    )
    (signature,) = cursor.fetchone()
    return signature


def _config(cursor: Any) -> list[str]:
    cursor.execute("SELECT proconfig FROM pg_proc WHERE proname = %s", [fetch_plan.fetch_function()])
    return cursor.fetchone()[0] or []


@pytest.fixture
def backlog_on_stale_statistics() -> Any:
    """ANALYZE saw two turns (one running, one waiting) over many pages; then ``DEPTH`` runs
    were queued. Yields a worker's id. Committed (VACUUM and ANALYZE need it), removed after."""
    worker_id = None
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE procrastinate_jobs SET (autovacuum_enabled = false)")
        try:
            # The estimate depends on what the table holds: jobs other tests left go first (not
            # one a live test server's worker is running). No worker serves these queues.
            cursor.execute("DELETE FROM procrastinate_jobs WHERE status <> 'doing'")
            cursor.execute("VACUUM procrastinate_jobs")
            cursor.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)"
                " SELECT 'fetch-plan-gone', 't', '{}', 'todo' FROM generate_series(1, 3000)"
            )
            cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'fetch-plan-gone'")
            cursor.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, lock)"
                " SELECT 'fetch-plan-turns', 't', '{}', (CASE g WHEN 1 THEN 'doing' ELSE 'todo' END)::procrastinate_job_status,"
                " 'chat:' || g FROM generate_series(1, 2) AS g"
            )
            cursor.execute("ANALYZE procrastinate_jobs")
            cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'fetch-plan-turns'")
            cursor.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)"
                " SELECT %s, 't', '{}', 'todo' FROM generate_series(1, %s)",
                [QUEUE, DEPTH],
            )
            cursor.execute("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")
            (worker_id,) = cursor.fetchone()
            yield worker_id
        finally:
            cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name LIKE %s", ["fetch-plan%"])
            if worker_id is not None:
                cursor.execute("DELETE FROM procrastinate_workers WHERE id = %s", [worker_id])
            cursor.execute("ALTER TABLE procrastinate_jobs RESET (autovacuum_enabled)")
            cursor.execute(f"ALTER FUNCTION {_signature(cursor)} SET enable_sort = off")


def _rows_read_by_one_fetch(worker_id: int) -> int:
    counted = (
        "SELECT pg_stat_get_xact_tuples_returned('procrastinate_jobs'::regclass)"
        " + pg_stat_get_xact_tuples_fetched('procrastinate_jobs'::regclass)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # A worker's session plans the function's statement for any queue after five fetches
        # (PostgreSQL's generic plan), and keeps that plan for the backlog.
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(counted)
        (before,) = cursor.fetchone()
        cursor.execute(sql.queries["fetch_job"], {"queues": [QUEUE], "worker_id": worker_id})
        job = cursor.fetchone()
        assert job[0] is not None and job[1] == "doing"
        cursor.execute(counted)
        (after,) = cursor.fetchone()
    return after - before


def test_migrate_turns_sorting_off_in_the_fetch_function() -> None:
    with connection.cursor() as cursor:
        assert fetch_plan.SETTING in _config(cursor)  # the test database was migrated
        cursor.execute(f"ALTER FUNCTION {_signature(cursor)} RESET enable_sort")
        assert fetch_plan.SETTING not in _config(cursor)
        assert fetch_plan.steer_fetch_plan() == 1
        assert fetch_plan.SETTING in _config(cursor)
        assert fetch_plan.steer_fetch_plan() == 0  # already there: the catalog is left alone


def test_a_role_that_may_not_alter_the_function_gets_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER FUNCTION {_signature(cursor)} RESET enable_sort")
        cursor.execute("CREATE ROLE uai_fetch_plan_guest")  # rolled back with the test
        cursor.execute("SET LOCAL ROLE uai_fetch_plan_guest")
        with caplog.at_level("WARNING", logger="uai.runs.fetch_plan"):
            assert fetch_plan.steer_fetch_plan() == 0
        cursor.execute("RESET ROLE")
        assert fetch_plan.SETTING not in _config(cursor)
    assert "Could not set enable_sort = off" in caplog.text and "owner" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_fetch_reads_the_backlog_once_not_once_per_job(backlog_on_stale_statistics: int) -> None:
    with connection.cursor() as cursor:
        signature = _signature(cursor)
        cursor.execute(f"ALTER FUNCTION {signature} RESET enable_sort")
        without = _rows_read_by_one_fetch(backlog_on_stale_statistics)
        cursor.execute(f"ALTER FUNCTION {signature} SET enable_sort = off")
    steered = _rows_read_by_one_fetch(backlog_on_stale_statistics)
    # Without the setting this state gets the quadratic plan (every waiting job checked against
    # every other); with it, a fetch reads the waiting jobs about once.
    assert without > DEPTH * DEPTH // 4, without
    assert steered < 5 * DEPTH, steered
