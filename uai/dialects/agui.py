"""AG-UI (CopilotKit's protocol): ``POST /ag-ui/{agent}`` and its events, from any UAI agent."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
