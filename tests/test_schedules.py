"""Scheduled runs: a cron expression, an input and a time zone; each firing a normal run.

Driven with httpx against a server of this module's own that ticks every second (the real
procrastinate periodic job, ``uai.fire_schedules``), in both modes; a second ``procrastinate
worker`` process ticks alongside it where the test says so.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    cancel_run,
    process_env,
    restore_content_type_ids,
    serve_until_done,
    start_worker,
    wait_for,
    wait_run,
)

UTC = datetime.UTC
EVERY_2S = "* * * * * */2"  # croniter's 6th field: seconds
SCHEDULE_ENV = {
    "UAI_SCHEDULE_TICK_SECONDS": "1",
    "UAI_SCHEDULE_MIN_INTERVAL_SECONDS": "2",
    "UAI_MAX_SCHEDULES_PER_USER": "4",
}


@pytest.fixture(scope="module")
def schedule_server(django_db_setup: Any, django_db_blocker: Any, log_dir: Path) -> Iterator[str]:
    """A server (and worker, distributed) whose workers tick every second."""
    yield from serve_until_done("sched-server", "sched-worker", process_env(**SCHEDULE_ENV), log_dir)


@pytest.fixture
def live(
    schedule_server: str, django_db_reset_sequences: Any, content_type_ids: dict[tuple[str, str], int]
) -> str:
    """This module's server in place of the session's (``user_client``, ``alice`` and ``bob`` use it)."""
    restore_content_type_ids(content_type_ids)
    return schedule_server


@pytest.fixture(autouse=True)
def settled(live: str) -> Iterator[None]:
    """After each test: no schedule left to fire, and every run over, before the flush."""
    yield
    from uai.runs.models import Run
    from uai.schedules.models import Schedule

    Schedule.objects.update(enabled=False, next_fire_at=None)
    time.sleep(1.2)  # (a tick that took its schedule before the update commits now)
    from uai.runs import services as run_services
    from uai_project.errors import Conflict

    for run in Run.objects.filter(status__in=Run.ACTIVE):
        try:
            run_services.run_cancel(run=run)
        except Conflict:
            pass  # it ended meanwhile
    wait_for(lambda: not _running_jobs(), timeout=20)


def _running_jobs() -> bool:
    from procrastinate.contrib.django.models import ProcrastinateJob

    return ProcrastinateJob.objects.filter(status="doing", task_name="uai.run_agent").exists()


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/schedules/", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def runs_of(client: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    response = client.get("/run/", params={"schedule": schedule_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_schedule__each_firing_is_a_run_with_its_input(alice: httpx.Client) -> None:
    made = create(alice, agent="echo", input="good morning", cron=EVERY_2S, timezone="Europe/Paris")
    assert made["enabled"] and made["cron"] == EVERY_2S and made["timezone"] == "Europe/Paris"
    next_fire = datetime.datetime.fromisoformat(made["next_fire_at"])
    assert next_fire.second % 2 == 0 and 0 < (next_fire - datetime.datetime.now(UTC)).total_seconds() <= 2.5

    runs = wait_for(lambda: len(runs_of(alice, made["id"])) >= 2 and runs_of(alice, made["id"]), timeout=15)
    for run in runs:
        assert run["schedule_id"] == made["id"] and run["kind"] == "task"
        assert run["input"] == "good morning" and run["agent"] == "echo"

    done = wait_run(alice, runs[-1]["task_id"], "succeeded")
    assert "good morning" in str(done["output"])
    # visible in the plain run list too, and under the schedule
    listed = {r["task_id"]: r["schedule_id"] for r in alice.get("/run/").json()}
    assert all(listed[r["task_id"]] == made["id"] for r in runs)
    under = alice.get(f"/schedules/{made['id']}/runs").json()
    assert {r["task_id"] for r in runs} <= {r["task_id"] for r in under}

    shown = alice.get(f"/schedules/{made['id']}").json()
    assert shown["last_run_id"] in {r["task_id"] for r in under}
    assert shown["last_fired_at"] and shown["next_fire_at"] > shown["last_fired_at"]
    assert alice.get("/schedules/").json()[0]["id"] == made["id"]

    from uai.schedules.models import Firing

    times = sorted(f.fire_time for f in Firing.objects.filter(schedule_id=made["id"]))
    assert all(t.second % 2 == 0 and t.microsecond == 0 for t in times)  # the expression's own times


def test_schedule__one_run_per_firing_however_many_workers_tick(
    alice: httpx.Client, log_dir: Path, live: str
) -> None:
    from django.db import connection

    from uai.runs.models import Run
    from uai.schedules.models import Firing

    # A second worker process on the maintenance queue: its periodic deferrer and its job
    # fetching race the server's for every tick.
    second = start_worker(log_dir, "maintenance", name="sched-second-worker", **SCHEDULE_ENV)
    try:
        with connection.cursor() as cursor:

            def workers() -> int:
                cursor.execute("SELECT count(*) FROM procrastinate_workers")
                return int(cursor.fetchone()[0])

            before = workers()
            wait_for(lambda: workers() > before, timeout=30)
        made = [create(alice, agent="echo", input=f"s{i}", cron=EVERY_2S) for i in range(3)]
        time.sleep(9)
        for schedule in made:
            assert alice.patch(f"/schedules/{schedule['id']}", json={"enabled": False}).status_code == 200
        time.sleep(1.2)
        assert second.proc.poll() is None, second.output()
    finally:
        second.kill()
    for schedule in made:
        firings = list(Firing.objects.filter(schedule_id=schedule["id"]).order_by("fire_time"))
        runs = list(Run.objects.filter(schedule_id=schedule["id"]))
        assert len(firings) >= 3
        # one run per firing, and no run without one
        assert sorted(str(r.pk) for r in runs) == sorted(str(f.run_id) for f in firings)
        assert all(r.input == schedule["input"] for r in runs)
        # each firing its own due time of the expression, none twice (a tick late by more than
        # the interval on a loaded machine fires once for the times it missed: a longer gap)
        gaps = [(b.fire_time - a.fire_time).total_seconds() for a, b in itertools.pairwise(firings)]
        assert all(gap >= 2 and gap % 2 == 0 for gap in gaps), gaps


def test_schedule__disabled_it_stops_firing_and_enabled_it_starts_again(alice: httpx.Client) -> None:
    made = create(alice, agent="echo", input="x", cron=EVERY_2S)
    wait_for(lambda: runs_of(alice, made["id"]), timeout=10)
    off = alice.patch(f"/schedules/{made['id']}", json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False and off.json()["next_fire_at"] is None
    time.sleep(1.2)  # (a tick that took it just before)
    count = len(runs_of(alice, made["id"]))
    time.sleep(4)
    assert len(runs_of(alice, made["id"])) == count
    on = alice.patch(f"/schedules/{made['id']}", json={"enabled": True, "input": "y"})
    assert on.json()["enabled"] is True and on.json()["next_fire_at"]
    runs = wait_for(
        lambda: len(runs_of(alice, made["id"])) > count and runs_of(alice, made["id"]), timeout=10
    )
    assert runs[0]["input"] == "y"


def test_schedule__its_run_is_cancellable_like_any(alice: httpx.Client) -> None:
    made = create(alice, agent="slow", input={"steps": 100, "delay": 0.1}, cron=EVERY_2S, name="long one")
    run = wait_for(lambda: runs_of(alice, made["id"]), timeout=10)[-1]
    alice.patch(f"/schedules/{made['id']}", json={"enabled": False})
    wait_run(alice, run["task_id"], "running")
    cancel_run(alice, run["task_id"])
    assert alice.get(f"/run/{run['task_id']}").json()["status"] == "cancelled"
    # deleting the schedule keeps its runs
    assert alice.delete(f"/schedules/{made['id']}").status_code == 204
    assert alice.get(f"/schedules/{made['id']}").status_code == 404
    kept = alice.get(f"/run/{run['task_id']}").json()
    assert kept["status"] == "cancelled" and kept["schedule_id"] is None


def test_schedule__missed_firings_fire_once_then_go_on_from_now(alice: httpx.Client) -> None:
    from uai.schedules.models import Firing, Schedule

    made = create(alice, agent="echo", input="catch up", cron="0 * * * *", timezone="Asia/Kolkata")
    # As if no worker ran for five hours: five hourly times missed.
    missed = datetime.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - datetime.timedelta(
        hours=5
    )
    Schedule.objects.filter(pk=made["id"]).update(next_fire_at=missed)
    runs = wait_for(lambda: runs_of(alice, made["id"]), timeout=10)
    time.sleep(2.5)  # a few more ticks
    assert len(runs_of(alice, made["id"])) == len(runs) == 1
    assert [f.fire_time for f in Firing.objects.filter(schedule_id=made["id"])] == [missed]
    shown = alice.get(f"/schedules/{made['id']}").json()
    next_fire = datetime.datetime.fromisoformat(shown["next_fire_at"])
    assert next_fire > datetime.datetime.now(UTC)
    # Kolkata is UTC+05:30: "minute 0" there is half past in UTC
    assert next_fire.minute == 30 and next_fire - datetime.datetime.now(UTC) <= datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"agent": "echo", "cron": "61 * * * *"}, "Invalid cron expression"),
        ({"agent": "echo", "cron": "* * *"}, "5 fields"),
        ({"agent": "echo", "cron": "0 0 31 2 *"}, "never fires"),
        ({"agent": "echo", "cron": "* * * * * *"}, "UAI_SCHEDULE_MIN_INTERVAL_SECONDS"),
        ({"agent": "echo", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"agent": "echo", "cron": "0 9 * * *", "timezone": ""}, "timezone"),
        ({"agent": "nobody", "cron": "0 9 * * *"}, "Unknown agent"),
        ({"agent": "echo", "cron": 5}, "cron"),
        ({"agent": "echo"}, "cron"),
        ({"cron": "0 9 * * *"}, "agent"),
        ({"agent": "echo", "cron": "0 9 * * *", "enabled": "maybe"}, "enabled"),
    ],
)
def test_schedule__bad_input_is_a_400_that_says_why(
    alice: httpx.Client, body: dict[str, Any], says: str
) -> None:
    response = alice.post("/schedules/", json=body)
    assert response.status_code == 400, response.text
    assert says in str(response.json()["detail"])
    assert alice.get("/schedules/").json() == []


def test_schedule__bad_changes_are_400_and_change_nothing(alice: httpx.Client) -> None:
    made = create(alice, agent="echo", cron="0 9 * * 1-5", timezone="America/New_York", enabled=False)
    for body, says in [
        ({"cron": "nonsense"}, "Invalid cron expression"),
        ({"timezone": "Nowhere/Else"}, "Unknown time zone"),
        ({"agent": "nobody"}, "Unknown agent"),
        ({}, "Send the fields to change"),
    ]:
        response = alice.patch(f"/schedules/{made['id']}", json=body)
        assert response.status_code == 400, response.text
        assert says in response.json()["detail"]
    # a form's "null" is a null too (it was stored: a 500 on the not-null column, as for POST /run/)
    for response in [
        alice.patch(f"/schedules/{made['id']}", data={"input": "null"}),
        alice.post("/schedules/", data={"agent": "echo", "cron": "0 9 * * *", "input": "null"}),
        alice.post("/run/", data={"agent": "echo", "input": "null"}),
    ]:
        assert response.status_code == 400 and "input: This field may not be null." in response.text
    assert alice.get(f"/schedules/{made['id']}").json() == made
    changed = alice.patch(f"/schedules/{made['id']}", json={"cron": "30  8 * * *", "name": "daily"}).json()
    assert changed["cron"] == "30 8 * * *" and changed["name"] == "daily" and changed["next_fire_at"] is None
    # at most UAI_MAX_SCHEDULES_PER_USER (4 here)
    for _ in range(3):
        create(alice, agent="echo", cron="0 9 * * *", enabled=False)
    over = alice.post("/schedules/", json={"agent": "echo", "cron": "0 9 * * *"})
    assert over.status_code == 400 and "UAI_MAX_SCHEDULES_PER_USER" in over.json()["detail"]


def test_schedule__another_users_schedule_is_404(alice: httpx.Client, bob: httpx.Client) -> None:
    made = create(alice, agent="echo", input="mine", cron=EVERY_2S)
    run = wait_for(lambda: runs_of(alice, made["id"]), timeout=10)[0]
    path = f"/schedules/{made['id']}"
    assert bob.get(path).status_code == 404
    assert bob.patch(path, json={"enabled": False}).status_code == 404
    assert bob.delete(path).status_code == 404
    assert bob.get(path + "/runs").status_code == 404
    assert bob.get("/schedules/").json() == []
    assert runs_of(bob, made["id"]) == []
    assert bob.get(f"/run/{run['task_id']}").status_code == 404
    assert bob.get("/schedules/not-a-uuid").status_code == 404
    assert alice.get(path).json()["enabled"] is True
    assert httpx.get(alice.base_url.join("/schedules/")).status_code == 401


# --- the next time, in a zone, across DST (no server) ----------------------------------------------


def _utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def test_next_after__wall_clock_time_kept_across_dst() -> None:
    from uai.schedules import cron

    # 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    assert cron.next_after("0 9 * * *", "Europe/Berlin", _utc(2026, 3, 28, 12)) == _utc(2026, 3, 29, 7)
    assert cron.next_after("0 9 * * *", "Europe/Berlin", _utc(2026, 3, 27, 12)) == _utc(2026, 3, 28, 8)
    assert cron.next_after("0 9 * * *", "America/New_York", _utc(2026, 11, 1, 0)) == _utc(2026, 11, 1, 14)
    assert cron.next_after("0 9 * * *", "America/New_York", _utc(2026, 10, 31, 0)) == _utc(2026, 10, 31, 13)
    assert cron.next_after("0 9 * * *", "UTC", _utc(2026, 3, 28, 12)) == _utc(2026, 3, 29, 9)


def test_next_after__a_skipped_time_fires_at_the_jump_and_a_repeated_one_once() -> None:
    from uai.schedules import cron

    # Berlin, 29 March 2026: 02:00 → 03:00. 02:30 does not exist: it fires at 03:00 (01:00 UTC).
    assert cron.next_after("30 2 * * *", "Europe/Berlin", _utc(2026, 3, 28, 12)) == _utc(2026, 3, 29, 1)
    # Berlin, 25 October 2026: 03:00 → 02:00. 02:30 comes twice: it fires the first time only.
    first = cron.next_after("30 2 * * *", "Europe/Berlin", _utc(2026, 10, 24, 12))
    assert first == _utc(2026, 10, 25, 0, 30)
    assert cron.next_after("30 2 * * *", "Europe/Berlin", first) == _utc(2026, 10, 26, 1, 30)
    # Every 15 minutes goes on by the real clock through the repeated hour: no gap, no repeat.
    times = [_utc(2026, 10, 24, 23, 50)]
    for _ in range(12):
        times.append(cron.next_after("*/15 * * * *", "Europe/Berlin", times[-1]))
    assert {b - a for a, b in itertools.pairwise(times[1:])} == {datetime.timedelta(minutes=15)}


def test_check__normalises_and_refuses() -> None:
    from uai.schedules import cron

    assert cron.check("  0   9 * * 1-5 ") == "0 9 * * 1-5"
    assert cron.check("@daily") == "@daily"
    for bad in ["", "* * * *", "* * * * * * * *", "60 * * * *", "@sometimes", "a b c d e"]:
        with pytest.raises(cron.CronError):
            cron.check(bad)
    with pytest.raises(cron.CronError):
        cron.zone("Europe/Atlantis")
    assert cron.smallest_gap_seconds("0,1 * * * *", "UTC", _utc(2026, 1, 1)) == 60


# --- the runs page ---------------------------------------------------------------------------------


@pytest.mark.once
def test_browser_runs__schedule_from_the_page_at_phone_width(
    chromium: Any, live: str, alice: httpx.Client
) -> None:
    from tests.conftest import set_password
    from tests.test_browser import PASSWORD, shot

    set_password(alice.user, PASSWORD)
    context = chromium.new_context(
        base_url=live, viewport={"width": 390, "height": 844}, timezone_id="Europe/Paris"
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto("/runs/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#run-agent option[value='echo']", state="attached")
        page.get_by_label("Agent").select_option("echo")
        page.locator("#schedules-box summary").click()
        assert page.get_by_label("Time zone").input_value() == "Europe/Paris"  # the browser's own
        page.get_by_label("Cron expression").fill("not a cron")
        page.get_by_role("button", name="Schedule").click()
        page.wait_for_selector("#schedule-error:not([hidden])")
        assert "Invalid cron expression" in page.locator("#schedule-error").inner_text()
        page.get_by_label("Message for each run").fill("from the page")
        page.get_by_label("Cron expression").fill(EVERY_2S)
        page.get_by_label("Name").fill("pulse")
        page.get_by_role("button", name="Schedule").click()
        row = page.locator("#schedules li", has_text="pulse")
        row.wait_for()
        assert "next" in row.inner_text() and "Europe/Paris" in row.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        # its runs are marked in the run list (refreshed every 5 s), and say where they came from
        page.locator("#runs li .scheduled").first.wait_for(timeout=15_000)
        page.locator("#runs li", has=page.locator(".scheduled")).first.locator("a").click()
        page.wait_for_selector(".run-schedule:not([hidden])")
        assert "pulse" in page.locator(".run-schedule").inner_text()
        page.get_by_role("button", name="Pause pulse").click()
        page.get_by_role("button", name="Resume pulse").wait_for()
        assert alice.get("/schedules/").json()[0]["enabled"] is False
        row.get_by_role("link", name="runs").click()
        page.wait_for_selector("#run-detail .run-list li a")
        shot(page, "runs-phone-390-schedules")
        page.get_by_role("button", name="Delete pulse").click()
        page.locator("#schedules li", has_text="none yet").wait_for()
        assert alice.get("/schedules/").json() == []
    finally:
        context.close()


# --- the admin -------------------------------------------------------------------------------------


def test_admin__schedules_listed_added_checked_disabled_and_run_now(
    live: str, alice: httpx.Client, user_client: Any
) -> None:
    import re

    from tests.test_admin_docs import admin_session
    from uai.schedules.models import Schedule

    made = create(
        alice, agent="echo", input="by hand", cron="0 9 * * 1-5", timezone="Europe/Paris", name="weekday"
    )
    browser = admin_session(live, user_client)
    try:
        listed = browser.get("/admin/schedules/schedule/")
        assert listed.status_code == 200 and "weekday" in listed.text and "Europe/Paris" in listed.text
        assert browser.get(f"/admin/schedules/schedule/{made['id']}/change/").status_code == 200

        def post(path: str, data: dict[str, Any]) -> httpx.Response:
            page = browser.get(path)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            return browser.post(
                path, data={**data, "csrfmiddlewaretoken": token}, headers={"Referer": f"{live}{path}"}
            )

        # "Run now": one run at once, outside the expression (09:00 on weekdays)
        post("/admin/schedules/schedule/", {"action": "run_now", "_selected_action": [made["id"]]})
        run = wait_for(lambda: runs_of(alice, made["id"]), timeout=10)[0]
        assert run["input"] == "by hand"
        wait_run(alice, run["task_id"], "succeeded")
        post("/admin/schedules/schedule/", {"action": "disable", "_selected_action": [made["id"]]})
        shown = alice.get(f"/schedules/{made['id']}").json()
        assert (
            shown["enabled"] is False
            and shown["next_fire_at"] is None
            and shown["last_run_id"] == run["task_id"]
        )
        # the add form checks the expression as the API does
        fields = {
            "owner": str(alice.user.pk),
            "agent": "echo",
            "input": '"x"',
            "timezone": "UTC",
            "enabled": "on",
        }
        refused = post("/admin/schedules/schedule/add/", {**fields, "cron": "99 * * * *"})
        assert refused.status_code == 200 and "Invalid cron expression" in refused.text
        added_page = post(
            "/admin/schedules/schedule/add/", {**fields, "cron": "30 7 * * *", "name": "from the admin"}
        )
        assert "was added successfully" in added_page.text, re.findall(
            r'class="errorlist[^"]*">(.*?)</ul>', added_page.text
        )
        added = Schedule.objects.get(name="from the admin")
        assert added.next_fire_at is not None and added.next_fire_at.minute == 30
    finally:
        browser.close()
