"""The agents file (``UAI_AGENTS_FILE``): parsed and checked at start-up, and the ``agents`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, process_env

pytestmark = pytest.mark.once

GOOD = """
[agents.greeter]
adapter = "python"
target = "tests.agents:polite"
description = "Says hello."
max_attempts = 2

[agents.greeter.options]
tone = "warm"
"""


def test_agents_file__parsed_and_checked(tmp_path: Path) -> None:
    from uai.agents.registry import AgentConfigError, load_agents_file

    good = tmp_path / "agents.toml"
    good.write_text(GOOD)
    spec = load_agents_file(str(good))["greeter"]
    assert spec["target"] == "tests.agents:polite"
    assert spec["options"] == {"tone": "warm"}
    for text, words in [
        ("[agents.x\n", "not valid TOML"),
        ('[agents.x]\nadapter = "python"\n', "'target' is required"),
        ('[agents.x]\nadapter = "python"\ntarget = "a:b"\ncolour = 1\n', "unknown fields ['colour']"),
        ('[agents."bad name"]\nadapter = "python"\ntarget = "a:b"\n', "a name is"),
        ("[other]\nx = 1\n", "only [agents.NAME]"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(AgentConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_agents_file(str(bad))
    with pytest.raises(AgentConfigError, match="cannot read"):
        load_agents_file(str(tmp_path / "missing.toml"))


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        input="Ada\n",
    )


@pytest.mark.django_db(transaction=True)
def test_agents_file__registers_and_the_command_runs(tmp_path: Path) -> None:
    good = tmp_path / "agents.toml"
    good.write_text(GOOD)
    listed = manage("agents", "list", UAI_AGENTS_FILE=str(good))
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("greeter"))
    assert "tests.agents:polite" in line and "file" in line
    ran = manage("agents", "run", "greeter", "hi", UAI_AGENTS_FILE=str(good))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "[log info] about to ask",
        "[progress 10%] asking",
        "[input required] Who is asking?",
        "[log info] asked by Ada",
        "[FinalAnswerStep] Hello, Ada",
    ]
    steps = manage("agents", "run", "steps", "6*7", "--mode", "React")
    assert steps.stdout.splitlines()[-1] == "[FinalAnswerStep] 42"
    assert manage("agents", "run", "nope", "x").returncode != 0


def test_agents_file__a_bad_target_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "agents.toml"
    bad.write_text('[agents.researcher]\nadapter = "python"\ntarget = "mypkg.graphs:graph"\n')
    result = manage("check", UAI_AGENTS_FILE=str(bad))
    assert result.returncode != 0
    assert "agent 'researcher'" in result.stderr
    assert "mypkg" in result.stderr
    assert os.path.exists(bad)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("enabled", '"yes"', "enabled:"),
        ("max_attempts", "-1", "max_attempts:"),
        ("timeout_seconds", '"an hour"', "timeout_seconds:"),
    ],
)
def test_agents_file__a_field_of_the_wrong_kind_stops_start_up(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    """It passed the start-up check and then stopped `migrate` with Django's message (a bool's,
    an IntegrityError), naming no agent."""
    bad = tmp_path / "agents.toml"
    bad.write_text(f'[agents.typo]\nadapter = "python"\ntarget = "tests.agents:polite"\n{field} = {value}\n')
    result = manage("check", UAI_AGENTS_FILE=str(bad))
    assert result.returncode != 0
    assert f"agent 'typo': {message}" in result.stderr, result.stderr[-2000:]
