from __future__ import annotations

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        """Connect the settings → registry sync to ``migrate``."""
        from django.db.models.signals import post_migrate

        from agents import registry

        post_migrate.connect(registry.sync_settings_agents_after_migrate, sender=self)
