"""A2A's HTTP+JSON binding under ``/a2a/{agent}``, and the agents' cards.

| route | operation |
|---|---|
| ``GET /a2a/{agent}/.well-known/agent-card.json`` (``/.well-known/agent-card.json``: the default agent's) | the card (public) |
| ``POST …/message:send``, ``POST …/message:stream`` | SendMessage, SendStreamingMessage |
| ``GET …/tasks``, ``GET …/tasks/{id}`` | ListTasks (its filters in the query), GetTask |
| ``POST …/tasks/{id}:cancel`` | CancelTask |
| ``GET|POST …/tasks/{id}:subscribe`` | SubscribeToTask (after ``metadata.uai.after`` of a body, ``?after=`` or ``Last-Event-ID``) |
| ``POST|GET …/tasks/{id}/pushNotificationConfigs``, ``GET|DELETE …/{configId}`` | the push notification configs |
| ``GET …/extendedAgentCard`` | GetExtendedAgentCard |

Errors are ``google.rpc.Status``-like bodies, as the SDK's REST transport reads them:
``{"error": {"code": <HTTP status>, "status": "NOT_FOUND", "message", "details": [{"@type":
"type.googleapis.com/google.rpc.ErrorInfo", "reason": "TASK_NOT_FOUND", "domain":
"a2a-protocol.org"}]}}`` — TaskNotFound 404, TaskNotCancelable 409, the other A2A errors 400;
every error under ``/a2a/`` has that shape (an unknown URL, 401, 413, 503 too).
"""

from __future__ import annotations

from typing import Any

from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.dialects import a2a, sse, ui_events
from uai.runs.waiting import release_connection
from uai_project import errors, parsers

PREFIX = "/a2a/"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN = "a2a-protocol.org"
GRPC_OF_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "FAILED_PRECONDITION",
    410: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
NOT_CANCELABLE_STATUS = 409  # (the SDK's server says 400; A2A's specification table, 409)


def rpc_error(found: a2a.Problem) -> tuple[int, dict[str, Any]]:
    """The status and body of an A2A error on this binding."""
    mapping = a2a_errors.A2A_ERROR_MAPPING.get(found.kind)
    status = found.http_status or (mapping.http_code if mapping else 500)
    if found.kind is a2a_errors.TaskNotCancelableError:
        status = NOT_CANCELABLE_STATUS
    grpc = (
        mapping.grpc_status if mapping and found.http_status is None else GRPC_OF_HTTP.get(status, "INTERNAL")
    )
    reason = mapping.reason if mapping else "INTERNAL_ERROR"
    detail = {"@type": ERROR_INFO, "reason": reason, "domain": DOMAIN, "metadata": {}}
    return status, {"error": {"code": status, "status": grpc, "message": found.message, "details": [detail]}}


def shape(error: errors.UAIError) -> tuple[int, dict[str, Any]]:
    """A UAI error under ``/a2a/`` (outside the views too: an unknown URL, the body limit)."""
    found = a2a.problem(error) or a2a.Problem(a2a_errors.InternalError, error.detail)
    if found.http_status is None and error.code == errors.ErrorCode.NOT_FOUND and "agent" in error.detail:
        found = a2a.Problem(a2a_errors.MethodNotFoundError, error.detail, errors.http_status(error))
    return rpc_error(found)


errors.error_shape(PREFIX, shape)


def error_response(exc: Exception) -> JsonResponse:
    found = a2a.problem(exc)
    if found is None:
        raise exc  # a bug: the project's handler answers it (500)
    status, body = rpc_error(found)
    return JsonResponse(body, status=status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | JsonResponse | None:
    """The project's handler (which knows every failure), its answer in this binding's shape."""
    answer = errors.exception_handler(exc, context)
    if answer is None or not isinstance(answer, Response):
        return answer
    data = answer.data if isinstance(answer.data, dict) else {}
    code = errors.ErrorCode(data.get("code") or errors.code_of_status(answer.status_code))
    error = errors.EXCEPTIONS[code](str(data.get("detail", "")), status=answer.status_code)
    status, body = shape(error)
    retry_after = answer.headers.get("Retry-After")  # a user's rate limit: when to come back
    return JsonResponse(body, status=status, headers={"Retry-After": retry_after} if retry_after else None)


class A2AView(APIView):
    """Base of the binding's views: the body read here, errors in this binding's shape."""

    parser_classes: list[Any] = []
    schema = None  # A2A's own specification documents it
    checks_version = True  # an A2A-Version header naming another version: VersionNotSupported

    def get_exception_handler(self) -> Any:
        return exception_handler

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, a2a_errors.A2AError):
            return error_response(exc)
        return super().handle_exception(exc)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self.checks_version:
            a2a.check_version(request)  # as the JSON-RPC binding does

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON object of the request's body (an empty body: {})."""
        raw = request.body
        if not raw.strip():
            return {}
        try:
            data = parsers.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise a2a_errors.InvalidRequestError("The body is not JSON.") from None
        if not isinstance(data, dict):
            raise a2a_errors.InvalidRequestError("The body must be a JSON object.")
        return data


