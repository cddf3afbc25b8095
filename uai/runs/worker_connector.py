"""The database connections of procrastinate's workers: the embedded one and ``procrastinate worker``."""

from __future__ import annotations

from typing import Any

import psycopg
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
    return PsycopgConnector(kwargs=params, configure=_autocommit)


async def _autocommit(connection: psycopg.AsyncConnection[Any]) -> None:
    # Set on each pooled connection as the pool makes it (not in ``kwargs``: procrastinate's
    # listener connection is made from those with autocommit=True of its own).
    await connection.set_autocommit(True)


def on_app_ready(app: Any) -> None:
    """``PROCRASTINATE_ON_APP_READY``: every worker of this app uses :func:`worker_connector`."""
    app.connector.get_worker_connector = _tuned_worker_connector


def _tuned_worker_connector() -> PsycopgConnector:
    # Asked for once, as a process starts running jobs (``procrastinate worker``, or the embedded
    # worker in the server): its garbage collector is tuned as a server's is (see gc_tuning).
    gc_tuning.tune()
    return worker_connector()
