"""Admin: the agent registry, editable by operators."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from uai.agents import registry
from uai.agents.models import Agent
from uai_project.admin_utils import JSON_FORM_FIELDS


class AgentForm(forms.ModelForm[Agent]):
    """Refuse an adapter or target that cannot be imported, before every run of the agent fails."""

    class Meta:
        model = Agent
        fields = "__all__"  # noqa: DJ007 (the admin edits every field of an agent)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        adapter, target = cleaned.get("adapter"), cleaned.get("target")
        if adapter:
            try:
                registry.import_target(registry.ADAPTER_KINDS.get(adapter, adapter))
            except registry.AgentConfigError as exc:
                self.add_error("adapter", f"Unknown adapter: {exc}")
        if target:
            try:
                registry.import_target(target)
            except registry.AgentConfigError as exc:
                self.add_error("target", str(exc))
        return cleaned


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    form = AgentForm
    list_display = ("name", "adapter", "target", "enabled", "source", "max_attempts", "updated_at")
    list_editable = ("enabled",)
    list_filter = ("adapter", "enabled", "source")
    search_fields = ("name", "description", "target")
    readonly_fields = ("source", "created_at", "updated_at")
    formfield_overrides = JSON_FORM_FIELDS
