"""Process identities: a pid paired with its create time, so pid reuse is detected, never signalled.

A pid alone names a slot, not a process: once a process is reaped the kernel may hand
its number to a stranger. robostack records ``(pid, create time)`` for every process it
might signal later (possibly from another process, after the supervisor died) and only
acts on a pid whose create time still matches.

Signalling goes through a pidfd where the kernel has them (Linux 5.3+): the pidfd is
opened first and the create time checked afterwards, so the descriptor is known to name
the recorded process and the signal cannot land on a process that took over the pid in
between. Without pidfds the check and ``kill`` are two steps with a tiny window.

Nothing here ever signals another user's process, even when robostack runs as root:
a recorded pid (run.json can be forged), a stale match or a descendant of one whose
real uid is not the current user's is left alone. :func:`signal_process` and
:func:`signal_group` are the only places robostack sends signals to other processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# A create time is the kernel's start time in clock ticks (1/100 s, /proc/PID/stat) plus the
# boot time (/proc/stat btime), exactly as psutil computes it, read here without psutil so that
# `status` and `down` start fast (psutil is imported only where more is needed). Two readings of the same process agree exactly; a stranger reusing the
# pid would have to be born within one tick of the original, which needs the whole pid
# space to wrap in 10 ms. The tolerance only absorbs float formatting through run.json.
# The boot time is wall-clock based: if the clock is stepped between recording and
# checking, identities stop matching and robostack errs on the side of not signalling.
CREATE_TIME_TOLERANCE = 0.01


@dataclass(frozen=True)
class ProcessIdentity:
    """One specific process: its pid and the time it was created (seconds since the epoch)."""

    pid: int
    create_time: float

    def same_process(self, other: "ProcessIdentity | None") -> bool:
        """True if `other` names this very process (same pid, same create time)."""
        return (other is not None and other.pid == self.pid
                and same_create_time(other.create_time, self.create_time))

    def __str__(self) -> str:
        return f"pid {self.pid}"


def same_create_time(first: float, second: float) -> bool:
    """True if two create times belong to the same process start."""
    return abs(first - second) <= CREATE_TIME_TOLERANCE


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the process that has `pid` now, or None if there is none.

    A zombie (exited, not yet reaped) still has an identity: spawn needs it for a
    child that exits at once. Use :func:`is_alive` to ask whether it still runs.
    """
    if pid <= 0:
        return None
    found = _stat(pid)
    return ProcessIdentity(pid, found[1]) if found is not None else None


def is_alive(identity: ProcessIdentity) -> bool:
    """True if the recorded process still runs: same pid, same create time, not a zombie."""
    found = _stat(identity.pid)
    return found is not None and found[0] != "Z" and same_create_time(found[1], identity.create_time)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, float] | None:
    """(state letter, create time) of `pid` from /proc, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:  # gone (ENOENT, ESRCH) or unreadable
        return None
    fields = data[data.rfind(b")") + 2:].split()  # after "pid (comm) ": comm may hold spaces and parentheses
    try:
        return fields[0].decode(), int(fields[19]) / CLOCK_TICKS + boot_time()
    except (IndexError, ValueError):
        return None


def boot_time() -> float:
    """The boot time in epoch seconds (/proc/stat btime), read each time like psutil does."""
    with open("/proc/stat", "rb") as handle:
        for line in handle:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime line")


def pidfds_supported() -> bool:
    """True if this Python and kernel offer pidfd_open and pidfd_send_signal (found out once, on first use)."""
    global _PIDFDS_SUPPORTED
    if _PIDFDS_SUPPORTED is None:
        _PIDFDS_SUPPORTED = _probe_pidfds()
    return _PIDFDS_SUPPORTED


def open_verified_pidfd(identity: ProcessIdentity) -> int | None:
    """A pidfd for exactly the recorded process, or None if it is gone (or pidfds are missing).

    The create time is checked after the descriptor is open: if it matches then, the
    descriptor was opened on the recorded process, because a process reusing the pid
    would be younger. The caller closes the descriptor.
    """
    if not pidfds_supported():
        return None
    try:
        descriptor = os.pidfd_open(identity.pid)
    except OSError:  # ESRCH: no such pid; others: treat as gone rather than guess
        return None
    if not identity.same_process(identify(identity.pid)):
        os.close(descriptor)
        return None
    return descriptor


def owner_uid(pid: int) -> int | None:
    """The real uid of the process `pid`, or None if it is gone or unreadable."""
    import psutil

    try:
        return psutil.Process(pid).uids().real
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def is_mine(pid: int) -> bool:
    """True if `pid` runs as the current user (its real uid): the only processes robostack may signal."""
    return owner_uid(pid) == os.getuid()


def signal_process(identity: ProcessIdentity, signal_number: int) -> bool:
    """Send `signal_number` to the recorded process if it is still that process and ours; True if sent.

    Never raises for a process that is gone or belongs to someone else: those are
    simply not signalled (checked here, not left to the kernel: root may signal anyone).
    """
    if pidfds_supported():
        descriptor = open_verified_pidfd(identity)
        if descriptor is None:
            return False
        try:
            if not is_mine(identity.pid):  # checked with the pidfd open: the pid cannot name a newcomer
                return False
            import signal  # here: `status` and `down` of a stopped stack never signal

            signal.pidfd_send_signal(descriptor, signal_number)
            return True
        except OSError:  # ESRCH (exited meanwhile), EPERM (another user's process)
            return False
        finally:
            os.close(descriptor)
    if not identity.same_process(identify(identity.pid)) or not is_mine(identity.pid):
        return False
    try:
        os.kill(identity.pid, signal_number)
        return True
    except OSError:
        return False


def signal_group(pgid: int, leader: ProcessIdentity, signal_number: int) -> bool:
    """``killpg`` the group, unless its pid was reused or it holds another user's process; True if sent.

    False tells the caller to signal its members one by one through
    :func:`signal_process`, which leaves strangers alone. Only root can reach another
    user's process with killpg, so only root pays for the look at the group's owners.
    """
    holder = identify(pgid)
    if holder is not None and leader.pid == pgid and not leader.same_process(holder):
        return False
    if os.geteuid() == 0 and not _group_is_mine(pgid):
        return False
    try:
        os.killpg(pgid, signal_number)
        return True
    except ProcessLookupError:
        return True  # the group emptied meanwhile: everyone is gone, which is what we wanted
    except PermissionError:
        return False


def _group_is_mine(pgid: int) -> bool:
    """True if every live process of group `pgid` runs as the current user."""
    import psutil

    me = os.getuid()
    for process in psutil.process_iter(["uids"]):
        try:
            if os.getpgid(process.pid) != pgid:
                continue
        except OSError:
            continue
        uids = process.info.get("uids")
        if uids is None or uids.real != me:
            return False
    return True


def _probe_pidfds() -> bool:
    """Whether pidfds work here: the functions exist and the kernel accepts them (Linux 5.3+)."""
    import signal

    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        descriptor = os.pidfd_open(os.getpid())
    except OSError:
        return False
    try:
        signal.pidfd_send_signal(descriptor, 0)
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)


_PIDFDS_SUPPORTED: bool | None = None
