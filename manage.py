#!/usr/bin/env python
"""Django's command-line utility for UAI."""

from __future__ import annotations

import os
import sys

# The commands ``make run`` uses first: the database is checked before them, quickly and in one line.
NEEDS_DATABASE = {"migrate", "serve", "create_token", "createsuperuser"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "uai_project.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from uai_project.startup import database_problem, fail

    try:
        if len(sys.argv) > 1 and sys.argv[1] in NEEDS_DATABASE:
            from django.conf import settings

            problem = database_problem(settings.DATABASES["default"], settings.UAI_DB_CHECK_TIMEOUT_SECONDS)
            if problem:
                fail(problem)
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a bad setting: its message says which and why
        fail(f"{exc} (see README, Configuration)")


if __name__ == "__main__":
    main()
