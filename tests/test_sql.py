"""``uai_project.sql.first``: the hand-written reads give what ``Model.objects.raw`` gave."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import models
from rest_framework.authtoken.models import Token

from uai.chats import selectors
from uai.chats.models import Chat
from uai.chats.services import chat_create
from uai.runs.models import Run
from uai_project import auth
from uai_project.sql import columns, first

pytestmark = pytest.mark.django_db


def _fields(instance: models.Model) -> dict[str, Any]:
    return {key: value for key, value in vars(instance).items() if key != "_state"}


def _same_as_raw(model: type[models.Model], sql: str, params: list[Any]) -> models.Model:
    ours = first(model, sql, params)
    theirs = next(iter(model.objects.raw(sql, params)))
    assert ours is not None and type(ours) is model
    assert _fields(ours) == _fields(theirs)
    assert not ours._state.adding and ours._state.db == "default"
    return ours


def test_first__a_chat_with_json_fields_and_its_agents_version() -> None:
    user = get_user_model().objects.create(username="sql-chat")
    chat = chat_create(owner_id=user.pk)
    Chat.objects.filter(pk=chat.pk).update(state={"k": [1, "2"]}, metadata={"m": None}, tags=["a", "b"])
    found = _same_as_raw(Chat, selectors._CHAT_FIND, [chat.id])
    assert found.state == {"k": [1, "2"]} and found.tags == ["a", "b"]  # JSON decoded, as the ORM does
    assert found.agent_updated_at is not None  # a column past the model's: an attribute


def test_first__the_user_of_a_token() -> None:
    user = get_user_model().objects.create(username="sql-token", email="t@example.org")
    token = Token.objects.create(user=user)
    found = _same_as_raw(get_user_model(), auth.USER_OF_TOKEN, [token.key])
    assert found.pk == user.pk and found.token_created == token.created


def test_first__a_run_and_no_row() -> None:
    user = get_user_model().objects.create(username="sql-run")
    run = Run.objects.create(owner=user, agent_id="echo", input={"text": "hi"}, output=[1, {"a": 2}])
    sql = f"SELECT {columns(Run)}, 7 AS lucky FROM {Run._meta.db_table} WHERE id = %s"
    found = _same_as_raw(Run, sql, [run.id])
    assert found.input == {"text": "hi"} and found.output == [1, {"a": 2}] and found.lucky == 7
    assert first(Run, sql, ["00000000-0000-0000-0000-000000000000"]) is None


def test_first__a_statement_that_does_not_select_the_models_columns_first_is_refused() -> None:
    user = get_user_model().objects.create(username="sql-order")
    run = Run.objects.create(owner=user, agent_id="echo")
    backwards = ", ".join(reversed(columns(Run).split(", ")))
    with pytest.raises(ValueError, match=r"columns\(Run\) first"):
        first(Run, f"SELECT {backwards} FROM {Run._meta.db_table} WHERE id = %s", [run.id])
