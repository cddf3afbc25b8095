"""What daphne's HTTP layer (Twisted) refuses on its own, answered as UAI answers everything else.

Twisted parses a request before daphne hands it to UAI, and refused some without a word of JSON:

- a request line over 16 KiB (a 60,000-character path): the connection was dropped, no answer
  (now ``414``; a header line over it, ``431``);
- headers over 16 KiB together, a malformed request line or header: ``400`` with an empty body
  (now ``431`` and ``400`` with ``{detail, code}``);
- a ``multipart/form-data`` body it could not parse itself: ``400`` with an empty body. Twisted
  parses every form body into ``request.args``, which daphne never reads — Django parses the body
  again, and it is Django's parser (through DRF's) that answers.

``install()`` is called once, by ``manage.py serve``, before daphne starts. Twisted has no hooks
for these, so the three places are replaced on its classes; ``install()`` checks they are there,
so that a Twisted that renamed them stops the server at start instead of being silently unfixed.
"""

from __future__ import annotations

from typing import Any

from daphne import http_protocol
from twisted.web import http

from uai_project import errors

CLOSE_AFTER_SECONDS = 5.0  # how long a refused client has to read the answer before it is cut off


def _refuse(channel: http.HTTPChannel, error: errors.UAIError, reason: bytes) -> None:
    """Answer ``{detail, code}`` and close — after the client has read it: the rest of what it sends
    is discarded, not left unread (closing over unread data resets the connection, and a client
    may then lose the answer before it reads it)."""
    body = errors.error_bytes(error)
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (errors.http_status(error), reason, len(body))
    )
    channel.write(head + body)  # (to its transport)
    # Nothing more is read — not even the lines left in the packet being parsed (Twisted's own
    # close makes its line reader stop; a half-close does not).
    channel.dataReceived = channel.rawDataReceived = channel.lineReceived = _ignore  # type: ignore[method-assign]
    half_close = getattr(channel.transport, "loseWriteConnection", None)
    if half_close is None:
        channel.loseConnection()
        return
    half_close()  # the answer, then end-of-stream: the client reads it and closes its side
    channel.setTimeout(CLOSE_AFTER_SECONDS)  # and if it does not, the channel's timeout closes it


def _ignore(data: bytes) -> None:
    pass


def _line_too_long(self: http.HTTPChannel, line: bytes) -> None:
    if getattr(self, "_HTTPChannel__first_line", 0):
        _refuse(self, errors.TooLarge("The request line is too long.", status=414), b"URI Too Long")
    else:
        too_long = errors.TooLarge("A request header is too long.", status=431)
        _refuse(self, too_long, b"Request Header Fields Too Large")


def _bad_request(self: http.HTTPChannel) -> None:
    if getattr(self, "_receivedHeaderSize", 0) > self.totalHeadersSize:  # each line fit, not all
        too_large = errors.TooLarge("The request's headers are too large.", status=431)
        _refuse(self, too_large, b"Request Header Fields Too Large")
        return
    _refuse(self, errors.InvalidInput("Bad request: malformed HTTP."), b"Bad Request")


class WebRequest(http_protocol.WebRequest):  # type: ignore[misc]  # untyped base
    """daphne's request, without Twisted's parse of form bodies (Django parses them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)


def install() -> None:
    """Put UAI's answers in Twisted's place (see the module's docstring)."""
    for owner, name in [
        (http.HTTPChannel, "lineLengthExceeded"),
        (http.HTTPChannel, "_respondToBadRequestAndDisconnect"),
        (http_protocol, "WebRequest"),
    ]:
        if not hasattr(owner, name):
            raise RuntimeError(
                f"daphne_http: {owner.__name__}.{name} is gone; see uai_project/daphne_http.py"
            )
    if "parsePOSTFormSubmission" not in http.Request.__init__.__code__.co_varnames:
        raise RuntimeError("daphne_http: Twisted's Request takes no parsePOSTFormSubmission")
    http.HTTPChannel.lineLengthExceeded = _line_too_long  # type: ignore[method-assign, assignment]  # a patch (self: an HTTPChannel)
    http.HTTPChannel._respondToBadRequestAndDisconnect = _bad_request  # type: ignore[method-assign]  # a patch
    http_protocol.WebRequest = WebRequest  # what daphne's HTTPFactory builds each request with
