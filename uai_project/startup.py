"""Start-up checks of ``make run`` and ``manage.py``: each problem is told in one line with its fix.

A busy port, a database that cannot be reached and a bad setting each used to end in a long
traceback (or, for the port, in exit code 0). ``python -m uai_project.startup port HOST PORT``
checks the port before the slow steps (the install, the embedded PostgreSQL, the migrations);
it imports nothing of Django.
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Mapping
from typing import Any

PREFIX = "uai: "


class StartupError(Exception):
    """A problem ``make run`` cannot get past; its message is the one line the user sees."""


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (one line with the fix), or None.

    Binds the way the servers do (SO_REUSEADDR), so a port in TIME_WAIT is not called busy.
    """
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: unknown host ({exc.strerror}); set UAI_HOST to an address of this machine"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return bind_error(host, port, exc)
    return None


def bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: stop the program using it, "
            f"or choose another port (make run UAI_PORT={port + 1 if port < 65535 else 8001})"
        )
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}: choose a port above 1023 (make run UAI_PORT=8000)"
    return f"cannot listen on {host}:{port} ({exc.strerror}): set UAI_HOST/UAI_PORT (make run UAI_PORT=8001)"


def database_problem(database: Mapping[str, Any], timeout: float) -> str | None:
    """Why UAI's database cannot be reached (one line with the fix), or None.

    One direct connection with a short timeout: Django's pool would wait its own timeout and
    then end in a long traceback.
    """
    import psycopg

    options = database.get("OPTIONS", {})
    params = {
        "dbname": database.get("NAME") or None,
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
        "sslmode": options.get("sslmode"),
    }
    params = {k: v for k, v in params.items() if v is not None}
    try:
        psycopg.connect(**params, connect_timeout=max(1, round(timeout))).close()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return (
            f"cannot reach the database {where_database(database)}: {reason[:300]}; "
            "fix DATABASE_URL (postgres://USER:PASSWORD@HOST:PORT/NAME) or unset it to use the embedded PostgreSQL"
        )
    return None


def where_database(database: Mapping[str, Any]) -> str:
    """``host:port/name`` of a database, without its password."""
    host = database.get("HOST") or "localhost"
    port = database.get("PORT") or 5432
    return f"{host}:{port}/{database.get('NAME')}"


def where_data() -> str:
    """Where UAI keeps its data, for the ready line."""
    from django.conf import settings

    if settings.EMBEDDED_DATABASE:
        return f"embedded PostgreSQL in {settings.DATA_DIR / 'pgdata'}"
    return f"PostgreSQL at {where_database(settings.DATABASES['default'])} (DATABASE_URL)"


def fail(message: str) -> None:
    sys.stderr.write(PREFIX + message + "\n")
    sys.stderr.flush()
    raise SystemExit(1)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "port":
        try:
            port = int(argv[2])
        except ValueError:
            fail(f"UAI_PORT must be a whole number from 0 to 65535, not {argv[2]!r}")
        if not 0 <= port <= 65535:
            fail(f"UAI_PORT must be a whole number from 0 to 65535, not {argv[2]!r}")
        problem = port_problem(argv[1], port)
        if problem:
            fail(problem)
        return
    fail("usage: python -m uai_project.startup port HOST PORT")


if __name__ == "__main__":
    main(sys.argv[1:])
