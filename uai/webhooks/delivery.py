"""The delivery of one webhook: its run's events, through its format, POSTed in order and signed.

Lifecycle of one delivery job::

    read the webhook (gone, or not active: end)
    →  follow the run's events from its first (replayed from the table, then live)
    →  each event fed to the format; each body after the cursor POSTed, attempt after attempt
       (UAI_WEBHOOK_ATTEMPTS, backoff doubling from UAI_WEBHOOK_BACKOFF_SECONDS), each attempt a
       Delivery row; a delivered body moves the cursor in the same transaction
    →  the run's terminal status delivered: the webhook is ``done``
    |  a body failed every attempt, or its URL is no longer allowed: the webhook is ``failed``
       (it stops: later bodies would arrive out of order; the admin's "Deliver again" resumes)
    |  nothing new for UAI_WEBHOOK_IDLE_SECONDS (a run waiting for input): the job ends and
       another is deferred UAI_WEBHOOK_RECHECK_SECONDS later, so no worker slot waits a day.

A job killed mid-POST (a dead worker) is retried by the stalled-job sweep (``uai.runs.recovery``);
it feeds everything again and POSTs only after the cursor: at least once for the body in
flight, once for every other. The ``webhook-id`` header is the same for every POST of one
body, so a receiver can drop a repeat.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

import httpx
from django.conf import settings

from uai.runs import streams
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.stream_events import EventType
from uai.webhooks import formats, network, selectors, services, signing
from uai.webhooks.models import Delivery, EndpointDelivery, Webhook
from uai_project import metrics

logger = logging.getLogger(__name__)

IDLE_TICK_SECONDS = 5.0  # how often a job with nothing new looks whether its run ended unseen
MAX_ERROR_CHARS = 500  # of an exception's text kept on a Delivery row
RESPONSE_CHARS = 1000  # of a receiver's answer kept on a Delivery row


class _Stop(Exception):
    """The webhook was deleted, or is no longer active: its job ends."""


async def deliver(worker_app: Any, *, webhook_id: str) -> None:
    """Deliver the webhook's bodies after its cursor, following its run until it ends."""
    webhook = await db(selectors.webhook_find, webhook_id=webhook_id)
    if webhook is None or webhook.status != Webhook.Status.ACTIVE:
        return
    try:
        format_ = formats.make_format(webhook)
    except Exception as exc:  # a format setting that does not load: said on the webhook
        logger.exception("webhook %s: format %r does not load", webhook_id, webhook.format)
        await db(services.webhook_finish, webhook_id=webhook_id, status=Webhook.Status.FAILED, error=str(exc))
        return
    run_id = str(webhook.run_id)
    cursor = (webhook.delivered_seq, webhook.delivered_index)
    timeout = settings.UAI_WEBHOOK_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
        sender = _Sender(client, webhook)
        while True:
            try:
                await _follow(worker_app, sender, format_, cursor=cursor, run_id=run_id)
                return
            except streams.StreamOverflow:
                # The run emits faster than the receiver takes its POSTs: read on from the
                # table after the last event fed (the format's state goes on as it was).
                continue
            except (_Stop, streams.ChatGone):
                return  # the webhook, or its run's chat, was deleted


