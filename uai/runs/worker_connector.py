"""The database connections of procrastinate's workers: the embedded one and ``procrastinate worker``."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool
from asgiref.sync import sync_to_async
from django.db import connection as django_connection
from procrastinate.contrib.django import utils
from procrastinate.contrib.django.settings import settings as procrastinate_settings
from procrastinate.psycopg_connector import PsycopgConnector

from uai_project import gc_tuning


def worker_connector() -> PsycopgConnector:
    """procrastinate's own worker connector, on autocommit connections.

    Each query a worker makes (fetch a job, finish it, beat its heart, …) is one call of one of
    procrastinate's SQL functions, atomic by itself. On psycopg's default connections each is
    also wrapped in BEGIN and COMMIT: two more round trips between a deferred job and the agent
    that runs it, and two more for every job after it ends.
    """
    params = utils.connector_params(procrastinate_settings.DATABASE_ALIAS)
    return PsycopgConnector(kwargs=params, configure=_autocommit, pool_factory=_pool)


# A connection the pool handed out this recently, and which came back in a good state, is trusted
# as it is; one idle for longer is checked with a round trip before it is handed out again.
TRUSTED_FOR_SECONDS = 2.0
_handed_out: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()


def _pool(**kwargs: Any) -> psycopg_pool.AsyncConnectionPool:
    # procrastinate asks for ``check_connection``: an empty query before each query a worker
    # makes (fetching a job, finishing it), two more round trips per job.
    return psycopg_pool.AsyncConnectionPool(**{**kwargs, "check": check_unless_recent})


async def check_unless_recent(connection: psycopg.AsyncConnection[Any]) -> None:
    """The pool's ``check``: a round trip only for a connection idle for a while.

    A connection the database closed while it sat idle fails the round trip, and the pool
    replaces it; one that broke in use comes back in a bad state, and the pool drops it. Left
    unchecked is one that died within the last ``TRUSTED_FOR_SECONDS`` while idle: its query
    fails, as it would had the connection died a moment after a check.
    """
    now = time.monotonic()
    last = _handed_out.get(connection)
    if last is None or now - last > TRUSTED_FOR_SECONDS or connection.closed:
        await psycopg_pool.AsyncConnectionPool.check_connection(connection)
    _handed_out[connection] = now


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    # Set on each pooled connection as the pool makes it (not in ``kwargs``: procrastinate's
    # listener connection is made from those with autocommit=True of its own).
    await connection.set_autocommit(True)


def on_app_ready(app: Any) -> None:
    """``PROCRASTINATE_ON_APP_READY``: every worker of this app uses :func:`worker_connector`, and
    Django's connections are handed back where they are taken, not around every job.

    procrastinate's Django app (≥ 3.10) closes the Django connection of Django's thread-sensitive
    thread before and after every job: two trips to that thread and back per job, the first
    between a fetched job and its agent. UAI's tasks take none there — their ORM work runs in
    UAI's DB threads (``uai.runs.dbcall.db``), which hand each connection back as each call ends.
    What does take one there is this app's own connector used from async code (the periodic
    deferrer's ``defer``): it now hands it back after each such query.
    """
    app.connector.get_worker_connector = _tuned_worker_connector
    middleware = app.worker_defaults.get("task_middleware") or []
    app.worker_defaults["task_middleware"] = [m for m in middleware if m.__module__ != _DJANGO_CLEANUP]
    for name in ("execute_query", "execute_query_one", "execute_query_all"):
        setattr(app.connector, f"{name}_async", _released_after(getattr(app.connector, name)))


_DJANGO_CLEANUP = "procrastinate.contrib.django.db_cleanup"


def _released_after(query: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **arguments: Any) -> Any:
        try:
            return query(*args, **arguments)
        finally:
            if not django_connection.in_atomic_block:
                django_connection.close()  # back to the pool

    return sync_to_async(run)


def _tuned_worker_connector() -> PsycopgConnector:
    # Asked for once, as a process starts running jobs (``procrastinate worker``, or the embedded
    # worker in the server): its garbage collector is tuned as a server's is (see gc_tuning).
    gc_tuning.tune()
    return worker_connector()
