"""``web``: answers from a web search. The search backend is any HTTP search API (agent option
``search_url`` with a ``{query}`` placeholder, from ``UAI_SEARCH_URL``) returning JSON results.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

TIMEOUT_SECONDS = 10
MAX_RESULTS = 5


class SearchUnavailable(RuntimeError):
    """No search backend is configured, or it did not answer."""


def search(url_template: str, query: str) -> list[dict[str, str]]:
    """Call the search API; accept a list of results or ``{"results": [...]}`` (also ``items``)."""
    url = url_template.replace("{query}", urllib.parse.quote_plus(query))
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            payload: Any = json.loads(response.read().decode())
    except (OSError, ValueError) as exc:
        raise SearchUnavailable(f"the search backend failed: {exc}") from exc
    items = payload if isinstance(payload, list) else payload.get("results") or payload.get("items") or []
    results = []
    for item in items[:MAX_RESULTS]:
        if isinstance(item, dict):
            results.append(
                {
                    "title": str(item.get("title") or item.get("name") or ""),
                    "url": str(item.get("url") or item.get("link") or ""),
                    "snippet": str(
                        item.get("snippet") or item.get("content") or item.get("description") or ""
                    ),
                }
            )
    return results


async def web(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Plan, search, answer with the top results."""
    url = request.options.get("search_url")
    if not url:
        raise SearchUnavailable("no search backend is configured (set UAI_SEARCH_URL)")
    query = request.text.strip()
    yield events.Step(events.PLANNING_STEP, f"I will search the web for: {query}")
    results = await asyncio.to_thread(search, url, query)
    lines = [f"{i}. {r['title']} — {r['url']}\n   {r['snippet']}" for i, r in enumerate(results, 1)]
    yield events.Step(
        events.ACTION_STEP,
        f"Execution logs:\nweb_search({query!r}) → {len(results)} results",
        data={"tool": "web_search", "arguments": {"query": query}, "results": results},
    )
    if not results:
        yield events.FinalAnswer(content=f"I found nothing on the web for: {query}")
        return
    yield events.FinalAnswer(content="Here is what I found:\n" + "\n".join(lines), output=results)
