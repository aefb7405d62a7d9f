"""Broken YAML, missing or empty files, and resolution problems: each refused with one plain line."""

from __future__ import annotations

import pytest

from launcher.errors import EXIT_USAGE, StackFileError, UsageError
from launcher.stack.loader import load_stack

BROKEN = {
    "duplicate key": (
        """
        services:
          trader:
            command: python -m trader
            ports: [1]
            command: python -m other
        """,
        'stack.yaml:5 services.trader: duplicate key "command" (first at line 3)',
    ),
    "duplicate service": (
        """
        services:
          trader:
            command: python -m trader
          trader:
            command: python -m other
        """,
        'stack.yaml:4 services: duplicate key "trader" (first at line 2)',
    ),
    "top level is a list": (
        """
        - services
        """,
        "stack.yaml:1: expected keys (name, symbols, env_file, generated_secrets, services, http, logs, alerts) at the top level, got a list",
    ),
    "YAML syntax error": (
        """
        services:
          trader:
            command: python -m trader
            ports: [4002
          other:
            command: x
        """,
        "stack.yaml:5: not valid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 4)",
    ),
    "YAML indented with a tab": (
        "services:\n  trader:\n\tcommand: x\n",
        "stack.yaml:3: not valid YAML: found character '\\t' that cannot start any token "
        "(while scanning for the next token); indent with spaces, not tabs",
    ),
    "two YAML documents": (
        "services:\n  a:\n    command: x\n---\nservices: {}\n",
        "stack.yaml:4: not valid YAML: expected a single document in the stream, but found another document",
    ),
    "empty file": (
        "",
        "stack.yaml: the file is empty; a stack file needs at least a services: section",
    ),
    "only comments": (
        "# nothing here yet\n",
        "stack.yaml: the file is empty; a stack file needs at least a services: section",
    ),
    "unbalanced quote in a command": (
        """
        services:
          trader:
            command: python -m trader --name "robo
        """,
        "stack.yaml:3 services.trader.command: cannot split the command into words: no closing quotation",
    ),
    "empty command": (
        """
        services:
          trader:
            command: "   "
        """,
        "stack.yaml:3 services.trader.command: the command is empty",
    ),
    "cwd that does not exist": (
        """
        services:
          trader:
            command: python -m trader
            cwd: nowhere
        """,
        'stack.yaml:4 services.trader.cwd: folder "nowhere" does not exist (looked for {root}/nowhere)',
    ),
    "undefined variable": (
        """
        services:
          trader:
            command: python -m trader --port ${IB_PORT}
        """,
        "stack.yaml:3 services.trader.command: ${IB_PORT} is not set "
        "(set it in the environment or the env_file, or write ${IB_PORT:-default})",
    ),
    "undefined variable in env": (
        """
        services:
          trader:
            command: python -m trader
            env:
              LOGIN: ${IB_USER}
        """,
        "stack.yaml:5 services.trader.env.LOGIN: ${IB_USER} is not set "
        "(set it in the environment or the env_file, or write ${IB_USER:-default})",
    ),
    "malformed variable reference": (
        """
        services:
          trader:
            command: python -m trader --port ${IB-PORT}
        """,
        'stack.yaml:3 services.trader.command: "${IB-PORT}" is not a valid reference '
        "(write ${NAME} or ${NAME:-default}, and $$ for a literal $)",
    ),
    "env_file missing": (
        """
        env_file: secrets.env
        services:
          trader:
            command: python -m trader
        """,
        'stack.yaml:1 env_file: env file "secrets.env" not found (looked for {root}/secrets.env)',
    ),}


@pytest.mark.parametrize("text, expected", BROKEN.values(), ids=BROKEN.keys())
def test_broken_file_is_refused_with_one_plain_line(stack_files, text, expected):
    error = stack_files.error(text)
    assert str(error) == expected.replace("{root}", str(stack_files.root))
    assert error.exit_code == EXIT_USAGE
    assert "\n" not in str(error)




