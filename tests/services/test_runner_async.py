"""The trader end to end, as real processes: simulator -> trader -> WebSocket server -> a real subscriber.

Readiness is read from a real AF_UNIX datagram socket (the notify protocol), ticks from a
real `websockets` client, socket states from the kernel (psutil).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import uuid
from datetime import datetime
from typing import Callable

from websockets.asyncio.client import connect

from tests.helpers import read_line_matching, socket_states, wait_for_port_free, wait_until
from tests.services.conftest import eventually

SYMBOLS = ("AAPL", "NVDA", "TSLA")
TICK_FIELDS = {"type", "symbol", "bid", "ask", "last", "time"}
FAST_TICKS = ("--tick-interval", "0.05")


class NotifyReceiver:
    """A bound abstract-namespace datagram socket standing in for the launcher's NOTIFY_SOCKET."""

    def __init__(self) -> None:
        name = f"robostack-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name)
        self.sock.setblocking(False)
        self.env_value = "@" + name
        self.messages: list[str] = []

    async def wait_for(self, needle: str, timeout: float = 60.0) -> str:
        """The first datagram (seen before or arriving now) containing `needle`."""
        for message in self.messages:
            if needle in message:
                return message
        loop = asyncio.get_running_loop()

        async def receive() -> str:
            while True:
                message = (await loop.sock_recv(self.sock, 4096)).decode()
                self.messages.append(message)
                if needle in message:
                    return message

        try:
            return await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            raise AssertionError(f"no notify datagram with {needle!r} within {timeout}s; got {self.messages[-10:]}") from None

    def close(self) -> None:
        self.sock.close()


async def collect(subscriber, until: Callable[[list[dict]], bool], timeout: float = 60.0) -> list[dict]:
    """Read events until `until(events)` holds; fail showing the last events seen."""
    events: list[dict] = []

    async def read() -> None:
        while not until(events):
            events.append(json.loads(await subscriber.recv()))

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s; last events: {events[-8:]}") from None
    return events


def ticked_symbols(events: list[dict]) -> set[str]:
    return {event["symbol"] for event in events if event["type"] == "tick"}


def has_status(state: str, **details) -> Callable[[list[dict]], bool]:
    def check(events: list[dict]) -> bool:
        return any(event["type"] == "status" and event["state"] == state
                   and all(event.get(key) == value for key, value in details.items()) for event in events)
    return check


def start_trader(processes, sim, server, *extra: str, symbols: str = ",".join(SYMBOLS), env: dict | None = None):
    return processes.python("-m", "services.runner_async", "--symbols", symbols, "--port", str(sim.port),
                            "--ws-url", server.publish_url, "--max-backoff", "2", *extra, env=env)


async def subscribed_subscriber(server):
    subscriber = await connect(server.url)
    await eventually(lambda: _subscribers(server, 1), what="the subscriber on /healthz")
    return subscriber


async def _subscribers(server, count: int) -> bool:
    return (await server.health_async())["subscribers"] >= count


async def test_ticks_for_three_symbols_reach_a_subscriber_and_readiness_is_notified(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS)
    token = uuid.uuid4().hex
    server = websocket_server(env={"ROBOSTACK_WS_TOKEN": token})
    notify = NotifyReceiver()
    subscriber = await subscribed_subscriber(server)
    try:
        start_trader(processes, sim, server, env={"NOTIFY_SOCKET": notify.env_value, "ROBOSTACK_WS_TOKEN": token,
                                                  "WATCHDOG_USEC": "1000000"})
        ready = await notify.wait_for("READY=1")
        assert f"STATUS=ready: streaming {','.join(SYMBOLS)}" in ready
        await notify.wait_for("WATCHDOG=1")

        events = await collect(subscriber, lambda seen: ticked_symbols(seen) >= set(SYMBOLS) and
                               any(event["type"] == "position" for event in seen))
        ticks = [event for event in events if event["type"] == "tick"]
        for tick in ticks:
            assert set(tick) == TICK_FIELDS
            assert tick["symbol"] in SYMBOLS
            assert any(isinstance(tick[price], float) and tick[price] > 0 for price in ("bid", "ask", "last"))
            assert datetime.fromisoformat(tick["time"]).utcoffset().total_seconds() == 0
        assert has_status("subscribed", symbols=list(SYMBOLS), skipped=[])(events)
        positions = {event["symbol"]: event for event in events if event["type"] == "position"}
        assert positions and all(position["account"].startswith("DU") for position in positions.values())
    finally:
        await subscriber.close()
        notify.close()


