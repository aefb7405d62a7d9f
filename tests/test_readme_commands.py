"""The README's command table and the docker compose user's table name only commands and options the CLI really has,
and every command the CLI has is in the command table."""

from __future__ import annotations

import argparse
import re
import shlex

from launcher.cli import COMMANDS, command_parser, top_parser
from tests.helpers import REPO

README = (REPO / "README.md").read_text()


def table_after(heading: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after `heading`."""
    text = README.split(heading, 1)[1]
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not set("".join(cells)) <= set("- "):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header


def robostack_spans(cell: str) -> list[str]:
    return [span.replace("\\|", "|") for span in re.findall(r"`(robostack [^`]+)`", cell)]


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def actions_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def check(span: str) -> str | None:
    """The command a `robostack ...` span names (None: only global options); fails unless the command and every
    option in it exist."""
    words = shlex.split(span.replace("[", " ").replace("]", " ").replace("...", " "))[1:]
    globals_ = options_of(top_parser())
    while words and words[0].startswith("-"):
        option = words.pop(0)
        assert option in globals_, f"{span}: no global option {option}"
        if option in ("-f", "--file"):
            words.pop(0)
    if not words:
        return None
    name = words.pop(0)
    parser = command_parser(name)
    options = options_of(parser)
    for word in words:
        for piece in word.split("|"):
            if piece in actions_of(parser):
                options |= options_of(actions_of(parser)[piece])
            elif piece.startswith("-"):
                assert piece in options, f"{span}: `robostack {name}` has no option {piece}"
    return name


def test_the_command_table_is_every_command_with_real_options():
    documented = set()
    for first, _ in table_after("## Commands\n"):
        for span in robostack_spans(first):
            documented.add(check(span))
        documented.update(re.findall(r"\(or `(\w+)`\)", first))
    assert documented == set(COMMANDS)


def test_the_docker_compose_table_names_real_robostack_commands():
    rows = table_after("For a docker compose user:")
    assert len(rows) >= 10
    familiar = {"up", "down", "ps", "ls", "logs", "stop", "start", "restart", "wait", "events", "config"}
    named = set()
    for compose, ours in rows:
        assert compose.startswith("`docker"), compose
        spans = robostack_spans(ours)
        assert spans, ours
        named.update(check(span) for span in spans)
    named.discard(None)
    assert familiar <= named
