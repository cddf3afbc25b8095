"""procrastinate tasks of idempotency keys: pruning the expired ones."""

from __future__ import annotations

from procrastinate.contrib.django import app

from uai.idempotency import services
from uai.runs.dbcall import db
from uai.runs.queues import MAINTENANCE_QUEUE


@app.periodic(cron="23 * * * *", periodic_id="uai-prune-idempotency-keys")
@app.task(name="uai.prune_idempotency_keys", queue=MAINTENANCE_QUEUE)
async def prune_idempotency_keys(timestamp: int) -> None:
    """Hourly: drop idempotency keys older than UAI_IDEMPOTENCY_TTL_SECONDS."""
    await db(services.prune_idempotency_keys)
