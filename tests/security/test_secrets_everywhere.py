"""No secret robostack was given appears in anything it prints or writes (issue 11, "secrets leak").

Five secrets reach one service the ways a trader's stack passes them: a service `env`
value, an `env_file` line, a `${VAR}` substituted into the command (after `--password`
and as a bare argument), a DSN with an inline password and a "Bearer" header. Then
every command that shows the stack runs against it, a restart and a failure included,
and every file under the state folders and every line of output is searched for them.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from tests.helpers import free_port, read_line_matching

QUIET = Path(__file__).with_name("quiet_service.py")
SECRETS = {
    "env": "envsecret-7Hq2Lm",
    "env_file": "filesecret-9Kd4Wz",
    "substituted": "subsecret-3Jx8Qa",
    "dsn": "dsnsecret-5Lm1Rt",
    "bearer": "bearersecret-2Wp6Yu",
}


def secret_stack(port: int, *extra: str) -> str:
    arguments = json.dumps([sys.executable, str(QUIET), *extra, "--port", str(port), "--password", "${TWSPASSWORD}",
                            "${TWSPASSWORD}", "--login", "${IB_PW}", "--dsn",
                            f"postgres://trader:{SECRETS['dsn']}@127.0.0.1/ticks", "--header",
                            f"Authorization: Bearer {SECRETS['bearer']}"])
    return f"""env_file: secrets.env
services:
  api:
    command: {arguments}
    env: {{API_KEY: {SECRETS['env']}}}
    ports: [{port}]
    health: {{tcp: {{port: {port}}}, interval: 200ms}}
    restart: "no"
    startup_timeout: 20s
    stop_grace: 2s
"""


def leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def leaks_in_files(folder: Path) -> dict[str, list[str]]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            hits = leaks(path.read_bytes().decode(errors="replace"))
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found


def make(robostack, port: int, *extra: str):
    stack = robostack(secret_stack(port, *extra))
    (stack.stack_file.parent / "secrets.env").write_text(f"IB_PW={SECRETS['env_file']}\n")
    return stack


def test_no_secret_appears_in_any_output_or_state_file(robostack, monkeypatch):
    monkeypatch.setenv("TWSPASSWORD", SECRETS["substituted"])
    stack = make(robostack, free_port())
    outputs: dict[str, str] = {}

    def run(*args: str, expect: int | None = 0) -> None:
        result = stack.run(*args)
        outputs[" ".join(args)] = result.stdout + result.stderr
        if expect is not None:
            assert result.returncode == expect, (args, result.stdout + result.stderr)

    run("up", "--detach")
    run("status")
    run("status", "--json")
    run("restart", "api")
    run("events")
    run("events", "--json")
    run("logs", "-n", "50")
    run("doctor", expect=None)
    run("down")
    assert "starting" in outputs["events"] and "--password '***'" in outputs["events"], outputs["events"]

    foreground = stack.start("up")
    read_line_matching(foreground, "is up")
    foreground.send_signal(signal.SIGINT)
    foreground.wait(timeout=60)
    foreground._pump.join(timeout=10)  # the reader thread of read_line_matching: it has every line now
    unread = [foreground._line_queue.get() for _ in range(foreground._line_queue.qsize())]
    outputs["up"] = "\n".join(foreground._seen_lines + [line for line in unread if line])
    assert foreground.returncode == 130, outputs["up"]

    failing = make(robostack, free_port(), "--fail")
    for args in (("up",), ("up", "--detach")):
        result = failing.run(*args)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "last " in result.stderr and "exited with code 3" in result.stderr, result.stderr
        outputs[f"failing {' '.join(args)}"] = result.stdout + result.stderr

    shown = {command: leaks(text) for command, text in outputs.items() if leaks(text)}
    assert not shown, shown
    for state in (stack.state_dir, failing.state_dir):
        assert not leaks_in_files(state), leaks_in_files(state)
