from __future__ import annotations

from django.apps import AppConfig


class UaiProjectConfig(AppConfig):
    name = "uai_project"
    verbose_name = "UAI"
