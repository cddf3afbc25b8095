"""Webhooks and their deliveries: per-run webhooks (a URL that receives every event of one run,
POSTed and signed), and endpoints a user registers for events of all their runs (``run.started``,
``turn.finished``, …), each event one delivery, each POST of it one attempt (a ``Delivery`` row)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Webhook(models.Model):
    """A URL that receives the events of one run, in order, each body as a signed POST.

    Lifecycle::

        active → done    (the run ended and every body was delivered)
        active → failed  (a body failed every attempt, or the URL is no longer allowed)
        failed → active  (an operator retries it from the admin: delivery goes on from the cursor)

    The cursor (``delivered_seq``, ``delivered_index``) is the last body delivered: the
    ``delivered_index``-th body (from 1) made of the event numbered ``delivered_seq``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    # Indexed by (run, created_at).
    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="webhooks", db_index=False)
    # The client's name for it (an A2A push notification config's id); unique per run when set.
    name = models.CharField(max_length=200, blank=True)
    url = models.CharField(max_length=2000, help_text="Called only while UAI_WEBHOOK_ALLOWED_URLS allows it.")
    token = models.CharField(max_length=1000, blank=True, help_text="Sent as X-A2A-Notification-Token.")
    secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Signing secret; empty: UAI_WEBHOOK_SECRET's (or one from SECRET_KEY).",
    )
    auth_scheme = models.CharField(max_length=50, blank=True)
    auth_credentials = models.CharField(max_length=2000, blank=True)
    format = models.CharField(max_length=50, help_text="A key of UAI_WEBHOOK_FORMATS.")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_seq = models.BigIntegerField(default=0)
    delivered_index = models.IntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    error = models.TextField(blank=True, help_text="Why delivery stopped (a failed webhook).")
    job_id = models.BigIntegerField(null=True, blank=True, help_text="Its latest delivery job.")

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "name"], condition=~models.Q(name=""), name="webhook_unique_run_name"
            )
        ]
        indexes = [models.Index(fields=["run", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name or self.id} → {self.url}"


class Endpoint(models.Model):
    """A URL a user registers for events of their runs: which events (``event_types``, empty: all),
    of which agents (``agents``, empty: all). Each matching event is one ``EndpointDelivery``.

    Secret rotation: the new secret signs at once; the old one (``previous_secret``) signs too,
    beside it, until ``previous_secret_expires_at``, so receivers can switch without a gap.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (owner, created_at).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints", db_index=False
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Event types; empty: every one.")
    agents = models.JSONField(default=list, blank=True, help_text="Agent names; empty: every agent.")
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=200)
    previous_secret = models.CharField(max_length=200, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "webhook endpoint"
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return f"{self.description or self.id} → {self.url}"


class EndpointDelivery(models.Model):
    """One event sent to one endpoint: its body (kept, so a redelivery sends the same), and where
    it stands. Its POSTs are ``Delivery`` rows (``attempts``).

    Lifecycle::

        pending → delivered   (a 2xx answer)
        pending → failed      (UAI_WEBHOOK_ATTEMPTS failed POSTs, a refused URL, a disabled endpoint)
        delivered | failed → pending   (redelivered: a new set of attempts)
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    # Also the ``webhook-id`` header of every POST of it (retries and redeliveries alike).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (endpoint, created_at).
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    run_id = models.UUIDField(null=True, blank=True, help_text="The run the event is of (none for a test).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    tries = models.IntegerField(default=0, help_text="Failed POSTs since it was last (re)delivered.")
    error = models.TextField(blank=True)
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "endpoint deliveries"
        indexes = [models.Index(fields=["endpoint", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id} ({self.status})"


class Delivery(models.Model):
    """One attempt to POST one body: of a webhook (its event ``seq``, body ``index``), or of an
    endpoint's delivery. What the receiver answered, and how long it took."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"  # a 2xx answer
        RETRYING = "retrying"  # failed; it is tried again after the backoff
        FAILED = "failed"  # failed its last attempt: the webhook stops
        REFUSED = "refused"  # not sent: the URL is no longer allowed (UAI_WEBHOOK_ALLOWED_URLS)

    # Indexed by (webhook, id).
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False, null=True, blank=True
    )
    # Indexed by (endpoint_delivery, id).
    endpoint_delivery = models.ForeignKey(
        EndpointDelivery,
        on_delete=models.CASCADE,
        related_name="attempts",
        db_index=False,
        null=True,
        blank=True,
    )
    seq = models.BigIntegerField(default=0, help_text="The event's number (a webhook's).")
    index = models.IntegerField(default=0, help_text="Which body of that event (from 1).")
    attempt = models.IntegerField()
    status_code = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    response = models.TextField(blank=True, help_text="The start of the receiver's answer.")
    duration_ms = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["webhook", "id"]), models.Index(fields=["endpoint_delivery", "id"])]

    def __str__(self) -> str:
        if self.endpoint_delivery_id:
            return f"attempt {self.attempt}: {self.outcome}"
        return f"#{self.seq}.{self.index} attempt {self.attempt}: {self.outcome}"
