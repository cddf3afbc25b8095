"""Sync ORM work from async code: in threads of UAI's own, never holding a connection between calls."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

from uai.runs import sink as sink_module
from uai_project import tracing

T = TypeVar("T")


def _call_and_release(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    try:
        return fn(**kwargs)
    finally:
        # Hand the pooled connection back: these threads are shared by every job.
        connection.close()


_db_threads: concurrent.futures.ThreadPoolExecutor | None = None


def _db_executor() -> concurrent.futures.ThreadPoolExecutor:
    # Our own threads for DB work, so agents' blocking code (which runs in threads of its own)
    # can never starve the writes of other runs.
    global _db_threads
    if _db_threads is None:
        _db_threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.UAI_DB_THREADS, thread_name_prefix="uai-db"
        )
    return _db_threads


async def db(fn: Callable[..., T], **kwargs: Any) -> T:
    """Run a sync service in a DB thread, publishing what it committed once it returns (a span
    named for the service when tracing is on: a run's writes, each event batch, its end)."""
    with tracing.span(f"uai.{fn.__name__}"):
        with sink_module.collect() as box:
            context = contextvars.copy_context()  # carries the outbox (and the span) into the thread
            result = await asyncio.get_running_loop().run_in_executor(
                _db_executor(), context.run, _call_and_release, fn, kwargs
            )
        await sink_module.publish_all(box)
    return result
