"""Process identities against real processes: pid reuse is detected, zombies are not alive."""

from __future__ import annotations

import os
import signal

import psutil

from launcher.process.identity import ProcessIdentity, identify, is_alive, signal_process
from tests.helpers import wait_until


def test_identify_self_and_nothing():
    me = identify(os.getpid())
    assert me == ProcessIdentity(os.getpid(), psutil.Process().create_time())
    assert is_alive(me)
    assert identify(0) is None and identify(-5) is None


def test_wrong_create_time_is_not_alive_and_is_never_signalled(processes):
    stranger = processes.python("-c", "import time; time.sleep(600)")
    real = identify(stranger.pid)
    recorded = ProcessIdentity(stranger.pid, real.create_time - 60.0)

    assert is_alive(real)
    assert not is_alive(recorded)
    assert not signal_process(recorded, signal.SIGKILL)
    assert stranger.poll() is None and is_alive(real)

    assert signal_process(real, signal.SIGKILL)
    assert stranger.wait(timeout=30) == -signal.SIGKILL


def test_zombie_has_an_identity_but_is_not_alive(processes):
    finished = processes.python("-c", "pass")
    wait_until(lambda: psutil.Process(finished.pid).status() == psutil.STATUS_ZOMBIE, what="a zombie")
    identity = identify(finished.pid)  # not reaped yet: still identifiable

    assert identity is not None
    assert not is_alive(identity)
    finished.wait(timeout=30)
    assert identify(finished.pid) is None or not identity.same_process(identify(finished.pid))
