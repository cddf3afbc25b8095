"""``POST /echo {"text"}``: insert one row with the ORM, answer it as JSON — a DRF view, as UAI's REST turn."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.floor_app.models import Note


class Echo(APIView):
    """The least a request that stores something costs on this stack."""

    def get(self, request: Request) -> Response:
        """Ready (what the bench waits for before measuring)."""
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        """Store the text; answer it with the row's id."""
        note = Note.objects.create(text=str(request.data.get("text", "")))
        return Response({"id": note.id, "text": note.text})


urlpatterns = [path("echo", Echo.as_view())]
