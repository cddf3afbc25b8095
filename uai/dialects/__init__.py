"""The API dialects: each module translates one surface's wire format to and from the core.

A dialect reads through ``selectors``, changes things through ``services``, follows streams
through ``uai.runs.streams`` and never queries, stores or publishes on its own.

| module | serves | seed |
|---|---|---|
| ``native_chats`` | ``/chat/…`` sessions, ``/chat/next``, messages | 000 |
| ``native_runs`` | ``/run/…``: status, cancel, input, logs | 000 |
| ``native_artifacts`` | ``…/artifacts/…`` of a chat or a run | 000 |
| ``native_streams`` | SSE ``/chat/{id}/stream`` and ``/run/{id}/stream`` | 000 |
| ``native_agents`` | ``GET /agents`` | — |
| ``step_socket`` | WebSocket ``/chat/{chat_id}`` | 001 |
| ``history`` | ``GET /history/{chat_id}`` | 001 |
| ``agent_run`` | ``POST /agent/run`` | 001 |
| ``workflows`` | ``/api/chat/playground/…``, ``/api/workflows/…`` | 002 |
| ``chat_run`` | ``POST /chat/run``, ``POST /chat/stream`` | 003 |
| ``conversations`` | ``/chats/…``, ``/conversations/…`` | 004 |
| ``pages`` | the chat and runs web pages | — |
| ``sse`` | shared Server-Sent Events helpers (encoding, resume, reply chunks) | — |
"""
