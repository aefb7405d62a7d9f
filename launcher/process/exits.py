"""Waiting for processes that are not (necessarily) our children to exit, with a deadline.

With pidfds the wait is event-driven: a pidfd becomes readable when its process exits
(turns into a zombie), so the event loop wakes exactly then. Without them the fallback
re-checks every few milliseconds until the deadline; it is a condition with a deadline,
never a sleep standing in for synchronisation.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Iterable

from launcher.process.identity import ProcessIdentity, is_alive, open_verified_pidfd, pidfds_supported

# How often the fallback (no pidfds) re-checks. Short, because a stop waits on it.
FALLBACK_POLL_INTERVAL = 0.01


async def wait_for_exits(identities: Iterable[ProcessIdentity], timeout: float) -> list[ProcessIdentity]:
    """Wait until every process in `identities` has exited or `timeout` seconds pass.

    A zombie counts as exited, and so does a pid now owned by another process.
    Returns the identities still running when the wait ended (empty if all exited).
    """
    pending = [identity for identity in identities if is_alive(identity)]
    if not pending:
        return []
    if pidfds_supported():
        return await _wait_with_pidfds(pending, max(0.0, timeout))
    return await _wait_by_polling(pending, max(0.0, timeout))


async def _wait_with_pidfds(identities: list[ProcessIdentity], timeout: float) -> list[ProcessIdentity]:
    loop = asyncio.get_running_loop()
    descriptors: dict[int, ProcessIdentity] = {}
    exited: set[int] = set()
    all_exited = asyncio.Event()

    def on_exit(descriptor: int) -> None:
        loop.remove_reader(descriptor)
        exited.add(descriptor)
        if len(exited) == len(descriptors):
            all_exited.set()

    try:
        for identity in identities:
            descriptor = open_verified_pidfd(identity)
            if descriptor is not None:
                descriptors[descriptor] = identity
        if not descriptors:
            return []
        for descriptor in descriptors:
            loop.add_reader(descriptor, on_exit, descriptor)
        try:
            await asyncio.wait_for(all_exited.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return [identity for descriptor, identity in descriptors.items() if descriptor not in exited]
    finally:
        for descriptor in descriptors:
            if descriptor not in exited:
                loop.remove_reader(descriptor)
            os.close(descriptor)


async def _wait_by_polling(identities: list[ProcessIdentity], timeout: float) -> list[ProcessIdentity]:
    deadline = time.monotonic() + timeout
    pending = identities
    while True:
        pending = [identity for identity in pending if is_alive(identity)]
        if not pending or time.monotonic() >= deadline:
            return pending
        await asyncio.sleep(FALLBACK_POLL_INTERVAL)