async def _follow(
    worker_app: Any, sender: _Sender, format_: formats.Format, *, cursor: tuple[int, int], run_id: str
) -> None:
    """Feed the run's events after the last one fed to the format, POST what is past the cursor."""
    webhook_id = str(sender.webhook.id)
    idle_since = time.monotonic()
    async for event in streams.follow(
        run_id=run_id,
        after_seq=sender.last_seq,
        idle_seconds=min(IDLE_TICK_SECONDS, settings.UAI_WEBHOOK_IDLE_SECONDS),
    ):
        if event is None:
            run = await db(selectors.webhook_run, webhook_id=webhook_id)
            if run is None:
                return  # the webhook (or its run) was deleted
            if run.is_terminal and not await db(selectors.run_has_events_after, run=run, seq=sender.last_seq):
                # Its final status went unseen (retention removed it): nothing more will come.
                await db(services.webhook_finish, webhook_id=webhook_id, status=Webhook.Status.DONE)
                return
            if time.monotonic() - idle_since >= settings.UAI_WEBHOOK_IDLE_SECONDS:
                await _defer_again(worker_app, webhook_id)
                return
            continue
        idle_since = time.monotonic()
        if event["type"] in (EventType.GAP, EventType.PAST_END):
            continue  # made by the stream (retention removed events): not the run's
        sender.last_seq = event["seq"]
        for index, body in enumerate(format_.feed(event), start=1):
            if (event["seq"], index) <= cursor:
                continue
            if not await sender.send(event["seq"], index, body):
                return
        if (
            event["type"] == EventType.STATUS
            and event.get("run_id") == run_id
            and event["data"]["status"] in Run.TERMINAL
        ):
            await db(services.webhook_finish, webhook_id=webhook_id, status=Webhook.Status.DONE)
            return


async def _defer_again(worker_app: Any, webhook_id: str) -> None:
    from uai.webhooks import queues

    job_id = await queues.defer_delivery_async(
        worker_app, webhook_id=webhook_id, schedule_in_seconds=settings.UAI_WEBHOOK_RECHECK_SECONDS
    )
    await db(services.webhook_set_job, webhook_id=webhook_id, job_id=job_id)


class _Sender:
    """POSTs one webhook's bodies, each until delivered or out of attempts."""

    def __init__(self, client: httpx.AsyncClient, webhook: Webhook) -> None:
        self.client = client
        self.webhook = webhook
        self.last_seq = 0
        self.first = True  # the first body of this job may have attempts from a job before it

    async def send(self, seq: int, index: int, body: dict[str, Any]) -> bool:
        """POST ``body`` until delivered (True); False when the webhook failed on it. _Stop when
        the webhook went away meanwhile."""
        webhook = self.webhook
        attempts = settings.UAI_WEBHOOK_ATTEMPTS
        done = spent = 0  # its attempts before this job: all of them, and those since it last failed
        if self.first:
            self.first = False
            done, spent = await db(selectors.delivery_attempts, webhook_id=webhook.id, seq=seq, index=index)
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        message_id = f"{webhook.id}.{seq}.{index}"
        attempt = done
        while True:
            attempt += 1
            # Checked before each POST (the operator's list may have changed since), and the POST
            # goes to exactly the parsed, normalised URL that was checked, at the address checked.
            target = services.allowed_url(webhook.url)
            result = (
                await self._post(target, content, message_id)
                if target is not None
                else Attempt(refused=f"{webhook.url} is no longer among UAI_WEBHOOK_ALLOWED_URLS.")
            )
            if result.refused:
                metrics.webhook_posted(outcome=Delivery.Outcome.REFUSED, seconds=None)
                await self._record(
                    seq,
                    index,
                    attempt,
                    Delivery.Outcome.REFUSED,
                    error="URL no longer allowed" if target is None else result.refused,
                )
                await db(
                    services.webhook_finish,
                    webhook_id=webhook.id,
                    status=Webhook.Status.FAILED,
                    error=result.refused,
                )
                return False
            status_code, error, duration_ms = result.status_code, result.error, result.duration_ms
            delivered = status_code is not None and 200 <= status_code < 300
            # A dead worker's attempts count; "Deliver again" after a failure gives a new set.
            tries = spent + attempt - done
            last = tries >= attempts
            if delivered:
                outcome = Delivery.Outcome.DELIVERED
            else:
                outcome = Delivery.Outcome.FAILED if last else Delivery.Outcome.RETRYING
            metrics.webhook_posted(outcome=outcome, seconds=duration_ms / 1000)
            await self._record(
                seq,
                index,
                attempt,
                outcome,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
                response=result.response,
            )
            if delivered:
                return True
            if last:
                await db(
                    services.webhook_finish,
                    webhook_id=webhook.id,
                    status=Webhook.Status.FAILED,
                    error=f"Event #{seq} (body {index}) failed {tries} attempts: {error}",
                )
                return False
            await asyncio.sleep(backoff_seconds(tries))

    async def _post(self, url: httpx.URL, content: bytes, message_id: str) -> Attempt:
        webhook = self.webhook
        headers = signing.signed_headers(secret=webhook.secret, message_id=message_id, body=content)
        if webhook.token:
            headers["X-A2A-Notification-Token"] = webhook.token
        if webhook.auth_scheme or webhook.auth_credentials:
            headers["Authorization"] = f"{webhook.auth_scheme} {webhook.auth_credentials}".strip()
        return await post(self.client, url, content, headers)

    async def _record(self, seq: int, index: int, attempt: int, outcome: str, **fields: Any) -> None:
        if not await db(
            services.delivery_record,
            webhook_id=self.webhook.id,
            seq=seq,
            index=index,
            attempt=attempt,
            outcome=outcome,
            **fields,
        ):
            raise _Stop


