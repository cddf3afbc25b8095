"""The database connections of procrastinate's workers: the embedded one and ``procrastinate worker``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from procrastinate.contrib.django import utils
from procrastinate.contrib.django.db_cleanup import close_db_connections_async
from procrastinate.contrib.django.settings import settings as procrastinate_settings
from procrastinate.psycopg_connector import PsycopgConnector

from uai.runs import worker as worker_module
from uai_project import gc_tuning


def worker_connector() -> PsycopgConnector:
    """procrastinate's own worker connector, on autocommit connections.

    Each query a worker makes (fetch a job, finish it, beat its heart, …) is one call of one of
    procrastinate's SQL functions, atomic by itself. On psycopg's default connections each is
    also wrapped in BEGIN and COMMIT: two more round trips between a deferred job and the agent
    that runs it, and two more for every job after it ends.
    """
    params = utils.connector_params(procrastinate_settings.DATABASE_ALIAS)
    # Waiting for a connection is bounded as the web's is (psycopg's default is 30 s): a worker
    # whose database went away stops, and starts again, that much sooner (uai.runs.worker).
    timeout = settings.DATABASES[procrastinate_settings.DATABASE_ALIAS]["OPTIONS"]["pool"]["timeout"]
    return PsycopgConnector(kwargs=params, configure=_autocommit, timeout=timeout)


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    # Set on each pooled connection as the pool makes it (not in ``kwargs``: procrastinate's
    # listener connection is made from those with autocommit=True of its own).
    await connection.set_autocommit(True)


def on_app_ready(app: Any) -> None:
    """``PROCRASTINATE_ON_APP_READY``: every worker of this app uses :func:`worker_connector`, and
    runs UAI's async tasks without trips to Django's thread around each of them.

    procrastinate's Django app (≥ 3.10) closes the Django connection of Django's thread-sensitive
    thread before and after every async job: two trips to that thread and back per job, the first
    between a fetched job and its agent. UAI's tasks take no connection there — their ORM work
    runs in UAI's DB threads (``uai.runs.dbcall.db``), which hand each back as each call ends — so
    that middleware is removed (the one for sync tasks stays; UAI has none). What does take one
    there is this app's own connector used from async code (the embedded worker's periodic
    deferrer; ``procrastinate worker`` swaps in its worker connector): it hands the connection
    back after each such query.
    """
    app.connector.get_worker_connector = _tuned_worker_connector
    # ``procrastinate worker`` (the CLI calls this method) outlives a database outage.
    app.run_worker_async = functools.partial(worker_module.run_worker, app)
    middleware = app.worker_defaults.get("task_middleware") or []
    app.worker_defaults["task_middleware"] = [m for m in middleware if m is not close_db_connections_async]
    for name in ("execute_query", "execute_query_one", "execute_query_all"):
        setattr(app.connector, f"{name}_async", _released_after(app.connector, getattr(app.connector, name)))


def _released_after(connector: Any, query: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **arguments: Any) -> Any:
        try:
            return query(*args, **arguments)
        finally:
            if not connector.connection.in_atomic_block:
                connector.connection.close()  # back to the pool

    return sync_to_async(run)


def _tuned_worker_connector() -> PsycopgConnector:
    # Asked for once, as a process starts running jobs (``procrastinate worker``, or the embedded
    # worker in the server): its garbage collector is tuned as a server's is (see gc_tuning).
    gc_tuning.tune()
    return worker_connector()
