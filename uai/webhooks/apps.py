from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class WebhooksConfig(AppConfig):
    name = "uai.webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A prefix UAI cannot parse would silently allow nothing: said at start-up instead.
        from uai.webhooks import network, services

        for allowed in settings.UAI_WEBHOOK_ALLOWED_URLS:
            problem = services.check_allowed_setting(allowed)
            if problem:
                raise ImproperlyConfigured(f"UAI_WEBHOOK_ALLOWED_URLS: {allowed!r} is {problem}")
        for entry in settings.UAI_WEBHOOK_PRIVATE_NETWORKS:
            problem = network.check_networks_setting(entry)
            if problem:
                raise ImproperlyConfigured(f"UAI_WEBHOOK_PRIVATE_NETWORKS: {entry!r} is {problem}")
