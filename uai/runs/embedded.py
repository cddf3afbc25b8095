"""The procrastinate worker that runs inside the server process (embedded mode)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from django.conf import settings

from uai.runs import worker as worker_module

logger = logging.getLogger(__name__)

_task: asyncio.Task[None] | None = None


def start() -> asyncio.Task[None] | None:
    """Start the in-process worker on the running loop, once; no-op unless embedded mode is on."""
    global _task
    if not settings.UAI_EMBEDDED_WORKER:
        return None
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_run(), name="uai-embedded-worker")
    return _task


async def stop() -> None:
    """Stop the in-process worker (running jobs are aborted and retried later)."""
    global _task
    if _task is not None and not _task.done():
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _task
    _task = None


async def _run() -> None:
    from procrastinate.contrib.django import app
    from procrastinate.contrib.django.django_connector import DjangoConnector

    worker_app = app.with_connector(cast(DjangoConnector, app.connector).get_worker_connector())
    while True:
        try:
            async with worker_app.open_async():
                logger.info("embedded worker started")
                # A worker per queue, each with its own UAI_WORKER_CONCURRENCY slots: with one
                # worker for all, twenty long runs (or runs waiting a day for input) took every
                # slot, and chat turns and the maintenance jobs waited behind them.
                # Each outlives a database outage by itself (uai.runs.worker); anything else
                # that ends one stops the others (a task group), and they all start again below.
                async with asyncio.TaskGroup() as workers:
                    for queue in settings.UAI_WORKER_QUEUES:
                        workers.create_task(
                            worker_module.run_worker(
                                worker_app,
                                name=f"embedded-{queue}",
                                queues=[queue],
                                install_signal_handlers=False,
                                wait=True,
                            )
                        )
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database went away (restart, network): try again rather than die silently.
            logger.exception("embedded worker crashed; restarting in 2 s")
            await asyncio.sleep(2)