async def test_an_unknown_symbol_is_reported_and_skipped(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS)
    server = websocket_server()
    subscriber = await subscribed_subscriber(server)
    try:
        trader = start_trader(processes, sim, server, symbols="AAPL,ZZZZQ")
        events = await collect(subscriber, lambda seen: "AAPL" in ticked_symbols(seen) and has_status("subscribed")(seen))
        assert has_status("subscribed", symbols=["AAPL"], skipped=["ZZZZQ"])(events)
        read_line_matching(trader, r"unknown symbol ZZZZQ: the Gateway has no contract for it; skipped")
        assert trader.poll() is None
    finally:
        await subscriber.close()


def test_no_known_symbol_at_all_is_a_one_line_error(gateway_sim, processes, port):
    sim = gateway_sim()
    trader = processes.python("-m", "services.runner_async", "--symbols", "ZZZZQ,QQQQZ", "--port", str(sim.port),
                              "--ws-url", f"ws://127.0.0.1:{port}/publish")
    assert trader.wait(timeout=60) == 2
    line = read_line_matching(trader, r"^error: ")
    assert line == "error: none of the symbols ZZZZQ,QQQQZ is known to the Gateway"


async def test_the_trader_reconnects_and_resubscribes_after_the_gateway_is_killed(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS)
    server = websocket_server()
    notify = NotifyReceiver()
    subscriber = await subscribed_subscriber(server)
    try:
        trader = start_trader(processes, sim, server, env={"NOTIFY_SOCKET": notify.env_value})
        await notify.wait_for("READY=1")
        await collect(subscriber, lambda seen: ticked_symbols(seen) >= set(SYMBOLS))

        os.killpg(sim.pid, signal.SIGKILL)
        sim.proc.wait(timeout=30)
        await collect(subscriber, has_status("reconnecting", target="gateway"))
        await notify.wait_for("STATUS=gateway:")
        wait_for_port_free(sim.port)

        gateway_sim(*FAST_TICKS, port=sim.port)  # the same port, as after IB's daily restart
        events = await collect(subscriber, has_status("subscribed"))
        after_restart = await collect(subscriber, lambda seen: ticked_symbols(seen) >= set(SYMBOLS))
        assert has_status("subscribed", symbols=list(SYMBOLS))(events)
        assert ticked_symbols(after_restart) >= set(SYMBOLS)
        assert trader.poll() is None  # the same process all along
    finally:
        await subscriber.close()
        notify.close()


async def test_the_trader_republishes_after_the_websocket_server_restarts(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS)
    server = websocket_server()
    trader = start_trader(processes, sim, server)
    read_line_matching(trader, r"ready: streaming")

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0
    read_line_matching(trader, r"websocket: reconnecting")
    wait_for_port_free(server.port)

    restarted = websocket_server(port=server.port)
    subscriber = await subscribed_subscriber(restarted)
    try:
        await collect(subscriber, has_status("connected", target="websocket"))  # the trader says it is back
        events = await collect(subscriber, lambda seen: ticked_symbols(seen) >= set(SYMBOLS))
        assert all(event["type"] in ("tick", "position", "status") for event in events)
        assert trader.poll() is None
    finally:
        await subscriber.close()


async def test_sigterm_cancels_market_data_and_leaves_no_close_wait_on_the_gateway(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS)
    server = websocket_server()
    notify = NotifyReceiver()
    subscriber = await subscribed_subscriber(server)
    try:
        trader = start_trader(processes, sim, server, env={"NOTIFY_SOCKET": notify.env_value})
        await notify.wait_for("READY=1")
        assert "ESTABLISHED" in socket_states(sim.port, pid=sim.pid)

        trader.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(trader.wait, 30) == 0
        await notify.wait_for("STOPPING=1")
        await collect(subscriber, has_status("stopping"))
        read_line_matching(sim.proc, r"disconnected: closed by client \(client id 10\)")
        # Only the listening socket remains on the Gateway's side: no CLOSE_WAIT, nothing half-open.
        wait_until(lambda: set(socket_states(sim.port, pid=sim.pid)) == {"LISTEN"},
                   what=f"only LISTEN on the simulator's port, saw {socket_states(sim.port, pid=sim.pid)}")
        assert sim.proc.poll() is None
    finally:
        await subscriber.close()
        notify.close()


