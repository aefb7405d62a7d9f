"""A configurable service for launcher tests: a real process that behaves as asked.

    python service_program.py --name a --journal FILE [--ready-after S] [--port P]
        [--ignore-term] [--journal-term] [--grandchildren N] [--exit-after S --exit-code C] [--print-ready]

It appends `<event> <name> <monotonic time> <pid>` lines to the journal (start,
ready) so tests can check the order in which services started, and can ignore
SIGTERM and fork grandchildren that ignore it too, like a badly behaved trader.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time


def journal(path: str | None, event: str, name: str) -> None:
    if path:
        with open(path, "a") as handle:
            handle.write(f"{event} {name} {time.monotonic():.6f} {os.getpid()}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="service")
    parser.add_argument("--journal")
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--port", type=int)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--grandchildren", type=int, default=0)
    parser.add_argument("--exit-after", type=float)
    parser.add_argument("--exit-code", type=int, default=3)
    parser.add_argument("--print-ready", action="store_true")
    parser.add_argument("--notify-then-hang", action="store_true",
                        help="send READY=1 and one WATCHDOG=1 on NOTIFY_SOCKET, then stay alive but silent")
    parser.add_argument("--escape", action="store_true",
                        help="leave a grandchild in its own session (setsid) whose parent exits: an orphan")
    parser.add_argument("--crash-on-restart", metavar="MARKER",
                        help="become ready the first time (creating MARKER); every later start exits 3 at once")
    parser.add_argument("--journal-term", action="store_true",
                        help="journal a 'term' line when SIGTERM arrives (then exit 0, or go on with --ignore-term)")
    args = parser.parse_args()
    journal(args.journal, "start", args.name)
    if args.journal_term:
        def on_term(signum, frame):
            journal(args.journal, "term", args.name)
            if not args.ignore_term:
                sys.exit(0)

        signal.signal(signal.SIGTERM, on_term)
    if args.crash_on_restart:
        if os.path.exists(args.crash_on_restart):
            print(f"{args.name}: crashing at once", flush=True)
            sys.exit(3)
        open(args.crash_on_restart, "w").close()
    if args.ignore_term and not args.journal_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.escape:
        child = os.fork()
        if child == 0:
            if os.fork() == 0:
                os.setsid()
                journal(args.journal, "escaped", args.name)
                while True:
                    time.sleep(3600)
            os._exit(0)
        os.waitpid(child, 0)
    for _ in range(args.grandchildren):
        if os.fork() == 0:
            # Both generations ignore SIGTERM (inherited disposition) and outlive their parent if allowed.
            if os.fork() == 0:
                while True:
                    time.sleep(3600)
            while True:
                time.sleep(3600)
    if args.exit_after is not None:
        time.sleep(args.exit_after)
        print(f"{args.name}: exiting with code {args.exit_code}", flush=True)
        sys.exit(args.exit_code)
    time.sleep(args.ready_after)  # the service's own start-up time, not a synchronisation
    # Journal first, then listen: whoever sees the port open may rely on the "ready" line being there.
    journal(args.journal, "ready", args.name)
    listener = None
    if args.port:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.port))
        listener.listen()
    if args.print_ready:
        print(f"{args.name} is ready", flush=True)
    if args.notify_then_hang:
        from stackkit.notify import Notifier

        notifier = Notifier.from_environment()
        notifier.ready(f"{args.name} ready")
        notifier.watchdog()  # and never again: the event loop of a real service would be stuck here
    while True:
        if listener is not None:
            connection, _ = listener.accept()
            connection.close()
        else:
            time.sleep(3600)


if __name__ == "__main__":
    main()