def _stream(followed: a2a.Followed, base: str) -> StreamingHttpResponse:
    release_connection()  # the stream must not hold this request's connection
    return sse.response(_frames(followed, base))


async def _frames(followed: a2a.Followed, base: str) -> Any:
    async for item in a2a.events_after(followed, base):
        if item is None:
            yield sse.KEEPALIVE
        elif isinstance(item, ui_events.Broken):
            yield sse.encode(
                None,
                rpc_error(a2a.problem(item.error) or a2a.Problem(a2a_errors.InternalError, ""))[1],
                "error",
            )
            return
        else:
            yield sse.encode(a2a.sse_id(item, followed), item)


INTS = {"pageSize", "historyLength"}
BOOLS = {"includeArtifacts"}


def query(request: Request) -> dict[str, Any]:
    """A GET's query as the request message's JSON (numbers and flags as such)."""
    found: dict[str, Any] = {}
    for key in request.query_params:
        value = str(request.query_params.get(key, ""))
        if key in INTS:
            try:
                found[key] = int(value)
            except ValueError:
                raise a2a_errors.InvalidParamsError(f"{key!r} must be a whole number.") from None
        elif key in BOOLS:
            found[key] = value.lower() in ("1", "true", "yes")
        else:
            found[key] = value
    return found


class SendView(A2AView):
    def post(self, request: Request, agent: str) -> HttpResponseBase:
        """SendMessage."""
        sent = a2a.parse(a2a_pb2.SendMessageRequest(), self.body(request))
        return JsonResponse(
            a2a.send_and_wait(request.user, a2a.agent_of(agent), sent, a2a.public_base(request))
        )


class StreamView(A2AView):
    def post(self, request: Request, agent: str) -> HttpResponseBase:
        """SendStreamingMessage."""
        base = a2a.public_base(request)
        sent = a2a.send(
            request.user, a2a.agent_of(agent), a2a.parse(a2a_pb2.SendMessageRequest(), self.body(request))
        )
        return _stream(a2a.stream_of(sent, base), base)


class TasksView(A2AView):
    def get(self, request: Request, agent: str) -> HttpResponseBase:
        """ListTasks."""
        listed = a2a.parse(a2a_pb2.ListTasksRequest(), query(request))
        return JsonResponse(
            a2a.list_tasks(request.user, a2a.agent_of(agent), listed, a2a.public_base(request))
        )


class TaskView(A2AView):
    def get(self, request: Request, agent: str, task_id: str) -> HttpResponseBase:
        """GetTask."""
        asked = a2a.parse(a2a_pb2.GetTaskRequest(), {**query(request), "id": task_id})
        return JsonResponse(a2a.get_task(request.user, a2a.agent_of(agent), asked, a2a.public_base(request)))


class CancelView(A2AView):
    def post(self, request: Request, agent: str, task_id: str) -> HttpResponseBase:
        """CancelTask."""
        self.body(request)
        asked = a2a_pb2.CancelTaskRequest(id=task_id)
        return JsonResponse(a2a.cancel(request.user, a2a.agent_of(agent), asked, a2a.public_base(request)))