backoff_seconds = services.backoff_seconds


@dataclasses.dataclass
class Attempt:
    """What one POST got: the status code (None: no answer), why it failed, how long it took, the
    start of the answer's body; ``refused``: why it was not sent at all (a refused address)."""

    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0
    response: str = ""
    refused: str = ""


async def post(client: httpx.AsyncClient, url: httpx.URL, content: bytes, headers: dict[str, str]) -> Attempt:
    """POST ``content`` to ``url`` (an allowed URL, as ``services.allowed_url`` gave it) at the
    address its host was checked to have (``network.pinned``), within UAI_WEBHOOK_TIMEOUT_SECONDS
    all in; the answer's first RESPONSE_CHARS characters are kept."""
    timeout = settings.UAI_WEBHOOK_TIMEOUT_SECONDS
    started = time.monotonic()
    try:
        connect_url, host_headers, extensions = await network.pinned(url)
    except PermissionError as exc:
        return Attempt(refused=str(exc))
    except network.Unresolved as exc:  # tried again, as a receiver that does not answer is
        return Attempt(error=str(exc)[:MAX_ERROR_CHARS], duration_ms=int((time.monotonic() - started) * 1000))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "UAI-Webhooks",
        **headers,
        **host_headers,
    }
    status_code: int | None = None
    error = ""
    excerpt = b""
    try:
        # httpx's timeout bounds each read; this bounds the whole POST (a receiver that trickles
        # its answer a byte at a time). Only the start of the answer's body is read.
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", connect_url, content=content, headers=headers, extensions=extensions
            ) as response:
                status_code = response.status_code
                async for chunk in response.aiter_raw():
                    excerpt += chunk
                    if len(excerpt) >= RESPONSE_CHARS:
                        break
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    return Attempt(
        status_code=status_code,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
        response=excerpt[:RESPONSE_CHARS].decode("utf-8", "replace").replace("\x00", ""),
    )


async def deliver_endpoint(*, delivery_id: str) -> None:
    """One POST of an endpoint's delivery, recorded; the next after the backoff is deferred with
    the record (or the delivery ends: delivered, or failed)."""
    delivery = await db(selectors.endpoint_delivery_find, delivery_id=delivery_id)
    if delivery is None or delivery.status != EndpointDelivery.Status.PENDING:
        return
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        await db(services.endpoint_delivery_end, delivery_id=delivery_id, error="The endpoint is disabled.")
        return
    content = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signing.signed_headers_many(
        secrets=services.endpoint_secrets(endpoint), message_id=str(delivery.id), body=content
    )
    target = services.allowed_url(endpoint.url)
    if target is None:
        result = Attempt(refused=f"{endpoint.url} is no longer among UAI_WEBHOOK_ALLOWED_URLS.")
    else:
        timeout = httpx.Timeout(settings.UAI_WEBHOOK_TIMEOUT_SECONDS)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            result = await post(client, target, content, headers)
    await db(
        services.endpoint_attempt_record,
        delivery_id=delivery_id,
        status_code=result.status_code,
        error=result.refused or result.error,
        refused=bool(result.refused),
        duration_ms=result.duration_ms,
        response=result.response,
    )
