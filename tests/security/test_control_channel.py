"""The control socket: only the stack's user can reach it, and only the stack's supervisor is believed.

Reproduces issue 11's "control-socket squatting": another user binding the (once
predictable, abstract) name first, a same-user impostor answering "restarted" for a
stack that is down or up, a socket that cannot be bound, a socket file a killed
supervisor left behind, state folders too deep for a socket path, and requests that
are not requests. Real sockets, a real second Unix user (created when root).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from launcher.errors import EXIT_NOT_RUNNING, EXIT_STATE, NotRunningError, StateError
from launcher.supervise.control import MAX_REQUEST, request_restart
from launcher.supervise.control_point import ask_status
from tests.helpers import read_line_matching
from tests.launcher.conftest import Robostack, service_command
from tests.launcher.harness import Harness
from tests.security.conftest import one_line, run_as

ONE_SERVICE = """services:
  web:
    command: {command}
    stop_grace: 2s
"""

# A same-user impostor: takes over control.sock in FOLDER (binding beside it, renaming over it) and answers every
# connection as a supervisor would, that `web` restarted and that everything is healthy.
IMPOSTOR = r"""
import json, os, socket, sys
os.chdir(sys.argv[1])
server = socket.socket(socket.AF_UNIX)
server.bind(".impostor")
server.listen()
os.rename(".impostor", "control.sock")
state = {"stack": "forged", "stack_file": "/x", "run_id": "r", "services": {}}
answer = {"kind": "finish", "ok": True, "message": "web restarted", "pid": 1, "state": state}
print("impostor ready", flush=True)
while True:
    client, _ = server.accept()
    try:
        client.recv(65536)
        client.sendall((json.dumps(answer) + "\n").encode())
    except OSError:
        pass  # robostack hung up without asking anything
    client.close()
