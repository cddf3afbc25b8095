"""A2A's JSON-RPC binding: ``POST /a2a/{agent}`` — 1.0's methods, and 0.3's on the same endpoint.

1.0's names (``SendMessage``, ``SendStreamingMessage``, ``GetTask``, ``ListTasks``, ``CancelTask``,
``SubscribeToTask``, the four ``…TaskPushNotificationConfig…``, ``GetExtendedAgentCard``) take
and answer ProtoJSON; 0.3's (``message/send``, ``message/stream``, ``tasks/get``,
``tasks/cancel``, ``tasks/resubscribe``, ``tasks/pushNotificationConfig/{set,get,list,delete}``,
``agent/getAuthenticatedExtendedCard``) take and answer 0.3's shapes (``kind``, ``state:
"working"``), converted with the SDK's ``compat.v0_3``. The method name decides; an
``A2A-Version`` header naming another version is VersionNotSupported.

Errors are JSON-RPC error objects (HTTP 200) with A2A's codes: TaskNotFound -32001,
TaskNotCancelable -32002, PushNotificationNotSupported -32003, UnsupportedOperation -32004,
ContentTypeNotSupported -32005, InvalidParams -32602, InvalidRequest -32600, MethodNotFound
-32601, parse error -32700. A stream that cannot go on ends with an error response.
``SubscribeToTask`` resumes after ``params.metadata.uai.after`` (or ``Last-Event-ID``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pydantic
from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as v03
from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from django.http import JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from rest_framework.request import Request
from rest_framework.views import APIView

from uai.dialects import a2a, a2a_rest, sse, ui_events
from uai.runs.waiting import release_connection

STREAMING = {"SendStreamingMessage", "SubscribeToTask", "message/stream", "tasks/resubscribe"}
V03_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "message/send": v03.SendMessageRequest,
    "message/stream": v03.SendStreamingMessageRequest,
    "tasks/get": v03.GetTaskRequest,
    "tasks/cancel": v03.CancelTaskRequest,
    "tasks/resubscribe": v03.TaskResubscriptionRequest,
    "tasks/pushNotificationConfig/set": v03.SetTaskPushNotificationConfigRequest,
    "tasks/pushNotificationConfig/get": v03.GetTaskPushNotificationConfigRequest,
    "tasks/pushNotificationConfig/list": v03.ListTaskPushNotificationConfigRequest,
    "tasks/pushNotificationConfig/delete": v03.DeleteTaskPushNotificationConfigRequest,
    "agent/getAuthenticatedExtendedCard": v03.GetAuthenticatedExtendedCardRequest,
}


def error_object(exc: Exception) -> dict[str, Any]:
    """A JSON-RPC error object for an exception (an unexpected one is an internal error)."""
    found = a2a.problem(exc) or a2a.Problem(a2a_errors.InternalError, "Internal error.")
    return {"code": a2a_errors.JSON_RPC_ERROR_CODE_MAP[found.kind], "message": found.message}


def answer(request_id: Any, result: Any) -> JsonResponse:
    return JsonResponse({"jsonrpc": "2.0", "id": request_id, "result": result})


def failure(request_id: Any, exc: Exception) -> JsonResponse:
    return JsonResponse({"jsonrpc": "2.0", "id": request_id, "error": error_object(exc)})


async def frames(
    request_id: Any, followed: a2a.Followed, base: str, shape: Callable[[dict[str, Any]], Any]
) -> AsyncIterator[bytes]:
    """The stream's SSE frames: one JSON-RPC response each, its ``id`` the cursor after it."""
    async for item in a2a.events_after(followed, base):
        if item is None:
            yield sse.KEEPALIVE
        elif isinstance(item, ui_events.Broken):
            body = {"jsonrpc": "2.0", "id": request_id, "error": error_object(item.error)}
            yield sse.encode(None, body)
            return
        else:
            result = {"jsonrpc": "2.0", "id": request_id, "result": shape(item)}
            yield sse.encode(a2a.sse_id(item, followed), result)


def _v03_stream_item(request_id: Any) -> Callable[[dict[str, Any]], Any]:
    def shape(item: dict[str, Any]) -> Any:
        response = a2a.parse(a2a_pb2.StreamResponse(), item)
        return conversions.to_compat_stream_response(response, request_id).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )["result"]

    return shape


def _dump(model: pydantic.BaseModel) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


