"""Webhooks (a URL that receives every event of one run, POSTed and signed) and their deliveries."""

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


class Delivery(models.Model):
    """One attempt to POST one body of a webhook: what the receiver answered, and how long it took."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"  # a 2xx answer
        RETRYING = "retrying"  # failed; it is tried again after the backoff
        FAILED = "failed"  # failed its last attempt: the webhook stops
        REFUSED = "refused"  # not sent: the URL is no longer allowed (UAI_WEBHOOK_ALLOWED_URLS)

    # Indexed by (webhook, id).
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    seq = models.BigIntegerField(help_text="The event's number.")
    index = models.IntegerField(help_text="Which body of that event (from 1).")
    attempt = models.IntegerField()
    status_code = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    duration_ms = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["webhook", "id"])]

    def __str__(self) -> str:
        return f"#{self.seq}.{self.index} attempt {self.attempt}: {self.outcome}"
