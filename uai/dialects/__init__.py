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
| ``native_webhooks`` | ``/webhooks/…``: a user's webhook endpoints, their deliveries, redelivery | — |
| ``native_schedules`` | ``/schedules/…``: scheduled runs | — |
| ``step_socket`` | WebSocket ``/chat/{chat_id}`` | 001 |
| ``history`` | ``GET /history/{chat_id}`` | 001 |
| ``agent_run`` | ``POST /agent/run`` | 001 |
| ``workflows`` | ``/api/chat/playground/…``, ``/api/workflows/…`` | 002 |
| ``chat_run`` | ``POST /chat/run``, ``POST /chat/stream`` | 003 |
| ``conversations`` | ``/chats/…``, ``/conversations/…`` | 004 |
| ``openai_models`` | OpenAI ``/v1/models`` | — |
| ``openai_chat`` | OpenAI ``/v1/chat/completions`` (plain and streamed) | — |
| ``openai_responses`` | OpenAI ``/v1/responses``: background, streamed, resumed, cancelled | — |
| ``openai_response_events`` | a turn's events as an OpenAI response's events and snapshot (pure) | — |
| ``openai_conversations`` | OpenAI ``/v1/conversations`` and their items | — |
| ``openai_common`` | what the ``/v1`` routes share: OpenAI's error shape, the view base, ids | — |
| ``agui`` | AG-UI ``/ag-ui/{agent}``: runs, interrupts, front-end tools, replay | — |
| ``agui_input`` | AG-UI's ``RunAgentInput`` read and checked: the turn, the answer, the tools | — |
| ``agui_events`` | the ``ui_events`` story in AG-UI's events and SSE frames (pure) | — |
| ``ai_sdk`` | the AI SDK's UI message stream ``/ai-sdk/{agent}``: turns, resume, stop | — |
| ``ai_sdk_parts`` | the ``ui_events`` story as UI message stream parts (pure) | — |
| ``a2a`` | A2A 1.0 ``/a2a/{agent}``: the card, the operations both bindings share | — |
| ``a2a_jsonrpc`` | A2A's JSON-RPC binding (1.0's methods, and 0.3's) | — |
| ``a2a_rest`` | A2A's HTTP+JSON binding, the cards' routes, A2A's REST errors | — |
| ``a2a_events`` | a run's events as A2A ``StreamResponse``\\ s, a run as a ``Task``; the push format (pure) | — |
| ``ui_events`` | a turn's events as a front end's story, under AG-UI and the AI SDK (one translator) | — |
| ``pages`` | the chat and runs web pages | — |
| ``answer_text`` | the part of an answer its streamed deltas did not carry (shared rule) | — |
| ``sse`` | shared Server-Sent Events helpers (encoding, resume, reply chunks) | — |
"""
