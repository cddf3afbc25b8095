"""One error vocabulary: every code in ``ErrorCode``, an exception for each, and every transport's
table whole — and each transport's answer, byte for byte, what it was when the bodies were built
by hand in each view."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from uai.dialects import native_streams, reply_chunks, step_socket
from uai.runs import streams
from uai_project import errors
from uai_project.errors import ErrorCode

ROOT = Path(__file__).resolve().parent.parent

# The wire's values: a client matches on these, so none may change.
WIRE = {
    "INVALID": "invalid",
    "NOT_AUTHENTICATED": "not_authenticated",
    "FORBIDDEN": "forbidden",
    "NOT_FOUND": "not_found",
    "METHOD_NOT_ALLOWED": "method_not_allowed",
    "CONFLICT": "conflict",
    "TOO_LARGE": "too_large",
    "UNSUPPORTED_MEDIA_TYPE": "unsupported_media_type",
    "RATE_LIMITED": "rate_limited",
    "TIMEOUT": "timeout",
    "UNAVAILABLE": "unavailable",
    "AGENT_FAILED": "agent_failed",
    "SERVER_ERROR": "error",
    "TOO_SLOW": "too_slow",
    "GONE": "gone",
}


def test_error_code__the_wire_values() -> None:
    assert {code.name: code.value for code in ErrorCode} == WIRE


@pytest.mark.parametrize("code", list(ErrorCode))
def test_exceptions__one_per_code(code: ErrorCode) -> None:
    error_class = errors.EXCEPTIONS[code]
    assert issubclass(error_class, errors.UAIError)
    assert error_class.code is code
    assert getattr(errors, error_class.__name__) is error_class  # raised as errors.<Name>
    assert error_class("d").code is code


def test_exceptions__the_streams_ends_are_codes_too() -> None:
    assert streams.StreamOverflow("x").code is ErrorCode.TOO_SLOW
    assert streams.ChatGone("x").code is ErrorCode.GONE


def test_tables__every_transport_has_one_and_each_is_whole() -> None:
    assert errors.TABLES.keys() >= {"REST", "seed 001 WebSocket"}
    for transport, table in errors.TABLES.items():
        assert set(table) == set(ErrorCode), transport
    assert errors.TABLES["REST"] is errors.HTTP_STATUS
    assert errors.TABLES["seed 001 WebSocket"] is step_socket.CLOSE_CODES


def test_tables__one_without_a_code_is_refused() -> None:
    partial = {code: 1 for code in ErrorCode if code is not ErrorCode.GONE}
    with pytest.raises(ImproperlyConfigured, match="gone"):
        errors.transport_table("partial", partial)
    assert "partial" not in errors.TABLES


# --- REST -----------------------------------------------------------------------------------------


def _drf(view: Any) -> Any:
    class View(APIView):
        authentication_classes: list[Any] = []
        permission_classes: list[Any] = []

        def get(self, request: Request) -> Response:
            return view()

    response = View.as_view()(APIRequestFactory().get("/"))
    response.render()
    return response


@pytest.mark.parametrize("code", list(ErrorCode))
def test_rest__a_raised_error_is_the_response_views_built_by_hand(code: ErrorCode) -> None:
    def raising() -> Response:
        raise errors.EXCEPTIONS[code]("It went wrong: «here».")

    def by_hand() -> Response:
        body = {"detail": "It went wrong: «here».", "code": code.value}
        return Response(body, status=errors.HTTP_STATUS[code])

    raised, built = _drf(raising), _drf(by_hand)
    assert (raised.status_code, raised.content) == (built.status_code, built.content)
    assert raised.headers == built.headers


@pytest.mark.parametrize("code", list(ErrorCode))
def test_rest__outside_drf_and_below_django_the_same_bytes(code: ErrorCode) -> None:
    error = errors.EXCEPTIONS[code]("It went wrong: «here».")
    by_hand = JsonResponse({"detail": error.detail, "code": code.value}, status=errors.HTTP_STATUS[code])
    response = errors.error_response(error)
    assert (response.status_code, response.content) == (by_hand.status_code, by_hand.content)
    assert response.headers == by_hand.headers
    assert errors.error_bytes(error) == by_hand.content


def test_rest__a_status_names_its_code() -> None:
    for code, status in errors.HTTP_STATUS.items():
        if code is not ErrorCode.TOO_SLOW:  # a stream's end: 503 is UNAVAILABLE's
            assert errors.code_of_status(status) is code
    assert errors.code_of_status(418) is ErrorCode.SERVER_ERROR
    assert errors.json_error("No.", 404).content == b'{"detail": "No.", "code": "not_found"}'
    too_long = errors.json_error("Long.", 414, code=ErrorCode.TOO_LARGE)
    assert (too_long.status_code, too_long.content) == (414, b'{"detail": "Long.", "code": "too_large"}')


def test_rest__a_drf_error_of_a_status_not_in_the_table_still_has_a_code_of_the_enum() -> None:
    from rest_framework import exceptions

    def unsupported() -> Response:
        raise exceptions.UnsupportedMediaType("text/csv")

    response = _drf(unsupported)
    assert response.status_code == 415
    assert json.loads(response.content) == {
        "detail": 'Unsupported media type "text/csv" in request.',
        "code": "unsupported_media_type",
    }


def test_rest__the_agent_failed_answers_of_three_views(alice: httpx.Client) -> None:
    """Built by hand in each view before: the same bytes, now raised."""
    failed = b'{"detail":"The agent failed: AgentFailure: The fail agent failed on purpose.","code":"agent_failed"}'
    for path, body in [
        ("/agent/run", {"task": "x", "agent": "fail"}),
        ("/chat/next", {"user_input": "x", "agent": "fail"}),
        ("/chat/run", {"message": "x", "agent": "fail"}),
    ]:
        response = alice.post(path, json=body)
        assert (response.status_code, response.content) == (502, failed), path
        assert response.headers["content-type"] == "application/json"


# --- SSE ------------------------------------------------------------------------------------------


def test_sse__the_native_error_event() -> None:
    overflow = streams.StreamOverflow("the client read too slowly; resume from the last event id")
    assert native_streams.error_event(overflow) == (
        b"event: error\n"
        b'data: {"detail":"the client read too slowly; resume from the last event id","code":"too_slow"}\n\n'
    )
    gone = native_streams.error_event(streams.ChatGone("The chat was deleted."))
    assert gone == b'event: error\ndata: {"detail":"The chat was deleted.","code":"gone"}\n\n'


@pytest.mark.parametrize("code", list(ErrorCode))
def test_sse__every_code_renders_in_each_stream(code: ErrorCode) -> None:
    error = errors.EXCEPTIONS[code]("It went wrong.")
    event = native_streams.error_event(error).decode()
    assert event.startswith("event: error\ndata: ") and event.endswith("\n\n")
    assert json.loads(event.split("data: ", 1)[1]) == {"detail": "It went wrong.", "code": code.value}
    chunk = reply_chunks.error_chunk(error)
    assert chunk == b'data: {"content":"","is_final":true,"metrics":null,"error":"It went wrong."}\n\n'


# --- WebSocket ------------------------------------------------------------------------------------


def test_websocket__close_codes() -> None:
    codes = step_socket.CLOSE_CODES
    # Those the socket sends today.
    assert codes[ErrorCode.INVALID] == 4400
    assert codes[ErrorCode.NOT_AUTHENTICATED] == 4401
    assert codes[ErrorCode.FORBIDDEN] == 4403
    assert codes[ErrorCode.NOT_FOUND] == codes[ErrorCode.GONE] == 4404
    assert codes[ErrorCode.TOO_SLOW] == 4008
    assert codes[ErrorCode.UNAVAILABLE] == step_socket.CLOSE_TRY_AGAIN == errors.WS_CLOSE_TRY_AGAIN == 4013
    # daphne (autobahn) sends no close code but 1000 and 3000–4999.
    assert all(3000 <= close <= 4999 for close in codes.values())


# --- No body built by hand ------------------------------------------------------------------------


def _error_bodies_by_hand(path: Path) -> list[int]:
    """Lines of dict displays with both a ``"detail"`` and a ``"code"`` key."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Dict):
            keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if {"detail", "code"} <= keys:
                lines.append(node.lineno)
    return lines


def test_sources__no_error_body_is_built_outside_errors_py() -> None:
    """A dialect raises, and its transport's renderer builds the body."""
    allowed = {ROOT / "uai_project" / "errors.py", ROOT / "uai_project" / "schema.py"}  # (schema: its shape)
    found = {
        str(path.relative_to(ROOT)): lines
        for package in ("uai", "uai_project")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in allowed and (lines := _error_bodies_by_hand(path))
    }
    assert found == {}


def test_rest__an_answer_known_by_its_status_has_that_status_s_own_code() -> None:
    assert errors.code_of_status(503) is ErrorCode.UNAVAILABLE  # not the stream-only too_slow
    assert errors.code_of_status(410) is ErrorCode.GONE
    assert errors.code_of_status(418) is ErrorCode.SERVER_ERROR
