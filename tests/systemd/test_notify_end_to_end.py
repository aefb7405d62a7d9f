"""`robostack service install`, then systemd's side played by this test: the unit's own ExecStart command line is
run with NOTIFY_SOCKET and WATCHDOG_USEC set, and the datagrams systemd would get are checked."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from pathlib import Path

import yaml

from launcher.probes.notify_listener import NotifyListener
from tests.helpers import REPO, kill_group
from tests.launcher.conftest import service_command


def exec_start(unit: Path) -> tuple[list[str], Path]:
    """The unit's ExecStart words (systemd's quoting undone) and its WorkingDirectory."""
    lines = dict(line.split("=", 1) for line in unit.read_text().splitlines() if "=" in line and not line.startswith("#"))
    words = [word.replace("$$", "$").replace("%%", "%") for word in shlex.split(lines["ExecStart"])]
    return words, Path(lines["WorkingDirectory"].replace("%%", "%"))


async def test_the_installed_unit_tells_systemd_ready_status_watchdog_and_stopping(tmp_path):
    journal = tmp_path / "journal"
    stack = tmp_path / "stack" / "stack.yaml"
    stack.parent.mkdir()
    stack.write_text(yaml.safe_dump({"name": "robo", "services": {
        "a": {"command": service_command("--name", "a", "--print-ready", "--journal", str(journal)),
              "health": {"log": {"pattern": "a is ready"}}},
        "b": {"command": service_command("--name", "b", "--print-ready", "--ready-after", "0.3"), "depends_on": ["a"],
              "health": {"log": {"pattern": "b is ready"}}, "stop_grace": "2s"}}}))
    env = dict(os.environ, ROBOSTACK_SYSTEMD_DIR=str(tmp_path / "units"), ROBOSTACK_STATE_DIR=str(tmp_path / "state"),
               XDG_STATE_HOME=str(tmp_path / "xdg"))
    installed = await asyncio.create_subprocess_exec(sys.executable, "-m", "launcher", "-f", str(stack), "service",
                                                     "install", "--watchdog", "4s", cwd=REPO, env=env,
                                                     stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await installed.communicate()
    assert installed.returncode == 0, err.decode()
    unit = tmp_path / "units" / "robostack-robo.service"
    text = unit.read_text()
    assert "Type=notify" in text and "WatchdogSec=4s" in text and "SuccessExitStatus=130" in text
    argv, workdir = exec_start(unit)
    assert argv[:2] == [sys.executable, "-m"] and argv[-1] == "up"

    messages: list[dict[str, str]] = []
    arrived = asyncio.Event()

    def on_message(state, fields) -> None:
        messages.append(dict(fields, sender=str(state.last_sender_pid)))
        arrived.set()

    async def until(condition, what: str, timeout: float = 60) -> dict[str, str]:
        async def look() -> dict[str, str]:
            while True:
                found = next((message for message in messages if condition(message)), None)
                if found is not None:
                    return found
                arrived.clear()
                await arrived.wait()

        try:
            return await asyncio.wait_for(look(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s; systemd got {messages}") from None

    with NotifyListener(on_message=on_message) as systemd:
        # What systemd gives the unit's main process: its socket, and a watchdog of 1 s (pings every 0.5 s).
        unit_env = dict(env, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="1000000", PYTHONUNBUFFERED="1")
        process = await asyncio.create_subprocess_exec(*argv, cwd=workdir, env=unit_env, start_new_session=True,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL)
        try:
            ready = await until(lambda m: m.get("READY") == "1", "READY=1")
            assert ready["STATUS"] == "2/2 healthy"  # READY only once every service is healthy
            assert ready["sender"] == str(process.pid)  # NotifyAccess=main: from the main process itself
            before = messages[:messages.index(ready)]
            statuses = [m["STATUS"] for m in before if "STATUS" in m]
            assert statuses[0].startswith("0/2 healthy; a starting") and "1/2 healthy; b starting" in statuses
            assert not any(m.get("READY") for m in before)

            first = await until(lambda m: m.get("WATCHDOG") == "1", "WATCHDOG=1")
            await until(lambda m: m.get("WATCHDOG") == "1" and m is not first, "a second WATCHDOG=1")
            assert {m["sender"] for m in messages if m.get("WATCHDOG")} == {str(process.pid)}

            process.send_signal(signal.SIGTERM)  # `systemctl stop` (KillMode=mixed: SIGTERM to the main process)
            stopping = await until(lambda m: m.get("STOPPING") == "1", "STOPPING=1")
            assert stopping["STATUS"] == "stopping: received SIGTERM"
            assert await asyncio.wait_for(process.wait(), 60) == 130  # SuccessExitStatus=130: a clean stop
            after = messages[messages.index(stopping) + 1:]
            assert not any(m.get("READY") for m in after)
            assert [m["STATUS"] for m in after if "STATUS" in m][-1].startswith("0/2 healthy")  # everything stopped
        finally:
            if process.returncode is None:
                kill_group(process.pid)
                await process.wait()