"""


def one_service(tmp_path) -> str:
    return ONE_SERVICE.format(command=service_command("--name", "web", "--journal", str(tmp_path / "journal")))


def start_impostor(processes, folder: Path) -> subprocess.Popen:
    impostor = processes.python("-c", IMPOSTOR, str(folder))
    read_line_matching(impostor, "impostor ready")
    return impostor


async def restarted(h: Harness, name: str = "web") -> dict:
    return await request_restart(h.paths, name, False, lambda message: None)


# -- where the socket lives ---------------------------------------------------------------------


async def test_the_socket_is_a_private_file_in_the_state_folder_even_one_too_deep_for_a_socket_path(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5)
    assert len(str(deep / "state" / "control.sock")) > 108  # sun_path could not hold it
    h = Harness.build(deep, one_service(tmp_path))
    try:
        await h.up()
        status = os.lstat(h.paths.control_socket)
        assert stat.S_ISSOCK(status.st_mode) and stat.S_IMODE(status.st_mode) == 0o600
        assert status.st_uid == os.getuid()
        reply = await asyncio.to_thread(ask_status, h.paths, 5.0, os.getpid())
        assert reply is not None and reply["state"]["services"]["web"]["state"] == "healthy"
        finish = await restarted(h)
        assert finish["ok"] and finish["message"] == "web restarted"
    finally:
        assert await h.close() == []
    assert not os.path.lexists(h.paths.control_socket), "the supervisor removes its socket when it closes"


async def test_a_socket_left_by_a_killed_supervisor_is_replaced(harness, tmp_path):
    h = harness(one_service(tmp_path))
    h.paths.ensure()
    left = socket.socket(socket.AF_UNIX)
    here = os.getcwd()
    os.chdir(h.paths.root)  # a bind by relative name: the path may be longer than a socket path allows
    try:
        left.bind("control.sock")
    finally:
        os.chdir(here)
    left.close()  # what a SIGKILLed supervisor leaves: the file, nobody listening
    await h.up()
    assert (await restarted(h))["ok"]


@pytest.mark.parametrize("planted", ["folder", "file", "link"])
async def test_something_else_at_the_socket_path_stops_up_in_one_line_before_anything_starts(harness, tmp_path, planted):
    h = harness(one_service(tmp_path))
    h.paths.ensure()
    target = h.paths.control_socket
    {"folder": lambda: (target.mkdir(), (target / "inside").write_text("x")),
     "file": lambda: target.write_text("not a socket"),
     "link": lambda: target.symlink_to(tmp_path / "elsewhere.sock")}[planted]()
    h.start()
    error = await h.finished()
    assert isinstance(error, StateError) and "control.sock" in str(error) and "\n" not in str(error)
    assert not (tmp_path / "journal").exists(), "nothing may start when the control socket cannot be served"
    assert h.supervisor.lock._fd is None, "the lock is released"
    assert os.path.lexists(target) and not (tmp_path / "elsewhere.sock").exists()


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detach"])
def test_a_socket_that_cannot_be_bound_is_one_line_from_up_and_nothing_runs(robostack, tmp_path, detach):
    stack = robostack(one_service(tmp_path))
    stack.state_dir.mkdir(mode=0o700)
    (stack.state_dir / "control.sock").mkdir()
    (stack.state_dir / "control.sock" / "x").write_text("x")

    result = stack.run("up", *(["--detach"] if detach else []), timeout=60)

    message = one_line(result, EXIT_STATE, "control socket", "control.sock")
    assert "internal error" not in message
    assert not (tmp_path / "journal").exists()
    assert stack.run("status").returncode == EXIT_NOT_RUNNING


# -- who is believed ---------------------------------------------------------------------------


def test_an_impostor_is_never_believed_when_the_stack_is_down(robostack, processes, tmp_path):
    stack = robostack(one_service(tmp_path))
    stack.state_dir.mkdir(mode=0o700)
    start_impostor(processes, stack.state_dir)

    result = stack.run("restart", "web")

    one_line(result, EXIT_NOT_RUNNING, "not running")
    assert "restarted" not in result.stdout + result.stderr


async def test_an_impostor_on_a_running_stacks_socket_is_refused_by_restart_and_status(harness, processes, tmp_path):
    h = harness(one_service(tmp_path))
    await h.up()
    impostor = start_impostor(processes, h.paths.root)

    with pytest.raises(StateError, match=rf"answered by pid {impostor.pid} .*not by this stack's supervisor"):
        await restarted(h)
    assert await asyncio.to_thread(ask_status, h.paths, 5.0) is None
    assert await asyncio.to_thread(ask_status, h.paths, 5.0, os.getpid()) is None
    # The CLI on the same stack while this test's supervisor runs it (not the `robostack` fixture: its
    # teardown would run `down`, and this test's own process is the supervisor).
    cli = Robostack(h.paths.root.parent / "stack.yaml", h.paths.root)
    result = await asyncio.to_thread(cli.run, "restart", "web")
    one_line(result, EXIT_STATE, f"pid {impostor.pid}", f"supervisor (pid {os.getpid()})", "ignored")
    assert "web restarted" not in result.stdout
    assert h.recorder.find("web", "restarting") is None, "the real supervisor was never asked"


async def test_without_a_lock_holder_nobody_is_asked(harness, tmp_path):
    h = harness(one_service(tmp_path))
    h.paths.ensure()
    with pytest.raises(NotRunningError, match="no supervisor holds its lock"):
        await restarted(h)


# -- other users ---------------------------------------------------------------------------------


@pytest.fixture
def open_folder():
    """A folder under /tmp that another user can traverse (0755), for a state folder inside it."""
    folder = Path(tempfile.mkdtemp(prefix="rs-ctl-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def _squat(root: str, ready: int, hold: int) -> dict[str, str]:
    """As the other user: bind the name robostack once used, and try to plant a socket in the state folder."""
    done: dict[str, str] = {}
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0robostack-control-{digest}")
    abstract.listen()
    done["abstract"] = "bound"
    planted = socket.socket(socket.AF_UNIX)
    try:
        planted.bind(os.path.join(root, "control.sock"))
        done["file"] = "bound"
    except OSError as err:
        done["file"] = type(err).__name__
    os.write(ready, json.dumps(done).encode())
    os.read(hold, 1)  # hold the squatted name until the test is done
    return done


async def test_another_user_can_neither_squat_nor_reach_the_socket(second_user, open_folder, tmp_path):
    h = Harness.build(open_folder / "stack", one_service(tmp_path))
    ready_read, ready_write = os.pipe()
    hold_read, hold_write = os.pipe()
    squatter = asyncio.ensure_future(asyncio.to_thread(run_as, second_user, _squat, str(h.paths.root), ready_write,
                                                       hold_read))
    try:
        seen = json.loads(await asyncio.to_thread(os.read, ready_read, 1024))
        assert seen == {"abstract": "bound", "file": "PermissionError"}
        await h.up()
        assert (await restarted(h))["ok"]
        assert await asyncio.to_thread(ask_status, h.paths, 5.0) is not None
    finally:
        os.write(hold_write, b"x")  # let the squatter go (other forks may hold the pipe open: no EOF)
        os.close(hold_write)
        await squatter
        for fd in (ready_read, ready_write, hold_read):
            os.close(fd)
        assert await h.close() == []


def _ask_as_stranger(address: str) -> list[str]:
    client = socket.socket(socket.AF_UNIX)
    client.connect(address)
    client.sendall(b'{"command": "restart", "service": "web"}\n')
    data = b""
    while chunk := client.recv(65536):
        data += chunk
    return data.decode().splitlines()


async def test_the_server_refuses_another_user_in_one_line_even_if_the_socket_is_opened_up(second_user, open_folder,
                                                                                          tmp_path):
    h = Harness.build(open_folder / "stack", one_service(tmp_path))
    await h.up()
    try:
        h.paths.root.chmod(0o711)  # others may pass (never write): still a folder robostack accepts
        h.paths.control_socket.chmod(0o666)  # a mistake the server must survive
        lines = await asyncio.to_thread(run_as, second_user, _ask_as_stranger, str(h.paths.control_socket))
        assert len(lines) == 1, lines
        answer = json.loads(lines[0])
        assert answer["ok"] is False and answer["exit_code"] == EXIT_STATE
        assert f"uid {second_user.uid}" in answer["message"] and "not the supervisor's user" in answer["message"]
        assert h.recorder.find("web", "restarting") is None
        with pytest.raises(StateError, match="control socket .* is writable by its group and others"):
            await restarted(h)  # and its own user does not trust a socket others could have replaced
        h.paths.control_socket.chmod(0o600)
        assert await asyncio.to_thread(ask_status, h.paths, 5.0) is not None, "the supervisor still answers its own user"
    finally:
        assert await h.close() == []


def import_the_whole_launcher() -> None:
    import importlib
    import pkgutil

    import launcher

    for module in pkgutil.walk_packages(launcher.__path__, "launcher."):
        if module.name != "launcher.__main__":  # it would run the CLI
            importlib.import_module(module.name)


def _run_cli_as_stranger(stack_file: str, state_dir: str, command: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from launcher.cli import main

    os.environ["ROBOSTACK_STATE_DIR"] = state_dir
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["-f", stack_file, *command])
        except SystemExit as exit_:
            return int(exit_.code or 0), err.getvalue()
    return 0, err.getvalue()


@pytest.mark.parametrize("command", [["restart", "web"], ["down"], ["events"], ["status"]])
async def test_another_users_commands_on_my_stack_are_one_line_refusals(second_user, open_folder, tmp_path, command):
    # The stranger's child cannot read this interpreter's files: everything it may run is imported now
    # (the CLI imports each command's modules only when it runs).
    import_the_whole_launcher()
    h = Harness.build(open_folder / "stack", one_service(tmp_path))
    (open_folder / "stack").chmod(0o755)
    (open_folder / "stack" / "stack.yaml").chmod(0o644)
    await h.up()
    try:
        code, said = await asyncio.to_thread(run_as, second_user, _run_cli_as_stranger,
                                             str(open_folder / "stack" / "stack.yaml"), str(h.paths.root), command)
        assert code == EXIT_STATE, said
        assert said.count("\n") == 1 and "Traceback" not in said, said
        assert "belongs to user root" in said and "not to you" in said, said
        assert h.state("web") == "healthy" and h.recorder.find("web", "restarting") is None
    finally:
        assert await h.close() == []


# -- requests that are not requests ------------------------------------------------------------------


BAD_REQUESTS = {
    "not json": b"restart web\n",
    "a list": b'["restart", "web"]\n',
    "command not a string": b'{"command": 5}\n',
    "unknown command": b'{"command": "shutdown-everything"}\n',
    "service not a string": b'{"command": "restart", "service": ["web"]}\n',
    "with_dependents not a flag": b'{"command": "restart", "service": "web", "with_dependents": "yes"}\n',
    "deep nesting": b"[" * 10_000 + b"\n",
    "not utf-8": b'{"command": "\xff\xfe"}\n',
    "huge line": b'{"command": "status", "pad": "' + b"x" * (MAX_REQUEST + 10) + b'"}\n',
    "nothing": b"",
}


def _exchange(address: str, request: bytes) -> list[bytes]:
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(address)
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    return data.splitlines()


async def test_malformed_requests_get_one_line_each_and_the_supervisor_carries_on(harness, tmp_path):
    h = harness(one_service(tmp_path))
    await h.up()
    folder = os.open(h.paths.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        address = f"/proc/self/fd/{folder}/control.sock"
        for name, request in BAD_REQUESTS.items():
            lines = await asyncio.to_thread(_exchange, address, request)
            assert len(lines) == 1, (name, lines)
            answer = json.loads(lines[0])
            assert answer["kind"] == "finish" and answer["ok"] is False, (name, answer)
            assert answer["message"].startswith("bad control request: ") and "\n" not in answer["message"], answer
    finally:
        os.close(folder)
    assert not [note for note in h.recorder.notes if "control request failed" in note]
    assert (await restarted(h))["ok"], "the supervisor still serves real requests"
    h.signal(signal.SIGTERM)
    assert await h.finished() is None
