"""Alerts delivered for real: a local HTTP receiver, a real command, and the dispatcher between them."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import psutil

from launcher.alerts.dispatcher import AlertDispatcher
from launcher.alerts.sender import CommandSender, HttpSender
from launcher.stack.model import Alerts
from launcher.stack.resolved import ResolvedAlerts
from launcher.state.events import Event
from tests.alerts.receiver import Receiver
from tests.helpers import free_port, wait_until

PAYLOAD = {"stack": "robo", "service": "trader", "event": "unhealthy", "title": "unhealthy", "detail": "no ticks"}


def supervisor_event(service: str, name: str, reason: str = "") -> Event:
    return Event(datetime.now(timezone.utc), service, name, reason)


async def test_http_post_reaches_a_receiver_with_json_and_headers():
    async with Receiver() as receiver:
        sender = HttpSender(receiver.url("/hook/abc123?x=1"), {"Authorization": "Bearer t0ken-value"}, timeout=5)
        delivery = await sender.send(PAYLOAD)
        assert delivery.ok and delivery.detail.startswith(f"POST http://127.0.0.1:{receiver.port}/***: HTTP 200 in ")
        request, = receiver.requests
        assert (request.method, request.target, request.body) == ("POST", "/hook/abc123?x=1", PAYLOAD)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["authorization"] == "Bearer t0ken-value"
        assert "t0ken" not in delivery.detail and "abc123" not in delivery.detail


async def test_http_failures_are_one_line_results_never_exceptions():
    async with Receiver(status=503) as receiver:
        delivery = await HttpSender(receiver.url(), {}, timeout=5).send(PAYLOAD)
        assert not delivery.ok and delivery.detail.endswith(": HTTP 503 in " + delivery.detail.rsplit(" in ", 1)[1])
    async with Receiver(silent=True) as receiver:
        delivery = await HttpSender(receiver.url(), {}, timeout=0.5).send(PAYLOAD)
        assert not delivery.ok and delivery.detail.endswith(": no answer within 0.5s")
    refused = await HttpSender(f"http://127.0.0.1:{free_port()}/x", {}, timeout=5).send(PAYLOAD)
    assert not refused.ok and "connection refused on 127.0.0.1:" in refused.detail
    injected = await HttpSender(f"http://127.0.0.1:{free_port()}/x", {"X-Evil": "a\r\nHost: b"}, timeout=5).send(PAYLOAD)
    assert not injected.ok


async def test_a_command_gets_the_alert_on_stdin_and_in_its_environment(tmp_path):
    out = tmp_path / "alert.json"
    script = ("import json, os, sys; data = json.load(sys.stdin); "
              "data['env'] = os.environ['ROBOSTACK_ALERT_SERVICE'] + '/' + os.environ['ROBOSTACK_ALERT_EVENT']; "
              f"open({str(out)!r}, 'w').write(json.dumps(data))")
    delivery = await CommandSender([sys.executable, "-c", script], timeout=30).send(PAYLOAD)
    assert delivery.ok, delivery.detail
    assert json.loads(out.read_text()) == {**PAYLOAD, "env": "trader/unhealthy"}

    failed = await CommandSender([sys.executable, "-c", "print('webhook said no'); raise SystemExit(3)"],
                                 timeout=30).send(PAYLOAD)
    assert not failed.ok and failed.detail.endswith("exited with code 3: webhook said no")
    missing = await CommandSender(["/nonexistent/notify-me"], timeout=30).send(PAYLOAD)
    assert not missing.ok and missing.detail == "could not run /nonexistent/notify-me: No such file or directory"


async def test_a_hung_command_is_killed_with_its_children_at_the_timeout(tmp_path):
    pids = tmp_path / "pids"
    script = ("import os, subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(600)']); open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}'); time.sleep(600)")
    delivery = await CommandSender([sys.executable, "-c", script], timeout=2).send(PAYLOAD)
    assert not delivery.ok and delivery.detail.endswith("did not finish within 2s (killed)")
    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    for pid in map(int, pids.read_text().split()):  # SIGKILL is delivered, not awaited: give it its moment
        wait_until(lambda pid=pid: gone(pid), what=f"pid {pid} of the hung command to be gone")


def resolved(url: str | None = None, command: list[str] | None = None, **settings) -> ResolvedAlerts:
    spec = Alerts.model_validate({**({"url": url} if url else {}), **({"command": command} if command else {}),
                                  **settings})
    return ResolvedAlerts(spec=spec, command=tuple(command) if command else None, url=url, headers={})


async def test_a_flapping_service_makes_one_post_then_one_summary(tmp_path):
    async with Receiver() as receiver:
        out = tmp_path / "lines"
        command = [sys.executable, "-c", f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read())"]
        dispatcher = AlertDispatcher(resolved(receiver.url(), command, dedup="1s"), stack="robo",
                                     secrets=frozenset({"hunter2-secret"}))
        dispatcher.start()
        dispatcher.offer(supervisor_event("trader", "healthy", "first start"))  # not an alert
        for round_number in range(50):
            dispatcher.offer(supervisor_event("trader", "unhealthy", "login with hunter2-secret refused"))
            dispatcher.offer(supervisor_event("trader", "healthy", "ok"))
        first, summary = await receiver.wait_for(2)
        assert first.body["event"] == "unhealthy" and first.body["detail"] == "login with *** refused"
        assert first.body["host"] and first.body["stack"] == "robo"
        assert summary.body["folded"] == 99 and summary.body["counts"] == {"recovered": 50, "unhealthy": 49}
        assert "hunter2" not in json.dumps(summary.body)
        await dispatcher.aclose()
        assert len(receiver.requests) == 2
        assert [json.loads(line)["event"] for line in out.read_text().splitlines()] == ["unhealthy", "recovered"]


async def test_offer_never_waits_for_a_slow_destination_and_failures_are_logged():
    async with Receiver(status=500, delay=1.0) as receiver:
        logged: list[str] = []
        dispatcher = AlertDispatcher(resolved(receiver.url(), timeout="5s", dedup="0s"), stack="robo",
                                     log=logged.append, queue_size=2)
        dispatcher.start()
        for service in ("a", "b", "c", "d", "e"):  # no await in between: the loop never ran the sender
            dispatcher.offer(supervisor_event(service, "gave-up", "crash loop"))
        assert dispatcher.dropped == 3 and dispatcher.deliveries == []
        assert logged == ["alert queue full (2): dropped the oldest alert"] * 3
        await receiver.wait_for(2)
        await dispatcher.aclose()
        assert [request.body["service"] for request in receiver.requests] == ["d", "e"]
        assert logged[3:] == [f"gave-up alert for {service} not delivered: POST http://127.0.0.1:{receiver.port}/***: "
                              f"HTTP 500 in {delivery.detail.rsplit(' in ', 1)[1]}"
                              for service, (_, delivery) in zip("de", dispatcher.deliveries)]
