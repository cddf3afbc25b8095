from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import uai.limits.models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("runs", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="UserLimits",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="limits",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rate",
                    models.CharField(
                        blank=True,
                        help_text="Requests per period on every API, like 600/min or 30/10s; 'none': no limit; empty: UAI_USER_RATE.",
                        max_length=32,
                        validators=[uai.limits.models.validate_rate],
                    ),
                ),
                (
                    "max_concurrent_runs",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Unfinished runs (queued, running or waiting for input) at once; 0: no limit; empty: UAI_USER_MAX_CONCURRENT_RUNS.",
                        null=True,
                    ),
                ),
                (
                    "max_concurrent_turns",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Unfinished chat turns (queued, running or waiting for input) at once; 0: no limit; empty: UAI_USER_MAX_CONCURRENT_TURNS.",
                        null=True,
                    ),
                ),
                (
                    "max_stored_bytes",
                    models.PositiveBigIntegerField(
                        blank=True,
                        help_text="Bytes of files (uploads and agents' files) kept at once; 0: no limit; empty: UAI_USER_MAX_STORED_BYTES.",
                        null=True,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name": "limits", "verbose_name_plural": "limits"},
        ),
        # The concurrency check counts a user's unfinished runs of one kind (uai.limits.services):
        # this index holds only unfinished runs, so the count reads a few entries, however many
        # runs the user has had. (Declared here, beside the query it serves.)
        migrations.RunSQL(
            "CREATE INDEX runs_run_owner_active ON runs_run (owner_id, kind)"
            " WHERE status IN ('queued', 'running', 'input_required')",
            "DROP INDEX IF EXISTS runs_run_owner_active",
        ),
    ]
