"""The README keeps up with the code: every command, source kind and expectation is in it."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli import cli
from pipeline.config import EXPECTATIONS, KINDS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_shows_every_command() -> None:
    missing = []
    for name, command in cli.commands.items():
        lines = [line for line in README.splitlines() if f"claimwatch {name}" in line]
        if not lines:
            missing.append(name)
        elif isinstance(command, click.Group):  # its sub-commands, on a line about the group
            missing += [f"{name} {sub}" for sub in command.commands
                        if not any(sub in line for line in lines)]
    assert not missing, f"README.md does not mention: {missing}"


def test_readme_names_every_source_kind_and_expectation() -> None:
    assert [k for k in KINDS if f"`{k}`" not in README] == []
    assert [e for e in EXPECTATIONS if f"`{e}" not in README] == []
