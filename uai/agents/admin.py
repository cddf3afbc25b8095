"""Admin: the agent registry, editable by operators."""

from __future__ import annotations

from django.contrib import admin

from uai.agents.models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "adapter", "target", "enabled", "source", "max_attempts", "updated_at")
    list_filter = ("adapter", "enabled", "source")
    search_fields = ("name", "description", "target")
    readonly_fields = ("source", "created_at", "updated_at")