class JsonRpcView(APIView):
    """The JSON-RPC endpoint of an agent."""

    parser_classes: list[Any] = []  # the body is read here: a parse error is JSON-RPC's -32700
    schema = None  # A2A's own specification documents it

    def get_exception_handler(self) -> Any:
        return a2a_rest.exception_handler  # (what answers before a call: 401, 405)

    def post(self, request: Request, agent: str) -> HttpResponseBase:
        """One JSON-RPC call (no batches)."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return failure(None, a2a_errors.JSONParseError("The body is not JSON."))
        request_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
        if (
            not isinstance(body, dict)
            or body.get("jsonrpc") != "2.0"
            or not isinstance(body.get("method"), str)
            or ("params" in body and not isinstance(body["params"], dict | list))
        ):
            return failure(request_id, a2a_errors.InvalidRequestError("Not a JSON-RPC 2.0 request."))
        method = body["method"]
        try:
            a2a.check_version(request)
            found = a2a.agent_of(agent)
            if method in V03_MODELS:
                return self._v03(request, found, method, body, request_id)
            return self._v10(request, found, method, body.get("params") or {}, request_id)
        except Exception as exc:
            if a2a.problem(exc) is None:
                raise  # a bug or an outage: the project's handlers answer it (500, 503)
            return failure(request_id, exc)

    def _stream(
        self, request_id: Any, followed: a2a.Followed, base: str, shape: Callable[[dict[str, Any]], Any]
    ) -> StreamingHttpResponse:
        release_connection()  # the stream must not hold this request's connection
        return sse.response(frames(request_id, followed, base, shape))

    def _v10(
        self, request: Request, agent: Any, method: str, params: Any, request_id: Any
    ) -> HttpResponseBase:
        user, base = request.user, a2a.public_base(request)
        if method == "SendMessage":
            sent = a2a.parse(a2a_pb2.SendMessageRequest(), params)
            return answer(request_id, a2a.send_and_wait(user, agent, sent, base))
        if method == "SendStreamingMessage":
            sent_stream = a2a.send(user, agent, a2a.parse(a2a_pb2.SendMessageRequest(), params))
            return self._stream(request_id, a2a.stream_of(sent_stream, base), base, lambda item: item)
        if method == "GetTask":
            return answer(
                request_id, a2a.get_task(user, agent, a2a.parse(a2a_pb2.GetTaskRequest(), params), base)
            )
        if method == "ListTasks":
            listed = a2a.list_tasks(user, agent, a2a.parse(a2a_pb2.ListTasksRequest(), params), base)
            return answer(request_id, listed)
        if method == "CancelTask":
            cancelled = a2a.cancel(user, agent, a2a.parse(a2a_pb2.CancelTaskRequest(), params), base)
            return answer(request_id, cancelled)
        if method == "SubscribeToTask":
            task = a2a.parse(a2a_pb2.SubscribeToTaskRequest(), params)
            after = a2a.resume_point(params.get("metadata"), a2a.last_event_id(request))
            followed = a2a.subscribe(user, agent, task.id, after, base)
            return self._stream(request_id, followed, base, lambda item: item)
        if method == "GetExtendedAgentCard":
            return answer(request_id, a2a.card(agent, base, extended=True))
        if method in a2a.PUSH_METHODS:
            return answer(request_id, a2a.PUSH_METHODS[method](user, agent, params))
        raise a2a_errors.MethodNotFoundError(f"Method {method!r} not found.")

    def _v03(
        self, request: Request, agent: Any, method: str, body: dict[str, Any], request_id: Any
    ) -> HttpResponseBase:
        try:
            call: Any = V03_MODELS[method].model_validate(body)
        except pydantic.ValidationError as exc:
            raise a2a_errors.InvalidParamsError(f"Invalid parameters: {exc.errors()[0]['msg']}") from None
        user, base = request.user, a2a.public_base(request)
        if method == "message/send":
            result = a2a.send_and_wait(user, agent, conversions.to_core_send_message_request(call), base)
            task = a2a.parse(a2a_pb2.Task(), result["task"])
            return answer(request_id, _dump(conversions.to_compat_task(task)))
        if method == "message/stream":
            sent = a2a.send(user, agent, conversions.to_core_send_message_request(call))
            return self._stream(request_id, a2a.stream_of(sent, base), base, _v03_stream_item(request_id))
        if method in ("tasks/get", "tasks/cancel"):
            if method == "tasks/get":
                found = a2a.get_task(user, agent, conversions.to_core_get_task_request(call), base)
            else:
                found = a2a.cancel(user, agent, conversions.to_core_cancel_task_request(call), base)
            return answer(request_id, _dump(conversions.to_compat_task(a2a.parse(a2a_pb2.Task(), found))))
        if method == "tasks/resubscribe":
            after = a2a.resume_point(call.params.metadata, a2a.last_event_id(request))
            followed = a2a.subscribe(user, agent, call.params.id, after, base)
            return self._stream(request_id, followed, base, _v03_stream_item(request_id))
        if method == "agent/getAuthenticatedExtendedCard":
            extended = a2a.parse(a2a_pb2.AgentCard(), a2a.card(agent, base, extended=True))
            return answer(request_id, _dump(conversions.to_compat_agent_card(extended)))
        return answer(request_id, a2a.push_v03(user, agent, method, call))
