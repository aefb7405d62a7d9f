"""A process tree for stop tests: a leader, children, grandchildren, optionally one that escapes.

    python tests/process/tree.py --children 2 --grandchildren 2 --ignore-term --escape

Every process reports its pid to the leader through a pipe; once all have, the leader
prints one line (to stdout, which may be a log file):

    tree ready leader=100 child=101,102 grandchild=103,104,105,106 escaped=107 pgid=100

--ignore-term     every process ignores SIGTERM (SIG_IGN is inherited across fork)
--escape          the first child also forks a grandchild that calls setsid()
--release-on-usr1 that first child exits on SIGUSR1, orphaning the escaped grandchild
--fork-on-term    the leader forks one more (SIGTERM-ignoring) child when it gets SIGTERM
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def report(pipe: int, role: str) -> None:
    os.write(pipe, f"{role} {os.getpid()}\n".encode())


def idle() -> None:
    while True:
        signal.pause()


def fork(body) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid


def run_child(args: argparse.Namespace, pipe: int, first: bool) -> None:
    def grandchild() -> None:
        report(pipe, "grandchild")
        idle()

    def escaper() -> None:
        os.setsid()
        report(pipe, "escaped")
        idle()

    for _ in range(args.grandchildren):
        fork(grandchild)
    if first and args.escape:
        fork(escaper)
    releasable = first and args.release_on_usr1
    if releasable:
        # Blocked before reporting, so a SIGUSR1 sent right after "ready" is not lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    report(pipe, "child")
    if releasable:
        signal.sigwait({signal.SIGUSR1})
        return
    idle()


def expected_reports(args: argparse.Namespace) -> int:
    return args.children * (1 + args.grandchildren) + (1 if args.escape and args.children else 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--grandchildren", type=int, default=1)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--escape", action="store_true")
    parser.add_argument("--release-on-usr1", action="store_true")
    parser.add_argument("--fork-on-term", action="store_true")
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    read_end, write_end = os.pipe()
    for index in range(args.children):
        fork(lambda first=index == 0: run_child(args, write_end, first))
    roles: dict[str, list[str]] = {}
    with os.fdopen(read_end) as reports:
        for _ in range(expected_reports(args)):
            role, pid = reports.readline().split()
            roles.setdefault(role, []).append(pid)
    if args.fork_on_term:
        def on_term(signum, frame) -> None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            fork(lambda: (print(f"late child {os.getpid()}", flush=True), idle()))

        signal.signal(signal.SIGTERM, on_term)
    listed = " ".join(f"{role}={','.join(pids)}" for role, pids in sorted(roles.items()))
    print(f"tree ready leader={os.getpid()} {listed} pgid={os.getpgrp()}", flush=True)
    if args.release_on_usr1:
        os.wait()  # reap the released child, so its orphaned grandchild is re-parented elsewhere
    idle()


if __name__ == "__main__":
    sys.exit(main())
