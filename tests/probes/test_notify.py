"""NotifyListener and the notify probe: real processes sending sd_notify datagrams to the listener."""

from __future__ import annotations

import asyncio
import os

import pytest

from launcher.probes.notify import judge_notify
from launcher.probes.notify_listener import NotifyListener, NotifyState, apply_notify, parse_notify_message
from launcher.probes.registry import PROBES
from launcher.stack.model import NotifyCheck

# What sd_notify does: one datagram per argument to $NOTIFY_SOCKET ("@name" is the abstract namespace).
SENDER = """
import os, socket, sys
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\\0" + address[1:]
if len(sys.argv) > 1 and sys.argv[1] == "--as-nobody":
    os.setuid(65534)
    sys.argv.pop(1)
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
    for message in sys.argv[1:]:
        sock.sendto(message.encode(), address)
print("sent", flush=True)
"""


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now_value = now

    def monotonic(self) -> float:
        return self.now_value


class Received:
    """Counts messages the listener accepted, so a test can wait for the n-th one."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    def __call__(self, state: NotifyState, fields: dict[str, str]) -> None:
        self.count += 1
        self.changed.set()

    async def until(self, count: int) -> None:
        async def wait() -> None:
            while self.count < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), 30)


def send(processes, listener: NotifyListener, *messages: str) -> None:
    proc = processes.python("-c", SENDER, *messages, env={"NOTIFY_SOCKET": listener.address})
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output


async def test_ready_from_a_real_process_makes_the_probe_healthy(processes, context):
    received = Received()
    with NotifyListener(on_message=received) as listener:
        assert listener.address.startswith("@robostack/")
        context.notify = listener
        send(processes, listener, "STATUS=logging in to Gateway")
        await received.until(1)
        result = await PROBES["notify"](NotifyCheck(), 0.2, context)
        assert not result.ok
        assert result.detail == "no READY=1 yet (STATUS: logging in to Gateway)"
        send(processes, listener, "READY=1\nSTATUS=connected, 3 symbols")
        await asyncio.wait_for(listener.ready.wait(), 30)
        result = await PROBES["notify"](NotifyCheck(), 2.0, context)
        assert result.ok, result.detail
        assert result.detail.startswith("READY=1 received ")
        assert result.detail.endswith(" ago (STATUS: connected, 3 symbols)")
        assert listener.state.last_sender_pid is not None


async def test_watchdog_heartbeats_keep_it_healthy(processes, context):
    clock = FakeClock(100.0)
    received = Received()
    context.clock = clock
    check = NotifyCheck(watchdog_timeout="5s")
    with NotifyListener(clock=clock, on_message=received) as listener:
        context.notify = listener
        send(processes, listener, "READY=1")
        await received.until(1)
        clock.now_value = 104.0
        assert (await PROBES["notify"](check, 1.0, context)).ok
        clock.now_value = 106.0
        result = await PROBES["notify"](check, 1.0, context)
        assert not result.ok
        assert result.detail == "no WATCHDOG=1 for 6s (limit 5s)"
        send(processes, listener, "WATCHDOG=1", "WATCHDOG_USEC=5000000")
        await received.until(3)
        clock.now_value = 107.5
        result = await PROBES["notify"](check, 1.0, context)
        assert result.ok, result.detail
        assert result.detail == "ready, last WATCHDOG=1 1.5s ago"
        assert listener.state.watchdog_count == 1 and listener.state.watchdog_usec == 5_000_000


async def test_stopping_reset_and_close(processes, context):
    received = Received()
    listener = NotifyListener(on_message=received)
    context.notify = listener
    send(processes, listener, "READY=1", "STOPPING=1")
    await received.until(2)
    result = await PROBES["notify"](NotifyCheck(), 1.0, context)
    assert not result.ok and result.detail == "service announced STOPPING=1"
    send(processes, listener, "STATUS=left over from the old process")  # queued, never read before reset
    listener.reset()
    assert listener.state == NotifyState() and not listener.ready.is_set()
    result = await PROBES["notify"](NotifyCheck(), 0.2, context)
    assert not result.ok and result.detail == "no READY=1 yet, no message received"
    listener.close()
    listener.close()  # idempotent
    proc = processes.python("-c", SENDER, "READY=1", env={"NOTIFY_SOCKET": listener.address})
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"ConnectionRefusedError" in output


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to send as another user")
async def test_datagrams_from_another_user_are_ignored(processes, context):
    with NotifyListener() as listener:
        context.notify = listener
        proc = processes.python("-c", SENDER, "--as-nobody", "READY=1", env={"NOTIFY_SOCKET": listener.address})
        assert proc.wait(timeout=30) == 0
        waited = listener.ready.wait()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(waited, 0.3)
        assert listener.state.rejected == 1 and not listener.state.ready


async def test_no_listener(context):
    result = await PROBES["notify"](NotifyCheck(), 1.0, context)
    assert not result.ok and result.detail == "no NOTIFY_SOCKET listener for svc"


def test_parse_and_apply_are_pure():
    fields = parse_notify_message(b"READY=1\nSTATUS=ok=fine\nnonsense\n=x\n")
    assert fields == {"READY": "1", "STATUS": "ok=fine"}
    state = apply_notify(NotifyState(), {"RELOADING": "1", "MAINPID": "42"}, 1.0)
    assert state.reloading and state.main_pid == 42 and not state.ready
    state = apply_notify(state, {"READY": "1"}, 2.0)
    assert state.ready_at == 2.0 and not state.reloading and state.messages == 2
    assert apply_notify(state, {"WATCHDOG": "trigger"}, 3.0).watchdog_triggered
    assert judge_notify(apply_notify(state, {"WATCHDOG": "trigger"}, 3.0), None, 3.0) == (
        False, "service reported a watchdog failure (WATCHDOG=trigger)")
    assert judge_notify(state, 1.0, 2.5) == (True, "READY=1 received 500ms ago")



async def test_socket_file_instead_of_an_abstract_name(processes, context, tmp_path):
    with NotifyListener(directory=tmp_path, abstract=False) as listener:
        assert listener.address.startswith(str(tmp_path)) and os.path.exists(listener.address)
        assert len(listener.address.encode()) < 108  # fits in sun_path
        context.notify = listener
        send(processes, listener, "READY=1")
        await asyncio.wait_for(listener.ready.wait(), 30)
        assert (await PROBES["notify"](NotifyCheck(), 1.0, context)).ok
    assert not os.path.exists(listener.address)  # close() removed the file


def test_warnings_a_service_sends_are_kept_once_each_and_bounded():
    state = NotifyState()
    for text in ["unknown symbol ZZZZ", "unknown symbol ZZZZ", *[f"w{n}" for n in range(20)]]:
        state = apply_notify(state, {"X_ROBOSTACK_WARNING": text}, 1.0)
    assert state.warnings[-1] == "w19" and len(state.warnings) == 10 and state.warnings.count("w10") == 1
    assert apply_notify(NotifyState(), {"X_ROBOSTACK_WARNING": "  "}, 1.0).warnings == ()
