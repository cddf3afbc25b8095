from __future__ import annotations

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "uai.runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        """Keep procrastinate's job fetch off its quadratic plan after every ``migrate``."""
        from django.db.models.signals import post_migrate

        from uai.runs import fetch_plan

        post_migrate.connect(fetch_plan.steer_fetch_plan_after_migrate, sender=self)
