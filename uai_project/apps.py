from __future__ import annotations

from django.apps import AppConfig


class UaiProjectConfig(AppConfig):
    name = "uai_project"
    verbose_name = "UAI"

    def ready(self) -> None:
        """Register the OpenAPI extensions."""
        from uai_project import schema  # noqa: F401
