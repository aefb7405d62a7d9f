"""The README's promises that can drift: its two opening commands, and its stack-file reference."""

from __future__ import annotations

import re

import yaml

from launcher.stack.model import StackFile
from tests.helpers import REPO

README = (REPO / "README.md").read_text()


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, re.DOTALL)


def test_readme_opens_with_the_run_command_then_the_test_command():
    run, test = (block.strip() for block in bash_blocks()[:2])
    assert run.endswith("robostack up AAPL,NVDA,TSLA")
    assert "pytest" in test
    assert README.index(run) < README.index("## ")  # before any section: the first thing a newcomer sees


def test_ci_runs_the_readmes_test_command_verbatim():
    test_command = bash_blocks()[1].strip()
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_the_stack_file_reference_is_a_valid_stack():
    block = re.search(r"## The stack file\n\n```yaml\n(.*?)```", README, re.DOTALL).group(1)
    stack = StackFile.model_validate(yaml.safe_load(block))
    gateway = stack.services["gateway"]
    assert gateway.health.kind == "ib_api"
    assert gateway.max_restarts.count == 5 and gateway.max_restarts.window == 600


def test_every_documented_exit_code_is_in_the_cli_help():
    from launcher.cli import EXIT_CODES_HELP

    for code in re.findall(r"`(\d+)` [a-z]", README.split("Exit codes:")[1].split("\n\n")[0]):
        assert re.search(rf"^\s+{code}\s", EXIT_CODES_HELP, re.MULTILINE), code
