"""Pre-flight's rules on values: port conflicts, zombie findings, when `up` must refuse, and the words."""

from __future__ import annotations

from launcher.hygiene.findings import (Holder, assess, classify_zombies, find_port_conflicts, short_command,
                                       watched_ports)
from launcher.hygiene.preflight import refusal_message
from launcher.process.sockets import ZombieCount
from tests.hygiene.conftest import stack_from

STACK = """
services:
  gateway:
    external: true
    health: {ib_api: {port: 4002}}
  websocket:
    command: python -m services.websocket_server --port 8765
    ports: [8765]
  trader:
    command: python -m services.runner_async
    ports: [9100]
"""


def test_an_external_service_is_watched_on_its_check_port_a_managed_one_only_on_its_ports(tmp_path):
    stack = stack_from(STACK + "    health: {tcp: {port: 9101}}\n", tmp_path)
    assert watched_ports(stack.services["gateway"]) == [4002]
    assert watched_ports(stack.services["trader"]) == [9100]


def test_a_foreign_listener_on_a_managed_port_conflicts_unless_spared(tmp_path):
    stack = stack_from(STACK, tmp_path)
    listeners = {8765: [Holder(501, "python -m http.server 8765")], 4002: [Holder(77, "java ibgateway")],
                 9100: [Holder(600, "python -m services.runner_async")]}
    conflicts = find_port_conflicts(stack, listeners, spared_pids=[600])
    assert [(c.service, c.port, [h.pid for h in c.holders]) for c in conflicts] == [("websocket", 8765, [501])]
    sentence = conflicts[0].describe()
    assert sentence.startswith("port 8765 of service 'websocket' is held by pid 501 (python -m http.server 8765)")
    assert "`kill 501`" in sentence and "stale" in sentence


def test_an_unseen_holder_is_named_as_such(tmp_path):
    conflicts = find_port_conflicts(stack_from(STACK, tmp_path), {8765: [Holder(None)]})
    assert "a process robostack cannot see (another user's?)" in conflicts[0].describe()


def test_an_external_gateway_holding_close_wait_refuses_up_with_the_seeds_finding(tmp_path):
    stack = stack_from(STACK, tmp_path)
    counts = [ZombieCount(4002, 4242, "java ibgateway", close_wait=4), ZombieCount(4002, None, None, fin_wait_2=4)]
    result = assess(stack, {4002: [Holder(4242, "java ibgateway")]}, counts, ignore_zombies=False)
    assert len(result.refusals) == 1
    assert result.refusals[0].startswith("Gateway (pid 4242) holds 4 CLOSE_WAIT sockets on port 4002; "
                                         "they clear only when Gateway restarts: restart IB Gateway")
    assert "--ignore-zombies" in result.refusals[0]
    assert any("4 FIN_WAIT_2 sockets with no owner" in note for note in result.notes)
    message = refusal_message(result.refusals)
    assert message.startswith("pre-flight refused: Gateway (pid 4242)") and message.endswith("nothing was started")


def test_ignore_zombies_turns_the_refusal_into_a_note(tmp_path):
    stack = stack_from(STACK, tmp_path)
    result = assess(stack, {}, [ZombieCount(4002, 4242, "java", close_wait=1)], ignore_zombies=True)
    assert result.refusals == []
    assert result.notes == ["Gateway (pid 4242) holds 1 CLOSE_WAIT socket on port 4002; they clear only when "
                            "Gateway restarts (starting anyway: --ignore-zombies)"]


def test_zombies_owned_by_a_managed_or_stopping_process_say_what_clears_them(tmp_path):
    stack = stack_from(STACK, tmp_path)
    counts = [ZombieCount(8765, 300, "ws", close_wait=2), ZombieCount(9100, 400, "old trader", close_wait=1),
              ZombieCount(4002, 500, "client", fin_wait_2=2)]
    findings = classify_zombies(stack, counts, managed_pids={300: "websocket"}, stopping_pids=[400])
    kinds = {(f.port, f.kind) for f in findings}
    assert kinds == {(8765, "managed"), (9100, "stopping"), (4002, "other")}
    by_port = {f.port: f for f in findings}
    assert by_port[8765].describe() == ("'websocket' (pid 300) holds 2 CLOSE_WAIT sockets on port 8765; "
                                        "restarting 'websocket' clears them")
    assert "it is being stopped, which clears them" in by_port[9100].describe()
    assert not any(f.blocks_up for f in findings)  # a client's FIN_WAIT_2 on the Gateway's port is not its fault


def test_short_command_keeps_a_sentence_on_one_line():
    assert short_command("python -c '\nimport x\nx.run()'") == "python -c ' import x x.run()'"
    assert short_command("x" * 200, 20) == "x" * 17 + "..."
    assert short_command(None) == "?"
    assert short_command("/opt/venv/bin/python3 /srv/app/service.py --port 1") == "python3 service.py --port 1"
