"""Starting and stopping one service: spawn into its log, watch its exit, stop its group."""

from __future__ import annotations

import asyncio
import signal

from launcher.probes.notify_listener import NotifyListener
from launcher.process.spawn import Spawner
from launcher.process.stop import StopReport, kill_group_now, stop_group
from launcher.state.paths import StatePaths, point_current_log
from launcher.supervise.runtime import ServiceRuntime


RUN_TOKEN_VARIABLE = "ROBOSTACK_RUN"


async def start_process(runtime: ServiceRuntime, spawner: Spawner, paths: StatePaths, run_token: str) -> None:
    """Spawn the service's command in its own session, stdout and stderr into its log.

    The log probe must not match lines from an earlier start, so the log's size
    before this start is remembered as the probe's starting offset.
    """
    service = runtime.service
    assert service.argv is not None, "external services are never spawned"
    log_path = runtime.log_path
    assert log_path is not None
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    point_current_log(paths, runtime.name, log_path)
    runtime.log_offset = log_path.stat().st_size if log_path.exists() else 0
    env = dict(service.env)
    # Inherited by every descendant: how `down` recognises one that escaped its process group.
    env[RUN_TOKEN_VARIABLE] = run_token
    health = service.health
    if health is not None and health.kind == "notify":
        if runtime.notify is None:
            runtime.notify = NotifyListener()
        runtime.notify.reset()
        env["NOTIFY_SOCKET"] = runtime.notify.address
        if health.notify.watchdog_timeout:
            env["WATCHDOG_USEC"] = str(int(health.notify.watchdog_timeout * 1_000_000))
    runtime.exited.clear()
    runtime.mark_not_healthy()
    runtime.stopping = False
    process = await spawner.spawn_service(runtime.name, service.argv, cwd=service.cwd, env=env, log_path=log_path)
    runtime.process = process
    runtime.started_at = runtime.clock.monotonic()
    record = runtime.record
    record.pid, record.pgid, record.create_time = process.pid, process.pgid, process.identity.create_time
    record.started_at = runtime.clock.now().timestamp()
    record.exit = None
    record.state = "starting"
    runtime.exit_watcher = asyncio.ensure_future(_watch_exit(runtime, process))


async def _watch_exit(runtime: ServiceRuntime, process) -> None:
    status = await process.wait()
    if runtime.process is process:
        runtime.record.exit = status.describe()
        runtime.exited.set()


async def stop_process(runtime: ServiceRuntime) -> StopReport | None:
    """Stop the service's whole process group: stop signal, grace, then SIGKILL."""
    runtime.stopping = True
    runtime.mark_not_healthy()
    process = runtime.process
    if process is None:
        return None
    spec = runtime.service.spec
    report = await stop_group(process.target, stop_signal=signal.Signals[spec.stop_signal], grace=spec.stop_grace)
    await _settle_exit(runtime)
    return report


async def kill_process_now(runtime: ServiceRuntime) -> StopReport | None:
    """SIGKILL the service's group at once (the second Ctrl-C)."""
    runtime.stopping = True
    process = runtime.process
    if process is None:
        return None
    report = await kill_group_now(process.target)
    await _settle_exit(runtime)
    return report


async def _settle_exit(runtime: ServiceRuntime) -> None:
    """Let the exit watcher record how the process ended (the process is dead or dying)."""
    watcher = runtime.exit_watcher
    if watcher is not None:
        try:
            await asyncio.wait_for(asyncio.shield(watcher), timeout=5.0)
        except asyncio.TimeoutError:
            pass


def close_runtime(runtime: ServiceRuntime) -> None:
    """Release what the runtime holds (notify socket); safe to call twice."""
    if runtime.notify is not None:
        runtime.notify.close()
        runtime.notify = None
    if runtime.exit_watcher is not None and not runtime.exit_watcher.done():
        runtime.exit_watcher.cancel()