def test_every_problem_is_listed_in_file_order(stack_files):
    error = stack_files.error(
        """
        services:
          trader:
            command: python -m trader
            ports: [0, 70000]
            stop_grace: soon
          gateway:
            bogus: true
        extra: 1
        """
    )
    assert str(error) == (
        "stack.yaml:4 services.trader.ports[0]: port 0 is out of range (1-65535)\n"
        "  stack.yaml:4 services.trader.ports[1]: port 70000 is out of range (1-65535)\n"
        '  stack.yaml:5 services.trader.stop_grace: expected a duration (like 250ms, 2s, 1m), got "soon"\n'
        '  stack.yaml:7 services.gateway: unknown key "bogus"\n'
        '  stack.yaml:8: unknown key "extra" (allowed: name, symbols, env_file, generated_secrets, services, http, logs, alerts)\n'
        "(5 problems)"
    )
    assert (error.line, error.field) == (4, "services.trader.ports[0]")


def test_two_unset_variables_are_both_named(stack_files):
    error = stack_files.error(
        """
        services:
          trader:
            command: python -m trader --a ${A} --b ${B}
        """
    )
    lines = str(error).splitlines()
    assert "${A} is not set" in lines[0] and "${B} is not set" in lines[1] and lines[2] == "(2 problems)"


def test_path_given_as_absolute_stays_absolute(stack_files):
    path = stack_files.root / stack_files.write("services: {}\n", name="deploy/stack.yaml")
    with pytest.raises(StackFileError) as caught:
        load_stack(path, environ={})
    assert str(caught.value) == f"{path}:1 services: needs at least one service"


def test_relative_path_in_a_subfolder_is_shown_as_given(stack_files):
    path = stack_files.write("services: {}\n", name="deploy/stack.yaml")
    with pytest.raises(StackFileError) as caught:
        load_stack(path, environ={})
    assert str(caught.value) == "deploy/stack.yaml:1 services: needs at least one service"


def test_missing_file(stack_files):
    with pytest.raises(StackFileError) as caught:
        load_stack(stack_files.root.joinpath("absent.yaml").relative_to(stack_files.root), environ={})
    assert str(caught.value) == "absent.yaml: no such file"


def test_file_that_is_not_utf8(stack_files):
    (stack_files.root / "stack.yaml").write_bytes(b"services:\n  a:\n    command: caf\xe9\n")
    with pytest.raises(StackFileError) as caught:
        load_stack(stack_files.root.joinpath("stack.yaml").relative_to(stack_files.root), environ={})
    assert str(caught.value) == "stack.yaml:3: not UTF-8 text"


def test_malformed_env_file_names_the_env_file_and_its_line(stack_files):
    stack_files.write("# comment\nIB_USER=me\nnot an assignment\n", name="deploy/.env")
    path = stack_files.write(
        """
        env_file: .env
        services:
          trader:
            command: python -m trader
        """,
        name="deploy/stack.yaml",
    )
    with pytest.raises(StackFileError) as caught:
        load_stack(path, environ={})
    assert str(caught.value) == 'deploy/.env:3: expected KEY=VALUE, got "not an assignment"'


@pytest.mark.parametrize(
    "symbols, expected",
    [
        (["AAPL", "NV DA"], 'bad symbols "AAPL,NV DA": "NV DA" is not a symbol (letters, digits and "." only)'),
        (["AAPL", ""], 'bad symbols "AAPL,": empty symbol in the symbol list'),
        (["AAPL", "aapl"], 'bad symbols "AAPL,aapl": symbol "AAPL" is listed twice'),
    ],
)
def test_bad_symbols_from_the_command_line_are_a_usage_error(stack_files, symbols, expected):
    with pytest.raises(UsageError) as caught:
        stack_files.load("services:\n  trader:\n    command: python -m trader\n", symbols=symbols)
    assert str(caught.value) == expected
    assert caught.value.exit_code == EXIT_USAGE
