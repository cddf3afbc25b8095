"""``uai_start_slots``: a user's limit of unfinished runs of a kind and how many they have, counted
under their advisory lock, in one round trip.

Two statements did it before (the lock, then the count): under READ COMMITTED a statement sees
the rows committed when it started, so a count in the lock's own statement could miss a run
that another request of the user committed while this one waited for the lock. A VOLATILE
PL/pgSQL function takes a new snapshot for each statement in it: its count, made after the lock
is granted, sees every run committed before then.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION uai_start_slots(
    lock_namespace integer, lock_key integer, owner bigint, run_kind text, default_limit integer
) RETURNS TABLE (start_limit integer, active integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    own integer;
BEGIN
    SELECT CASE WHEN run_kind = 'turn' THEN l.max_concurrent_turns ELSE l.max_concurrent_runs END
      INTO own FROM limits_userlimits l WHERE l.user_id = owner;
    start_limit := COALESCE(own, default_limit);
    active := 0;
    IF start_limit > 0 THEN
        PERFORM pg_advisory_xact_lock(lock_namespace, lock_key);
        -- (a statement of its own: a snapshot taken once the lock is held)
        SELECT count(*) INTO active FROM (
            SELECT 1 FROM runs_run r
            WHERE r.owner_id = owner AND r.kind = run_kind
              AND r.status IN ('queued', 'running', 'input_required')
            LIMIT start_limit
        ) unfinished;
    END IF;
    RETURN NEXT;
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS uai_start_slots(integer, integer, bigint, text, integer);"


class Migration(migrations.Migration):
    dependencies = [("limits", "0001_initial"), ("runs", "0007_run_schedule_run_run_schedule_created")]

    operations = [migrations.RunSQL(CREATE, DROP)]
