from __future__ import annotations

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "uai.agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        """Check every declared agent (a bad one stops start-up); sync them on ``migrate``."""
        from django.core.exceptions import ImproperlyConfigured
        from django.db.models.signals import post_migrate

        from uai.agents import registry

        try:
            registry.check_declared_agents()
        except registry.AgentConfigError as exc:
            raise ImproperlyConfigured(str(exc)) from exc
        post_migrate.connect(registry.sync_settings_agents_after_migrate, sender=self)
