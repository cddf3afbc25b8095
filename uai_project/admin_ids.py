"""Admin lists: an id column one line high: its first characters, the whole id in the tooltip.

A UUID in a list column wraps over several lines at 1280 px; the short form stays readable and
the change page (the column links to it) and the search box still take the whole id.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

SHORT_ID_CHARS = 8
IDS_CSS = "admin_ids/ids.css"


def short_id(value: Any) -> SafeString | str:
    """``<span title="whole id">first 8 chars</span>``; "-" for no id."""
    if value in (None, ""):
        return "-"
    text = str(value)
    return format_html('<span class="uai-id" title="{}">{}</span>', text, text[:SHORT_ID_CHARS])
