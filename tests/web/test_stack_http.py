"""The stack file's `http:` section: off unless present, loopback only, and the feed the page uses."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from launcher.errors import StackFileError
from launcher.stack.loader import load_stack
from launcher.web.page import feed_url
from tests.helpers import REPO

SERVICES = """\
services:
  websocket:
    command: python -m services.websocket_server --port 8765
    ports: [8765, 9000]
"""


def load(tmp_path, extra: str = ""):
    path = tmp_path / "stack.yaml"
    path.write_text(SERVICES + textwrap.dedent(extra))
    return load_stack(path, environ={})


def test_without_a_section_the_api_is_off(tmp_path):
    assert load(tmp_path).http is None
    assert load(tmp_path, "http: {enabled: false, port: 9999}\n").http is None


def test_a_bare_section_turns_it_on_with_defaults(tmp_path):
    http = load(tmp_path, "http:\n").http
    assert (http.host, http.port, http.feed, http.feed_service) == ("127.0.0.1", 8790, None, "websocket")


def test_port_zero_and_loopback_hosts_are_accepted(tmp_path):
    assert load(tmp_path, "http: {port: 0}\n").http.port == 0
    assert load(tmp_path, "http: {host: '::1'}\n").http.host == "::1"
    assert load(tmp_path, "http: {host: localhost}\n").http.host == "localhost"


@pytest.mark.parametrize("section, message", [
    ("http: {host: 0.0.0.0}", 'stack.yaml:5 http.host: "0.0.0.0" is not a loopback address'),
    ("http: {host: example.com}", 'stack.yaml:5 http.host: "example.com" is not a loopback address'),
    ("http: {port: -1}", "stack.yaml:5 http.port: port -1 is out of range"),
    ("http: {port: '8790'}", "stack.yaml:5 http.port: expected a port number"),
    ("http: {feed: 'http://127.0.0.1:8765/'}", 'stack.yaml:5 http.feed: "http://127.0.0.1:8765/" is not a WebSocket URL'),
    ("http: {feed_service: trader}", 'stack.yaml:5 http.feed_service: "trader" names no service of this stack'),
    ("http: {prot: 1}", 'stack.yaml:5 http: unknown key "prot" (did you mean "port"?)'),
    ("http: [8790]", "stack.yaml:5 http: expected a mapping"),
])
def test_bad_settings_are_refused_with_file_line_and_field(tmp_path, section, message):
    with pytest.raises(StackFileError) as caught:
        load(tmp_path, section + "\n")
    assert message in str(caught.value)


def test_the_feed_is_the_websocket_service_unless_given(tmp_path):
    assert feed_url(load(tmp_path)) == "ws://127.0.0.1:8765/"
    assert feed_url(load(tmp_path, "http: {feed: 'ws://localhost:1234/feed'}\n")) == "ws://localhost:1234/feed"
    path = tmp_path / "other.yaml"
    path.write_text("services:\n  a:\n    command: sleep 1\n")
    assert feed_url(load_stack(path, environ={})) is None


def test_config_shows_the_section(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text(SERVICES + "http: {port: 0}\n")
    result = subprocess.run([sys.executable, "-m", "launcher", "-f", str(path), "config"], capture_output=True,
                            text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "http:\n  enabled: true\n  host: 127.0.0.1\n  port: 0\n" in result.stdout


def test_the_default_stack_serves_the_dashboard_on_a_fixed_port_clear_of_the_others():
    stack = load_stack(REPO / "stack.yaml", environ={})
    assert stack.http is not None and stack.http.port not in (4002, 8765, 7462)
    assert feed_url(stack) == "ws://127.0.0.1:8765/"
