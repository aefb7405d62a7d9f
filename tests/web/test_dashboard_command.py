"""`robostack dashboard` through the real CLI: print or open the URL, refuse clearly, serve and stop."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO, free_port, read_line_matching, wait_until
from tests.web.client import get


def write_stack(folder, http: str = "") -> str:
    path = folder / "stack.yaml"
    path.write_text(textwrap.dedent("""\
        name: dash
        services:
          app:
            command: python -c "import time; time.sleep(60)"
        """) + http)
    return str(path)


def robostack(stack: str, *args: str, env: dict | None = None, state=None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    environment.update(ROBOSTACK_STATE_DIR=str(state), **(env or {}))
    return subprocess.run([sys.executable, "-m", "launcher", "-f", stack, *args], capture_output=True, text=True,
                          env=environment, cwd=REPO, timeout=60)


@pytest.fixture
def served(tmp_path):
    """`robostack dashboard --serve --port 0` on a stack that never ran; yields (process, port)."""
    stack = write_stack(tmp_path)
    env = dict(os.environ, ROBOSTACK_STATE_DIR=str(tmp_path / "state"))
    server = subprocess.Popen([sys.executable, "-m", "launcher", "-f", stack, "dashboard", "--serve", "--port", "0",
                               "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO,
                              start_new_session=True)
    line = read_line_matching(server, r"^http://127\.0\.0\.1:\d+/$")
    yield server, int(re.search(r":(\d+)/", line)[1]), stack
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(10)
    server.stdout.close()
    server.stderr.close()


def test_without_an_http_section_it_says_how_to_get_one(tmp_path):
    result = robostack(write_stack(tmp_path), "dashboard", state=tmp_path / "state")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("robostack: this stack serves no dashboard: add `http: {port: 8790}`")
    assert "Traceback" not in result.stderr


def test_when_the_stack_is_not_running_it_says_so_and_exits_5(tmp_path):
    port = free_port()
    result = robostack(write_stack(tmp_path, f"http: {{port: {port}}}\n"), "dashboard", state=tmp_path / "state")
    assert result.returncode == 5, result.stderr
    assert result.stderr.startswith("robostack: stack 'dash' is not running, so nothing serves its dashboard")
    # The suggested command names the stack file as the user did (`robostack -f FILE up`).
    assert re.search(r"`robostack (-f \S+ )?up`", result.stderr) and result.stdout == ""


@pytest.fixture
def running(tmp_path):
    """`robostack up --detach` of a stack served on `http.port: 0`; yields (stack file, state folder, up's output)."""
    stack, state = write_stack(tmp_path, "http: {port: 0}\n"), tmp_path / "state"
    up = robostack(stack, "up", "--detach", state=state)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield stack, state, up.stdout
    finally:
        assert robostack(stack, "down", state=state).returncode == 0


def test_port_zero_the_url_comes_from_the_running_supervisor(running, tmp_path):
    stack, state, printed = running
    url = json.loads((state / "run.json").read_text())["http_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and not url.endswith(":0/")
    assert f"dashboard {url};" in printed  # `up --detach` says where it is
    result = robostack(stack, "dashboard", state=state)
    assert result.returncode == 0 and result.stdout == url + "\n", result.stderr
    assert get(int(url.rsplit(":", 1)[1].rstrip("/")), "/healthz").json() == {"status": "ok"}


def test_a_port_in_use_refuses_up_in_one_line_and_starts_nothing(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack = write_stack(tmp_path, f"http: {{port: {port}}}\n")
        result = robostack(stack, "up", state=tmp_path / "state")
    assert result.returncode == 4, result.stdout + result.stderr
    refusal = [line for line in result.stderr.splitlines() if line.startswith("robostack: ")]
    assert len(refusal) == 1, result.stderr
    assert refusal[0].startswith(f"robostack: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (")
    assert refusal[0].endswith("; stop it, or set http.port in the stack file to another port (0: any free port); "
                               "nothing was started")
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "state" / "run.json").exists()
    timeline = tmp_path / "state" / "events.jsonl"  # a refusal before the supervisor announced itself writes none
    assert not timeline.exists() or "starting" not in timeline.read_text()


def test_without_a_display_the_url_is_printed(served, tmp_path):
    _, port, stack = served
    result = robostack(stack, "dashboard", "--port", str(port), state=tmp_path / "state")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"http://127.0.0.1:{port}/\n"
    assert "opened" not in result.stderr


def test_with_a_browser_the_url_is_opened(served, tmp_path):
    _, port, stack = served
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    fake_browser.chmod(0o755)
    result = robostack(stack, "dashboard", "--port", str(port), state=tmp_path / "state",
                       env={"DISPLAY": ":99", "BROWSER": f"{fake_browser} %s"})
    assert result.returncode == 0, result.stderr
    wait_until(lambda: opened.exists() and opened.read_text().strip(), what="the browser command to run")
    assert opened.read_text().strip() == f"http://127.0.0.1:{port}/"
    assert "opened in your browser" in result.stderr


def test_serve_answers_for_a_stack_that_never_ran_and_stops_cleanly_on_sigterm(served):
    server, port, _ = served
    assert get(port, "/healthz").status == 503
    assert get(port, "/api/status").status == 503
    page = get(port, "/")
    assert page.status == 200 and "robostack" in page.text
    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0


def test_serve_refuses_a_port_in_use_with_exit_4(served, tmp_path):
    _, port, stack = served
    result = robostack(stack, "dashboard", "--serve", "--port", str(port), "--no-browser", state=tmp_path / "state")
    assert result.returncode == 4
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "Traceback" not in result.stderr


def test_a_foreground_up_prints_the_url_as_soon_as_it_serves_and_once_up(tmp_path):
    stack = write_stack(tmp_path, "http: {port: 0}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    env.update(ROBOSTACK_STATE_DIR=str(tmp_path / "state"), COLUMNS="200", PYTHONUNBUFFERED="1")
    up = subprocess.Popen([sys.executable, "-m", "launcher", "-f", stack, "up"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    try:
        served = read_line_matching(up, r"dashboard and HTTP API: http://127\.0\.0\.1:\d+/")
        url = re.search(r"http://127\.0\.0\.1:\d+/", served)[0]
        ready = read_line_matching(up, r"stack 'dash' is up")
        assert f"dashboard {url};" in ready
        assert get(int(url.rsplit(":", 1)[1].rstrip("/")), "/readyz").status == 200
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 130
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
            robostack(stack, "down", state=tmp_path / "state")  # what the killed supervisor left
        up.stdout.close()