async def test_a_gateway_that_stops_answering_is_detected_and_left(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS, "--fault", "hang-after", "10")
    server = websocket_server()
    subscriber = await subscribed_subscriber(server)
    try:
        start_trader(processes, sim, server, "--api-check-interval", "0.5", "--connect-timeout", "2")
        await collect(subscriber, has_status("subscribed"))
        events = await collect(subscriber, has_status("reconnecting", target="gateway"), timeout=90)
        reconnecting = next(event for event in events if event.get("state") == "reconnecting")
        assert "stopped answering API requests" in reconnecting["reason"]
    finally:
        await subscriber.close()


async def test_the_trader_follows_a_connectivity_loss_with_data_lost_and_says_when_data_stops(
        gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS, "--connectivity-loss", "4:2:lost")
    server = websocket_server()
    notify = NotifyReceiver()
    subscriber = await subscribed_subscriber(server)
    drain = None
    try:
        start_trader(processes, sim, server, "--data-timeout", "0.5",
                     env={"NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": "200000"})
        await notify.wait_for("READY=1")
        drain = asyncio.create_task(notify.wait_for("\0nothing", timeout=300))  # keeps reading, as a supervisor does

        def resubscribed_then_ticks(seen: list[dict]) -> bool:
            marks = [i for i, event in enumerate(seen) if event.get("state") == "resubscribed"]
            return bool(marks) and any(event["type"] == "tick" for event in seen[marks[0]:])

        events = await collect(subscriber, resubscribed_then_ticks)
        states = [(event["state"], event.get("code")) for event in events if event["type"] == "status"]
        assert ("gateway_notice", 1100) in states and ("gateway_notice", 1101) in states
        assert states.index(("gateway_notice", 1101)) < states.index(("resubscribed", None))
        lost = next(e for e in events if e.get("code") == 1100)
        assert lost["connectivity"] == "lost" and lost["farms_broken"] == []

        def said(needle: str):
            async def check() -> int | None:
                return next((i for i, message in enumerate(notify.messages) if needle in message), None)
            return check

        stalled = await eventually(said("STATUS=not ready: no ticks for "), what="the stall on STATUS=")
        assert "(the Gateway says: IB unreachable since " in notify.messages[stalled]
        flowing = await eventually(said("STATUS=ready: ticks flowing again"), what="the recovery on STATUS=")
        between = notify.messages[stalled + 1:flowing]
        assert not any("WATCHDOG=1" in message for message in between)  # not ready: no heartbeats meanwhile
        await eventually(lambda: _watchdog_after(notify, flowing), what="heartbeats again")
    finally:
        if drain is not None:
            drain.cancel()
        await subscriber.close()
        notify.close()


async def _watchdog_after(notify: NotifyReceiver, index: int) -> bool:
    return any("WATCHDOG=1" in message for message in notify.messages[index + 1:])


async def test_the_trader_reports_broken_farms_in_its_status_events(gateway_sim, websocket_server, processes):
    sim = gateway_sim(*FAST_TICKS, "--farm-outage", "3:1.5")
    server = websocket_server()
    subscriber = await subscribed_subscriber(server)
    try:
        start_trader(processes, sim, server, "--data-timeout", "0.5")
        events = await collect(subscriber, has_status("data_flowing"))
        notices = [event for event in events if event.get("state") == "gateway_notice"]
        broken = next(event for event in notices if event["code"] == 2103)
        assert broken["farms_broken"] == ["usfarm"] and broken["connectivity"] == "ok"
        stalled = next(event for event in events if event.get("state") == "data_stalled")
        assert stalled["farms_broken"] == ["secdefnj", "usfarm", "ushmds"]
        restored = next(event for event in notices if event["code"] == 2104)
        assert "usfarm" not in restored["farms_broken"]
        assert events.index(stalled) < events.index(restored)
    finally:
        await subscriber.close()
