"""The registry covers every kind; run_probe dispatches on the stack file's health section; the guard holds."""

from __future__ import annotations

import asyncio
import socket

from launcher.probes.base import ProbeContext, ProbeResult, bounded_probe, format_seconds, run_probe
from launcher.probes.registry import PROBES
from launcher.stack.model import PROBE_KINDS, Health


def test_every_kind_has_a_probe():
    assert sorted(PROBES) == sorted(PROBE_KINDS)
    assert all(PROBES[kind].__name__ == f"probe_{kind}" for kind in PROBE_KINDS)


async def test_run_probe_uses_the_configured_kind_and_timeout(context):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        health = Health.model_validate({"tcp": {"port": listener.getsockname()[1]}, "timeout": "2s"})
        result = await run_probe(health, context)
    assert result.ok and result.kind == "tcp"


async def test_guard_turns_a_crash_into_an_unhealthy_result(context):
    @bounded_probe("demo")
    async def probe_demo(check: object, timeout: float, context: ProbeContext) -> ProbeResult:
        raise RuntimeError("socket table unreadable")

    result = await probe_demo(None, 1.0, context)
    assert not result.ok and result.detail == "demo probe error: RuntimeError: socket table unreadable"


async def test_guard_cancels_a_probe_that_overruns(context, monkeypatch):
    monkeypatch.setattr("launcher.probes.base.OVERRUN_MARGIN", 0.05)
    cancelled = asyncio.Event()

    @bounded_probe("demo")
    async def probe_demo(check: object, timeout: float, context: ProbeContext) -> ProbeResult:
        try:
            await asyncio.Event().wait()  # never set: a probe that forgot its own deadline
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    result = await probe_demo(None, 0.05, context)
    assert not result.ok and result.detail == "demo probe did not finish within 0.05s"
    assert cancelled.is_set()


def test_format_seconds():
    assert [format_seconds(s) for s in (0.00042, 0.0031, 0.25, 2.0, 1.5, 90.0)] == [
        "0.4ms", "3.1ms", "250ms", "2s", "1.5s", "90s"]
