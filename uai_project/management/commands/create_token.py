"""``manage.py create_token USERNAME``: create the user if needed and print an API token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create USERNAME if needed and print an API token (its last line is the token)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", help="Also set this password (for the admin and JWT).")
        parser.add_argument("--superuser", action="store_true", help="Make the user an admin.")
        parser.add_argument("--rotate", action="store_true", help="Replace an existing token.")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=options["username"])
        if created and not options["password"]:
            user.set_unusable_password()
        if options["password"]:
            user.set_password(options["password"])
        if options["superuser"]:
            user.is_staff = user.is_superuser = True
        user.save()
        if options["rotate"]:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        if created:
            self.stderr.write(f"Created user {user.username}.")
        self.stdout.write(token.key)
