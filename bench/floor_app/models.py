"""The one row the floor's request writes."""

from __future__ import annotations

from django.db import models


class Note(models.Model):
    """A text and when it came."""

    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text
