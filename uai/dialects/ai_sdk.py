"""The AI SDK's UI message stream (``useChat``): ``POST /ai-sdk/{agent}``, resume and stop."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
