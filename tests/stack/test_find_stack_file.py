"""Which stack file is used: -f, then ROBOSTACK_FILE, then ./stack.yaml; a missing one says how it was chosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.errors import StackFileError
from launcher.stack.loader import find_stack_file


def test_default_is_stack_yaml_in_the_working_directory(stack_files):
    stack_files.write("services: {}\n")
    assert find_stack_file(None, {}, stack_files.root) == Path("stack.yaml")


def test_explicit_path_wins_over_the_environment(stack_files):
    stack_files.write("services: {}\n", name="a.yaml")
    stack_files.write("services: {}\n", name="b.yaml")
    assert find_stack_file("a.yaml", {"ROBOSTACK_FILE": "b.yaml"}, stack_files.root) == Path("a.yaml")


def test_environment_variable_wins_over_the_default(stack_files):
    stack_files.write("services: {}\n")
    stack_files.write("services: {}\n", name="deploy/prod.yaml")
    assert find_stack_file(None, {"ROBOSTACK_FILE": "deploy/prod.yaml"}, stack_files.root) == Path("deploy/prod.yaml")


def test_empty_environment_variable_is_ignored(stack_files):
    stack_files.write("services: {}\n")
    assert find_stack_file(None, {"ROBOSTACK_FILE": ""}, stack_files.root) == Path("stack.yaml")


def test_relative_to_another_folder_is_joined_to_it(stack_files, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "stack.yaml").write_text("services: {}\n")
    assert find_stack_file(None, {}, elsewhere) == elsewhere / "stack.yaml"


def test_absolute_path_is_kept(stack_files):
    absolute = stack_files.root / stack_files.write("services: {}\n", name="x.yaml")
    assert find_stack_file(str(absolute), {}, Path("/")) == absolute


@pytest.mark.parametrize(
    "explicit, environ, expected",
    [
        ("nope.yaml", {}, "nope.yaml: no such file (given with -f/--file)"),
        (None, {"ROBOSTACK_FILE": "conf/nope.yaml"}, "conf/nope.yaml: no such file (from ROBOSTACK_FILE)"),
        (
            None,
            {},
            "stack.yaml: no such file (the default; use -f PATH or set ROBOSTACK_FILE to use another file)",
        ),
    ],
)
def test_missing_file_says_how_it_was_chosen(stack_files, explicit, environ, expected):
    with pytest.raises(StackFileError) as caught:
        find_stack_file(explicit, environ, stack_files.root)
    assert str(caught.value) == expected


def test_a_folder_is_not_a_stack_file(stack_files):
    (stack_files.root / "conf").mkdir()
    with pytest.raises(StackFileError) as caught:
        find_stack_file("conf", {}, stack_files.root)
    assert str(caught.value) == "conf: is a folder, not a stack file (given with -f/--file)"
