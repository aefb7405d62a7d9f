"""Nothing on disk the user does not own is trusted: other users' folders, unsafe modes, links, FIFOs.

Each finding of issue 11 about the state folder is reproduced here, in-process on the
`files` module and through the real CLI, with the victim file or folder checked to be
untouched afterwards.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime

import pytest

from launcher.errors import EXIT_STATE, StateError
from launcher.state import files
from launcher.state.events import Event, EventLog, read_events
from launcher.state.paths import StatePaths, point_current_log
from launcher.state.store import RunState, ServiceRecord, StackLock, read_run_state, write_run_state
from tests.launcher.conftest import service_command

STRANGER_UID = 54321  # no account needed: only the owner number matters


def one_line_refusal(result, *words: str) -> str:
    message = result.stderr.strip()
    assert result.returncode == EXIT_STATE, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


def simple_stack(robostack, tmp_path):
    return robostack(f"""services:
  web:
    command: {service_command('--name', 'web', '--journal', str(tmp_path / 'journal'))}
    stop_grace: 2s
""")


@pytest.mark.parametrize("command", [("status",), ("events",), ("down",), ("logs",), ("restart", "web"),
                                     ("up", "--detach")])
def test_another_users_state_folder_is_a_one_line_refusal(robostack, tmp_path, command):
    stack = simple_stack(robostack, tmp_path)
    stack.state_dir.mkdir(mode=0o700)
    (stack.state_dir / "run.json").write_text('{"stack": "s", "stack_file": "/x", "run_id": "r", "services": {}}')
    os.chown(stack.state_dir, STRANGER_UID, STRANGER_UID)

    result = stack.run(*command)

    one_line_refusal(result, str(stack.state_dir), f"uid {STRANGER_UID}", "not to you")
    assert not (tmp_path / "journal").exists()


def test_a_folder_others_may_write_is_refused_and_never_chmodded(robostack, tmp_path):
    stack = simple_stack(robostack, tmp_path)
    stack.state_dir.mkdir()
    os.chmod(stack.state_dir, 0o1777)  # what ROBOSTACK_STATE_DIR=/tmp looks like

    result = stack.run("up", "--detach")

    one_line_refusal(result, str(stack.state_dir), "writable by its group and others")
    assert stat.S_IMODE(os.stat(stack.state_dir).st_mode) == 0o1777
    assert not (tmp_path / "journal").exists() and os.listdir(stack.state_dir) == []


def test_a_state_folder_under_someone_elses_folder_is_refused(tmp_path):
    parent = tmp_path / "theirs"
    parent.mkdir()
    os.chown(parent, STRANGER_UID, STRANGER_UID)
    with pytest.raises(StateError, match=f"folder {parent} above the state folder .* belongs to uid {STRANGER_UID}"):
        StatePaths(parent / "state").ensure()


def test_only_folders_robostack_creates_get_their_mode_set(tmp_path):
    os.umask(0o022)
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o750)
    StatePaths(existing / "a" / "b").ensure()
    assert stat.S_IMODE(os.stat(existing).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(existing / "a").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(existing / "a" / "b" / "logs").st_mode) == 0o700


def test_a_lock_symlink_never_truncates_its_target(robostack, tmp_path):
    stack = simple_stack(robostack, tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    stack.state_dir.mkdir(mode=0o700)
    (stack.state_dir / "lock").symlink_to(victim)

    result = stack.run("up", "--detach")

    one_line_refusal(result, "lock", "symbolic link")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "journal").exists()


@pytest.mark.parametrize("name", ["events.jsonl", "run.json", "lock"])
def test_no_state_file_is_followed_through_a_link(tmp_path, name):
    paths = StatePaths(tmp_path / "state").ensure()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    getattr(paths, {"events.jsonl": "events", "run.json": "run_state", "lock": "lock"}[name]).symlink_to(victim)
    with pytest.raises(StateError, match="symbolic link"):
        if name == "events.jsonl":
            EventLog(paths.events).append(Event(datetime.now(), "", "x"))
        elif name == "run.json":
            read_run_state(paths)
        else:
            StackLock(paths).acquire("robo")
    assert victim.read_text() == "precious\n"


def test_run_state_is_written_through_a_random_exclusive_temporary_0600(tmp_path):
    paths = StatePaths(tmp_path / "state").ensure()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for pid in range(os.getpid() - 2, os.getpid() + 3):  # the old predictable temporary names
        (paths.root / f".run.json.{pid}.tmp").symlink_to(victim)
    write_run_state(paths, RunState(stack="s", stack_file="/x", run_id="r"))
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(os.stat(paths.run_state).st_mode) == 0o600
    assert json.loads(paths.run_state.read_text())["run_id"] == "r"


def test_a_fifo_planted_as_a_state_file_is_refused_without_hanging(tmp_path):
    paths = StatePaths(tmp_path / "state").ensure()
    os.mkfifo(paths.events)
    os.mkfifo(paths.run_state)
    with pytest.raises(StateError, match="is a FIFO"):
        read_events(paths.events)
    with pytest.raises(StateError, match="is a FIFO"):
        read_run_state(paths)


def test_a_service_log_folder_that_is_a_link_is_refused_at_spawn(robostack, tmp_path):
    stack = simple_stack(robostack, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (stack.state_dir / "logs").mkdir(parents=True, mode=0o700)
    os.chmod(stack.state_dir, 0o700)
    (stack.state_dir / "logs" / "web").symlink_to(elsewhere)

    result = stack.run("up", "--detach")

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "symbolic link" in result.stdout + result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_current_log_link_pointing_outside_is_refused_by_logs(robostack, tmp_path):
    stack = simple_stack(robostack, tmp_path)
    paths = StatePaths(stack.state_dir).ensure()
    write_run_state(paths, RunState(stack="s", stack_file=str(stack.stack_file), run_id="r", stop_order=["web"],
                                    services={"web": ServiceRecord("web")}))
    secret = tmp_path / "secret.txt"
    secret.write_text("root's secret\n")
    paths.current_log("web").symlink_to(secret)

    result = stack.run("logs", "web")

    one_line_refusal(result, "points outside the state folder")
    assert "root's secret" not in result.stdout


def test_robostacks_own_current_log_link_is_followed(tmp_path):
    paths = StatePaths(tmp_path / "state").ensure()
    run_log = paths.run_log("web", "run1")
    os.close(files.open_file(run_log, os.O_WRONLY | os.O_CREAT, root=paths.logs, make_dirs=True))
    point_current_log(paths, "web", run_log)
    assert paths.current_log_target("web") == run_log
    assert paths.current_log_target("other") is None


def test_a_state_file_of_another_owner_inside_my_folder_is_refused(tmp_path):
    paths = StatePaths(tmp_path / "state").ensure()
    paths.run_state.write_text(json.dumps({"stack": "s", "stack_file": "/x", "run_id": "r"}))
    os.chown(paths.run_state, STRANGER_UID, STRANGER_UID)
    with pytest.raises(StateError, match=f"state file {paths.run_state} belongs to uid {STRANGER_UID}"):
        read_run_state(paths)


def test_the_documented_exit_codes_agree_everywhere():
    """errors.py's table, the CLI help and the README list the same codes."""
    import re

    import launcher.errors as errors
    from launcher.cli import EXIT_CODES_HELP
    from tests.helpers import REPO

    defined = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    in_doc = {int(code) for code in re.findall(r"^(\d+)\s{2,}", errors.__doc__, re.MULTILINE)}
    in_help = {int(code) for code in re.findall(r"^\s+(\d+)\s", EXIT_CODES_HELP, re.MULTILINE)}
    readme = (REPO / "README.md").read_text().split("Exit codes:")[1].split("\n\n")[0]
    in_readme = {int(code) for code in re.findall(r"`(\d+)` ", readme)}
    assert defined == in_doc == in_help == in_readme, (defined, in_doc, in_help, in_readme)
    assert sys.modules["launcher.errors"].StateError.exit_code == EXIT_STATE == 6
