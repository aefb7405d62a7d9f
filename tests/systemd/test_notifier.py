"""SystemdNotifier against a real NOTIFY_SOCKET: this test plays systemd's side of the protocol."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap

from launcher.probes.notify_listener import NotifyListener
from launcher.systemd.notifier import SystemdNotifier, describe_condition
from tests.helpers import REPO


class FakeClock:
    def __init__(self) -> None:
        self.now_value = 100.0

    def monotonic(self) -> float:
        return self.now_value


async def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_ready_status_watchdog_and_stopping_reach_systemd():
    with NotifyListener() as systemd:
        environ = {"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid()),
                   "OTHER": "kept"}
        notifier = SystemdNotifier.from_environment(environ)
        assert environ == {"OTHER": "kept"}  # the services never inherit systemd's socket
        assert notifier.enabled and notifier.watchdog_interval == 0.1  # half of WATCHDOG_USEC

        assert notifier.status("1/3 healthy; gateway starting")
        assert not notifier.status("1/3 healthy; gateway starting")  # unchanged: not sent again
        assert notifier.ready("3/3 healthy")
        await asyncio.wait_for(systemd.ready.wait(), 10)
        assert systemd.state.status == "3/3 healthy"
        assert systemd.state.last_sender_pid == os.getpid()  # NotifyAccess=main: only the main pid counts
        assert not notifier.ready("3/3 healthy")  # READY=1 is sent once
        sent = systemd.state.messages

        stop = asyncio.Event()
        pinger = asyncio.ensure_future(notifier.keep_alive(stop))
        await wait_for(lambda: systemd.state.watchdog_count >= 3, "three WATCHDOG=1 pings")
        stop.set()
        await asyncio.wait_for(pinger, 5)
        assert systemd.state.messages >= sent + 3

        assert notifier.stopping("stopping")
        await wait_for(lambda: systemd.state.stopping, "STOPPING=1")
        assert systemd.state.status == "stopping"
        notifier.close()
        notifier.close()  # idempotent


def test_the_watchdog_is_due_every_half_of_watchdog_usec_on_its_clock():
    clock = FakeClock()
    notifier = SystemdNotifier("@robostack-test-nobody-listens", watchdog_usec=30_000_000, clock=clock)
    assert notifier.seconds_to_watchdog() == 0.0
    assert notifier.watchdog() is False  # due, but nobody listens: the send fails quietly
    assert notifier.seconds_to_watchdog() == 15.0
    clock.now_value += 10
    assert notifier.seconds_to_watchdog() == 5.0 and not notifier.watchdog()
    clock.now_value += 5
    assert notifier.seconds_to_watchdog() == 0.0
    notifier.close()


def test_without_systemd_or_with_someone_elses_watchdog_nothing_is_sent():
    idle = SystemdNotifier.from_environment({})
    assert not idle.enabled and idle.seconds_to_watchdog() is None
    assert not idle.ready("x") and not idle.watchdog() and not idle.stopping()
    foreign = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000",
                                                "WATCHDOG_PID": "1"})
    assert foreign.watchdog_interval is None


def test_the_condition_line():
    assert describe_condition({"gateway": "healthy", "server": "healthy"}) == "2/2 healthy"
    assert describe_condition({"gateway": "healthy", "trader": "restarting", "ibc": "external"}) == \
        "2/3 healthy; trader restarting"
    assert describe_condition({"gateway": "healthy"}, stopping=True) == "stopping"


async def test_a_supervisor_process_notifies_and_its_children_do_not_inherit_the_socket():
    # A stand-in for `robostack up` run by systemd: it notifies, and starts a child as it starts services.
    script = textwrap.dedent("""
        import os, subprocess, sys
        from launcher.systemd.notifier import SystemdNotifier
        notifier = SystemdNotifier.from_environment()
        child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('NOTIFY_SOCKET'))"],
                               capture_output=True, text=True)
        notifier.ready("child saw " + child.stdout.strip())
        notifier.watchdog()
    """)
    with NotifyListener() as systemd:
        env = dict(os.environ, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="5000000")
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO, env=env)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        await asyncio.wait_for(systemd.ready.wait(), 10)
        await wait_for(lambda: systemd.state.watchdog_count == 1, "the WATCHDOG=1")
        assert systemd.state.status == "child saw None"
        assert systemd.state.last_sender_pid == process.pid
