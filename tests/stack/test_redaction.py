"""The masking rule: secrets by name and by shape, in text, argument lists and JSON-like data.

Plus where it is applied outside the supervisor: the service log header written at
spawn, doctor, `robostack logs` and the pre-flight lines. (The supervisor's progress
lines, events and `status --json` are routed through the same Redactor at merge.)
"""

from __future__ import annotations

from tests.helpers import log_lines

import json
import sys

import pytest

from launcher.stack.redaction import MASK, Redactor, looks_secret
from tests.launcher.conftest import robostack  # noqa: F401 - the CLI fixture

SHAPES = [
    ("postgresql://trader:s3cr3t-pw@db.local:5432/ticks", "postgresql://trader:***@db.local:5432/ticks"),
    ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("http://127.0.0.1:8765/healthz", "http://127.0.0.1:8765/healthz"),
    ("ssh://deploy@host/repo", "ssh://deploy@host/repo"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer ***"),
    ("auth=bearer abcdef123456", "auth=*** ***"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("Basic checks passed", "Basic checks passed"),
    ("--password hunter2 --port 4002", "--password *** --port 4002"),
    ("--password=hunter2", "--password=***"),
    ('--password "two words" -x', '--password "***" -x'),
    ("--api-key k-1234 --pin 4321", "--api-key *** --pin ***"),
    ("--no-auth --port 4002", "--no-auth --port 4002"),
    ("TWSPASSWORD=xyz IB_PW=abc PORT=4002", "TWSPASSWORD=*** IB_PW=*** PORT=4002"),
    ("ws://127.0.0.1:8765/publish?token=abc123&x=1", "ws://127.0.0.1:8765/publish?token=***&x=1"),
    ('{"password": "p\\"w", "port": 1, "COOKIE": "sid=1"}', '{"password": "***", "port": 1, "COOKIE": "***"}'),
    ("session cookie=abc; path=/", "session cookie=***; path=/"),
    ("pre-flight: no stale processes", "pre-flight: no stale processes"),
    ("IB_TOKEN: xyz PORT: 4002", "IB_TOKEN: *** PORT: 4002"),
    ("session: started, token: none", "session: started, token: none"),
]


@pytest.mark.parametrize("text, expected", SHAPES)
def test_secret_shapes_are_masked_and_ordinary_text_is_not(text, expected):
    assert Redactor().mask(text) == expected


def test_known_values_are_masked_anywhere_longest_first():
    redactor = Redactor.of({"hunter2-long", "hunter2", "", "12"})
    assert redactor.mask("x hunter2-long y hunter2") == "x *** y ***"
    assert redactor.mask("client 12, port 4123") == "client ***, port 4123"
    assert redactor.mask("") == ""


def test_argument_lists_hide_the_value_after_a_secret_option():
    argv = ["prog", "--password", "p w", "--token=y", "--port", "4002", "--auth", "--verbose", "-pin", "12"]
    assert Redactor().mask_argv(argv) == ["prog", "--password", MASK, "--token=***", "--port", "4002", "--auth",
                                          "--verbose", "-pin", MASK]


def test_data_hides_values_of_secret_keys_and_masks_every_string():
    data = {"env": {"API_KEY": "k", "PORT": "1"}, "reason": "python x --password hunter2", "ok": True,
            "session": True, "items": ["Bearer abcdef123"]}
    assert Redactor().mask_data(data) == {"env": {"API_KEY": MASK, "PORT": "1"}, "reason": "python x --password ***",
                                          "ok": True, "session": True, "items": ["Bearer ***"]}


def test_from_environment_takes_secret_names_only_and_skips_short_or_harmless_ones():
    redactor = Redactor.from_environment({"TWSPASSWORD": "hunter2", "IB_PW": "abc", "PWD": "/work/wt",
                                          "XDG_SESSION_ID": "c3-long", "HOME": "/root"})
    assert redactor.secrets == ("hunter2",)


def test_the_issues_unmasked_names_are_masked_wherever_substituted(stack_files):
    """IB_PW, PIN, AUTH (a Bearer value), COOKIE and a DSN with an inline password (issue 11)."""
    environ = {"IB_PW": "pw-778899", "PIN": "4321", "AUTH": "Bearer tok-abcdef", "COOKIE": "sid=s-123456",
               "DATABASE_URL": "postgres://trader:dsn-pass@127.0.0.1/ticks"}
    stack = stack_files.load("""
        services:
          trader:
            command: prog --pw ${IB_PW} --pin ${PIN} --db ${DATABASE_URL} ${AUTH}
            env: {HTTP_COOKIE: "${COOKIE}"}
        """, environ=environ)
    redactor = Redactor.for_stack(stack)
    shown = redactor.mask(" ".join(stack.services["trader"].argv)) + redactor.mask(json.dumps(stack.services["trader"].env))
    for secret in ("pw-778899", "4321", "tok-abcdef", "s-123456", "dsn-pass"):
        assert secret not in shown, shown


@pytest.mark.parametrize("name", ["TWSPASSWORD", "IB_PW", "PIN", "API_TOKEN", "SESSION_KEY"])
def test_names_that_look_secret(name):
    assert looks_secret(name)


async def test_the_spawn_header_hides_the_password_argument(tmp_path):
    from launcher.process.spawn import spawn_service

    log = tmp_path / "logs" / "svc" / "run.log"
    process = await spawn_service("svc", ["/bin/echo", "--password", "hunter2", "--token=tok-123456"],
                                  cwd=tmp_path, env={"TWSPASSWORD": "not-used-here"}, log_path=log)
    await process.wait()
    header, output = log_lines(log)[:2]
    assert header.endswith(": /bin/echo --password '***' '--token=***'"), header
    assert "hunter2" not in header and "tok-123456" not in header
    assert output == "--password hunter2 --token=tok-123456"  # the service itself got the real values


def test_robostack_logs_masks_secrets_a_service_printed(robostack, tmp_path):
    stack = robostack(f"""services:
  talker:
    command: [{sys.executable!r}, -c, "print('connecting with --password hunter2 to redis://u:pw-9911@h/0', flush=True); import time; time.sleep(60)"]
    health: {{log: {{pattern: connecting}}}}
    stop_grace: 1s
""")
    assert stack.run("up", "--detach").returncode == 0
    result = stack.run("logs", "talker")
    assert "--password ***" in result.stdout and "redis://u:***@h/0" in result.stdout, result.stdout
    assert "hunter2" not in result.stdout and "pw-9911" not in result.stdout
    assert stack.run("down").returncode == 0


def test_doctor_masks_a_foreign_holders_password_argument(robostack, processes, tmp_path):
    from tests.helpers import free_port, read_line_matching

    port = free_port()
    script = tmp_path / "h.py"
    script.write_text("import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[3])))\n"
                      "s.listen()\nprint('ready', flush=True)\ntime.sleep(600)\n")
    holder = processes.python("h.py", "--password", "hunter2", str(port), cwd=tmp_path)
    read_line_matching(holder, "ready")
    stack = robostack(f"""services:
  web:
    command: prog
    ports: [{port}]
""")
    result = stack.run("doctor", "--json")
    assert "Traceback" not in result.stderr
    assert "h.py --password *** " in result.stdout, result.stdout
    assert "hunter2" not in result.stdout + result.stderr
