"""What uvicorn refuses on its own (a request its HTTP parser cannot read), answered as UAI
answers everything else: ``400 {detail, code}``, not ``text/plain``. (daphne's: daphne_http.)"""

from __future__ import annotations

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from uai_project import errors


class HTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools, or h11 without it) with a JSON answer to bad HTTP."""

    def send_400_response(self, msg: str) -> None:
        """Answer a request that could not be parsed, and close."""
        body = errors.error_bytes(errors.InvalidInput(f"Bad request: {msg}"))
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