class SubscribeView(A2AView):
    def get(self, request: Request, agent: str, task_id: str) -> HttpResponseBase:
        """SubscribeToTask (the cursor in ``?after=`` or ``Last-Event-ID``)."""
        return self._follow(request, agent, task_id, {})

    def post(self, request: Request, agent: str, task_id: str) -> HttpResponseBase:
        """SubscribeToTask (the cursor in the body's ``metadata.uai.after`` too)."""
        return self._follow(request, agent, task_id, self.body(request))

    def _follow(self, request: Request, agent: str, task_id: str, body: dict[str, Any]) -> HttpResponseBase:
        after = a2a.resume_point(body.get("metadata"), a2a.last_event_id(request))
        base = a2a.public_base(request)
        return _stream(a2a.subscribe(request.user, a2a.agent_of(agent), task_id, after, base), base)


class PushConfigsView(A2AView):
    def post(self, request: Request, agent: str, task_id: str) -> HttpResponseBase:
        """CreateTaskPushNotificationConfig."""
        params = {**self.body(request), "taskId": task_id}
        return JsonResponse(
            a2a.PUSH_METHODS["CreateTaskPushNotificationConfig"](request.user, a2a.agent_of(agent), params)
        )

    def get(self, request: Request, agent: str, task_id: str) -> HttpResponseBase:
        """ListTaskPushNotificationConfigs."""
        params = {**query(request), "taskId": task_id}
        return JsonResponse(
            a2a.PUSH_METHODS["ListTaskPushNotificationConfigs"](request.user, a2a.agent_of(agent), params)
        )


class PushConfigView(A2AView):
    def get(self, request: Request, agent: str, task_id: str, config_id: str) -> HttpResponseBase:
        """GetTaskPushNotificationConfig."""
        params = {"taskId": task_id, "id": config_id}
        return JsonResponse(
            a2a.PUSH_METHODS["GetTaskPushNotificationConfig"](request.user, a2a.agent_of(agent), params)
        )

    def delete(self, request: Request, agent: str, task_id: str, config_id: str) -> HttpResponseBase:
        """DeleteTaskPushNotificationConfig."""
        params = {"taskId": task_id, "id": config_id}
        a2a.PUSH_METHODS["DeleteTaskPushNotificationConfig"](request.user, a2a.agent_of(agent), params)
        return JsonResponse({})


class ExtendedCardView(A2AView):
    def get(self, request: Request, agent: str) -> HttpResponseBase:
        """GetExtendedAgentCard."""
        return JsonResponse(a2a.card(a2a.agent_of(agent), a2a.public_base(request), extended=True))


class CardView(A2AView):
    """The agent's card: public."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    checks_version = False  # (public: any client reads it)

    def get(self, request: Request, agent: str | None = None) -> HttpResponseBase:
        """The card of the agent the URL names (the default agent's at the root)."""
        found = a2a.agent_of(agent) if agent else a2a.default_agent()
        response = JsonResponse(a2a.card(found, a2a.public_base(request)))
        response["Cache-Control"] = "public, max-age=60"
        return response


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under ``/a2a``: A2A's 404."""
    status, body = shape(errors.NotFound(f"No A2A route {request.method} {request.path}."))
    return JsonResponse(body, status=status)


AGENT = r"^(?P<agent>[^/]+)"
TASK = AGENT + r"/tasks/(?P<task_id>[^/:]+)"
urlpatterns = [
    re_path(AGENT + r"/.well-known/agent-card\.json$", CardView.as_view(), name="a2a-card"),
    re_path(AGENT + r"/message:send$", SendView.as_view(), name="a2a-send"),
    re_path(AGENT + r"/message:stream$", StreamView.as_view(), name="a2a-stream"),
    re_path(AGENT + r"/tasks/?$", TasksView.as_view(), name="a2a-tasks"),
    re_path(TASK + r"$", TaskView.as_view(), name="a2a-task"),
    re_path(TASK + r":cancel$", CancelView.as_view(), name="a2a-cancel"),
    re_path(TASK + r":subscribe$", SubscribeView.as_view(), name="a2a-subscribe"),
    re_path(TASK + r"/pushNotificationConfigs/?$", PushConfigsView.as_view(), name="a2a-push-configs"),
    re_path(
        TASK + r"/pushNotificationConfigs/(?P<config_id>[^/]+)$",
        PushConfigView.as_view(),
        name="a2a-push-config",
    ),
    re_path(AGENT + r"/extendedAgentCard$", ExtendedCardView.as_view(), name="a2a-extended-card"),
]
