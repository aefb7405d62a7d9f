"""The fake services the benchmarks run under each manager (a plain script, no bench imports).

    python bench/workloads.py log-writer --lines N --report FILE [--start-fifo FIFO] [--output F] [--rate R] [--exit]
    python bench/workloads.py ready-after --seconds S --port P
    python bench/workloads.py stubborn-tree --children C --grandchildren G --report FILE

* ``log-writer`` writes N lines to stdout as fast as it can, one ``write(2)`` per line
  (what Python's ``logging.StreamHandler`` does: it flushes after every record), then an
  end marker, and records its own start and end times in FILE (a side channel, so the
  log holds only the lines). With ``--start-fifo`` it first waits until someone opens
  FIFO for writing, so the bench can start the clock once the manager has settled.
  It then waits to be stopped, so a manager sees a service that is still running (``--exit``:
  it exits). ``--output`` writes to a file it opens itself, ``--rate`` paces the lines.
* ``ready-after`` becomes ready S seconds after it starts: it listens on port P and, when
  ``NOTIFY_SOCKET`` is set, sends systemd's ``READY=1``. It then accepts and closes
  connections until stopped.
* ``stubborn-tree`` ignores SIGTERM and forks C children, each with G grandchildren,
  all ignoring SIGTERM; once all are running it writes their pids to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import time

LINE_PAYLOAD = b"the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmn"
END_MARKER = b"END-OF-LOG-WRITER"


def write_report(path: str, report: dict) -> None:
    """Write `report` as JSON atomically (tmp + rename), so a reader never sees half of it."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        json.dump(report, handle)
    os.replace(temporary, path)


def wait_forever() -> None:
    while True:
        signal.pause()


def log_writer(lines: int, report_path: str, start_fifo: str | None, output: str | None = None,
               rate: float | None = None, exit_after: bool = False) -> None:
    if start_fifo:
        os.close(os.open(start_fifo, os.O_RDONLY))  # blocks until the bench opens the other end
    fd = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if output else 1
    write = os.write
    started_wall, started = time.time(), time.perf_counter()
    if rate is None:
        for number in range(lines):
            write(fd, b"%07d %s\n" % (number, LINE_PAYLOAD))
    else:
        number = 0
        while number < lines:  # paced: every 10 ms, the lines due by now, still one write(2) each
            due = min(lines, int((time.perf_counter() - started) * rate) + 1)
            while number < due:
                write(fd, b"%07d %s\n" % (number, LINE_PAYLOAD))
                number += 1
            time.sleep(0.01)
    write(fd, END_MARKER + b"\n")
    write_seconds = time.perf_counter() - started
    write_report(report_path, {"started": started_wall, "write_seconds": write_seconds, "lines": lines})
    if not exit_after:
        wait_forever()


def notify_ready() -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def ready_after(seconds: float, port: int) -> None:
    time.sleep(seconds)  # the service's own start-up time: what a gate has to wait for
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    notify_ready()
    while True:
        connection, _ = listener.accept()
        connection.close()


def stubborn_tree(children: int, grandchildren: int, report_path: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by every fork below
    read_end, write_end = os.pipe()
    expected = children * (1 + grandchildren)
    for _ in range(children):
        if os.fork() == 0:
            os.close(read_end)
            for _ in range(grandchildren):
                if os.fork() == 0:
                    os.write(write_end, b"%d\n" % os.getpid())
                    wait_forever()
            os.write(write_end, b"%d\n" % os.getpid())
            wait_forever()
    os.close(write_end)
    pids, buffer = [os.getpid()], b""
    with os.fdopen(read_end, "rb", buffering=0) as reader:
        while len(pids) < 1 + expected:
            buffer += reader.read(4096)
            *complete, buffer = buffer.split(b"\n")
            pids += [int(pid) for pid in complete]
    write_report(report_path, {"pids": pids})
    wait_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    writer = commands.add_parser("log-writer")
    writer.add_argument("--lines", type=int, required=True)
    writer.add_argument("--report", required=True)
    writer.add_argument("--start-fifo")
    writer.add_argument("--output", help="write to this file (opened O_APPEND) instead of stdout")
    writer.add_argument("--rate", type=float, help="lines per second instead of as fast as possible")
    writer.add_argument("--exit", action="store_true", help="exit once written instead of waiting to be stopped")
    ready = commands.add_parser("ready-after")
    ready.add_argument("--seconds", type=float, required=True)
    ready.add_argument("--port", type=int, required=True)
    tree = commands.add_parser("stubborn-tree")
    tree.add_argument("--children", type=int, default=2)
    tree.add_argument("--grandchildren", type=int, default=2)
    tree.add_argument("--report", required=True)
    args = parser.parse_args()
    if args.command == "log-writer":
        log_writer(args.lines, args.report, args.start_fifo, args.output, args.rate, args.exit)
    elif args.command == "ready-after":
        ready_after(args.seconds, args.port)
    else:
        stubborn_tree(args.children, args.grandchildren, args.report)


if __name__ == "__main__":
    main()
