"""The log writer: one small process per service start, between the service's pipe and its log file.

It reads whatever the service wrote (stdout and stderr share one pipe, so their
order is kept), puts the time of the read in front of every line (see
``format``), appends to the run's current file and rotates it past ``max_size``
(see ``files``). It is the only reader of the pipe and it never stops reading:

* SIGTERM, SIGINT and SIGHUP are ignored. It ends when the pipe does: once the
  service and every descendant holding the pipe have exited, it writes what is
  left and exits, so a stopped service's last lines are in the file.
* When a write fails (``ENOSPC``, ``EDQUOT``, ``EIO``...), it keeps reading and
  counts the lines it has to drop instead of blocking the service; it tries
  again every :data:`RETRY_EVERY` seconds and, once a write succeeds, first
  writes ``--- robostack: N lines lost: No space left on device``. Meanwhile its
  status record (``status``) says so, for the supervisor, ``status`` and ``doctor``.
* A line without its newline yet (a prompt) is written after
  :data:`FLUSH_PARTIAL_AFTER` seconds of quiet and completed when the rest comes.
* Several writers may append to one file (a restarted service while a child of
  the previous start still writes): rotation takes an ``flock`` on the file,
  checks it is still the current one, and a writer that finds the file renamed
  under it moves on to the new one; nothing written to the renamed file is lost.

Run by :mod:`launcher.logwriter.launch` as ``python -I -S -c ...`` with only the
standard library imported, so it starts in milliseconds and stays small. Its
environment holds nothing of the service's but ``ROBOSTACK_RUN``, the run token
by which ``down`` recognises the processes of a run.
"""

from __future__ import annotations

import fcntl
import os
import select
import time

try:  # the C module: `signal` itself imports enum, a third of the writer's start-up
    import _signal as signals
except ImportError:  # pragma: no cover - every CPython has it
    import signal as signals  # type: ignore[no-redef]

from launcher.logwriter import files, status
from launcher.logwriter.format import LAUNCHER_MARK, Stamper, stamp_lines

READ_SIZE = 256 * 1024
MAX_LINE = 64 * 1024  # a longer line is cut into lines of this size (each stamped)
FLUSH_PARTIAL_AFTER = 0.2
RETRY_EVERY = 0.25
CHECK_FILE_EVERY = 1.0  # seconds between checks that the current file was not renamed or removed by another
STATUS_EVERY = 1.0  # seconds between status updates while lines are being dropped


class LogWriter:
    """The writer's state; :meth:`take` each read, :meth:`flush_partial` when idle, :meth:`finish` at the end."""

    def __init__(self, path: str, *, max_size: int, keep: int, service: str, clock=time.time) -> None:
        self.path = os.path.abspath(path)
        self.max_size, self.keep, self.service = max_size, keep, service
        self.clock = clock
        self.stamp = Stamper()
        self.fd: int | None = None
        self.identity: tuple[int, int] | None = None
        self.size = 0
        self.mid_line = False  # the file ends inside a line we wrote (a partial flushed while idle)
        self.partial = b""
        self.partial_stamp = b""
        self.read_at = 0.0  # when the last read happened
        self.failure: OSError | None = None
        self.failing_since: float | None = None
        self.dropping = 0  # lines dropped since the current failure began
        self.lost = 0  # lines lost in this run's log, every start together
        self.retry_at = 0.0
        self.checked_at = 0.0
        self.status_fd: int | None = None
        self.status_at = 0.0
        self.state = status.WRITING

    # --- setting up -------------------------------------------------------------------------
    def open(self) -> None:
        """Open (create) the current file and the status record, and apply retention once."""
        now = self.clock()
        self._open_status()
        try:
            self._open_current()
        except OSError as error:
            self._fail(error, b"", now)
        self._prune()
        self._status(now, force=True)

    def _open_current(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        info = os.fstat(fd)
        self.fd, self.identity, self.size = fd, (info.st_dev, info.st_ino), info.st_size

    def _open_status(self) -> None:
        path = files.status_path(self.path)
        self.lost = status.lost_so_far(path)
        try:
            self.status_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError:
            self.status_fd = None  # a full disk before we started: the log itself will say what was lost

    # --- reading ----------------------------------------------------------------------------
    def take(self, data: bytes) -> None:
        """Everything read from the pipe in one read: stamp its complete lines and write them."""
        now = self.read_at = self.clock()
        stamp = self.stamp(now)
        pieces = []
        continuing = self.mid_line and self.failure is None  # a flushed partial line waits for its rest
        if self.partial or continuing:
            end = data.find(b"\n")
            if end < 0:
                self._hold(data, stamp, now)
                return
            head, data = data[: end + 1], data[end + 1:]
            # The rest of a line already in the file gets no second stamp (partial_stamp is empty then).
            first, _, more = cut_long_lines(self.partial + head).partition(b"\n")
            pieces.append((self.partial_stamp if self.partial else b"") + first + b"\n")
            if more:
                pieces.append(stamp_lines(more, stamp))
            self.partial = b""
        cut = data.rfind(b"\n") + 1
        if cut:
            pieces.append(stamp_lines(cut_long_lines(data[:cut]), stamp))
        rest = data[cut:]
        if pieces:
            self.write(b"".join(pieces), now)
        if rest:
            self._hold(rest, stamp, now)

    def _hold(self, data: bytes, stamp: bytes, now: float) -> None:
        """Keep an incomplete line until its newline comes; a line past MAX_LINE is cut."""
        if not self.partial:
            # The rest of a line already in the file gets no second stamp.
            self.partial_stamp = b"" if self.mid_line and self.failure is None else stamp
        self.partial += data
        while len(self.partial) >= MAX_LINE:
            piece, self.partial = self.partial[:MAX_LINE], self.partial[MAX_LINE:]
            self.write(self.partial_stamp + piece + b"\n", now)
            self.partial_stamp = stamp

    def idle_timeout(self) -> float | None:
        """Seconds until :meth:`idle` has something to do if nothing is read meanwhile (None: nothing)."""
        now = self.clock()
        waits = []
        if self.partial:
            waits.append(self.read_at + FLUSH_PARTIAL_AFTER - now)
        if self.failure is not None:
            waits.append(self.retry_at - now)
        return max(0.0, min(waits)) if waits else None

    def idle(self) -> None:
        """Nothing came for a while: write a waiting partial line, and try writing again after a failure.

        Retrying while the service is quiet says as soon as possible that space is back
        (the lost-lines line, the status record), not only when its next line comes.
        """
        now = self.clock()
        if self.partial and now >= self.read_at + FLUSH_PARTIAL_AFTER:
            self.flush_partial()
        if self.failure is not None and now >= self.retry_at:
            self._recover(now)

    def flush_partial(self) -> None:
        """Write the incomplete line as it is (the service went quiet: a prompt, or a "ready" without newline)."""
        if self.partial:
            data, self.partial = self.partial_stamp + self.partial, b""
            self.write(data, self.clock())

    def finish(self) -> None:
        """The pipe has ended: write what is left, say so in the status record, close."""
        now = self.clock()
        if self.partial:
            data, self.partial = self.partial_stamp + self.partial + b"\n", b""
            self.write(data, now)
        elif self.mid_line:
            self.write(b"\n", now)
        if self.failure is not None:
            self._recover(now)
        self.state = status.STOPPED
        self._status(now, force=True)
        for fd in (self.fd, self.status_fd):
            if fd is not None:
                os.close(fd)
        self.fd = self.status_fd = None

    # --- writing ----------------------------------------------------------------------------
    def write(self, block: bytes, now: float) -> None:
        """Append `block`; while writes fail, drop it (counted) unless it is time to try again."""
        if self.failure is not None:
            if now < self.retry_at or not self._recover(now):
                self.dropping += block.count(b"\n")
                self._status(now)
                return
        elif now >= self.checked_at + CHECK_FILE_EVERY:
            self._follow_current(now)
        while True:
            room = self.max_size - self.size
            if len(block) <= room or self.mid_line:  # the rest of a line in the file must go there too
                if self._append(block, now) and self.size >= self.max_size and not self.mid_line:
                    self._rotate(now)
                return
            # Fill the file with whole lines, then rotate: a file exceeds max_size only by a longer single line.
            cut = block.rfind(b"\n", 0, room) + 1
            if cut == 0 and self.size == 0:
                cut = block.find(b"\n") + 1 or len(block)
            if cut:
                if not self._append(block[:cut], now):
                    self.dropping += block[cut:].count(b"\n")
                    return
                block = block[cut:]
                if not block:
                    return
            if not self._rotate(now):
                self._append(block, now)  # no new file for now: keep appending to this one
                return

    def _append(self, block: bytes, now: float, *, counts: bool = True) -> bool:
        written = 0
        try:
            if self.fd is None:
                self._open_current()
            view = memoryview(block)
            while written < len(block):
                written += os.write(self.fd, view[written:])
        except OSError as error:
            if written:
                written = self._cut_back_to_a_line(block, written)
            self._fail(error, block[written:] if counts else b"", now)
            return False
        self.size += len(block)
        self.mid_line = block[-1] != 10
        return True

    def _cut_back_to_a_line(self, block: bytes, written: int) -> int:
        """After a short write, take the half line back out of the file (so it holds whole lines only).

        Only if nobody else appended meanwhile; returns how much of `block` stays written.
        """
        keep = block.rfind(b"\n", 0, written) + 1
        try:
            if keep < written and os.fstat(self.fd).st_size == self.size + written:
                os.ftruncate(self.fd, self.size + keep)
                written = keep
        except OSError:
            pass
        self.size += written
        self.mid_line = written > 0 and block[written - 1] != 10
        return written

    def _fail(self, error: OSError, unwritten: bytes, now: float) -> None:
        if self.failure is None:
            self.failure, self.failing_since, self.dropping = error, now, 0
            self.state = status.FAILING
        self.dropping += unwritten.count(b"\n")
        self.retry_at = now + RETRY_EVERY
        self._status(now, force=True)

    def _recover(self, now: float) -> bool:
        """Try to write the lost-lines notice; True if it went in (the failure is over)."""
        assert self.failure is not None
        reason = (self.failure.strerror or str(self.failure)).encode("utf-8", "replace")
        notice = (b"\n" if self.mid_line else b"") + self.stamp(now) + LAUNCHER_MARK
        notice += b"%d lines lost: %s\n" % (self.dropping, reason)
        if not self._append(notice, now, counts=False):
            return False
        self.lost += self.dropping
        self.failure, self.failing_since, self.dropping = None, None, 0
        self.state = status.WRITING
        self._status(now, force=True)
        return True

    def _follow_current(self, now: float) -> None:
        """Another writer rotated the file, or someone removed it: continue in the current file."""
        self.checked_at = now
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self.identity:
                return
        except OSError:
            pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _rotate(self, now: float) -> bool:
        """Rename the current file to the next part and start a new one (holding the file's flock); False if not."""
        old_fd, old_identity = self.fd, self.identity
        assert old_fd is not None
        renamed_to = None
        try:
            fcntl.flock(old_fd, fcntl.LOCK_EX)
            try:
                info = os.stat(self.path)
                if (info.st_dev, info.st_ino) == old_identity:
                    renamed_to = files.part_path(self.path, files.next_part_number(self.path))
                    os.rename(self.path, renamed_to)
            except FileNotFoundError:
                pass
            self._open_current()
        except OSError:
            # Could not start a new file: keep appending to the old one and try again later.
            self.fd, self.identity = old_fd, old_identity
            self.size = self.max_size - max(1, self.max_size // 100)
            return False
        os.close(old_fd)  # also releases the flock
        self.checked_at = now
        if renamed_to is not None:
            note = b"%s log continued from %s\n" % (self.service.encode(), os.path.basename(renamed_to).encode())
            self._append(self.stamp(now) + LAUNCHER_MARK + note, now, counts=False)
        self._prune()
        return True

    def _prune(self) -> None:
        for path in files.files_to_prune(os.path.dirname(self.path), self.keep, {self.path}):
            try:
                os.unlink(path)
            except OSError:
                pass

    def _status(self, now: float, *, force: bool = False) -> None:
        if self.status_fd is None or (not force and now < self.status_at + STATUS_EVERY):
            return
        self.status_at = now
        failure = self.failure
        record = {"pid": os.getpid(), "service": self.service, "state": self.state,
                  "error": (failure.strerror or str(failure)) if failure else None,
                  "errno": failure.errno if failure else None, "since": self.failing_since,
                  "dropping": self.dropping, "lost": self.lost + self.dropping, "file": self.path,
                  "updated": round(now, 3)}
        try:
            os.pwrite(self.status_fd, status.encode_record(record), 0)
        except OSError:
            pass


def cut_long_lines(block: bytes) -> bytes:
    """`block` (complete lines) with every line longer than MAX_LINE cut into lines of MAX_LINE bytes."""
    if len(block) <= MAX_LINE + 1:
        return block
    lines = block.split(b"\n")
    if max(map(len, lines)) <= MAX_LINE:
        return block
    cut = []
    for line in lines:
        while len(line) > MAX_LINE:
            cut.append(line[:MAX_LINE])
            line = line[MAX_LINE:]
        cut.append(line)
    return b"\n".join(cut)


def run(writer: LogWriter, source: int = 0) -> None:
    """Read `source` until its end, feeding `writer`; while nothing comes, let it do what waits on time."""
    poller = select.poll()
    poller.register(source, select.POLLIN)
    while True:
        wait = writer.idle_timeout()
        if wait is not None and not poller.poll(wait * 1000):
            writer.idle()
            continue
        data = os.read(source, READ_SIZE)
        if not data:
            break
        writer.take(data)
    writer.finish()


def drain(source: int = 0) -> None:
    """Read to the end and discard: after a bug in the writer the service must still never block."""
    try:
        while os.read(source, READ_SIZE):
            pass
    except OSError:
        pass


def main() -> None:
    """The writer process: settings from its environment (see ``launch``), the service's pipe on stdin."""
    for number in (signals.SIGTERM, signals.SIGINT, signals.SIGHUP):
        signals.signal(number, signals.SIG_IGN)
    environ = os.environ
    service, path = environ["ROBOSTACK_LOG_WRITER"], environ["ROBOSTACK_LOG_FILE"]
    max_size, keep = int(environ["ROBOSTACK_LOG_MAX_SIZE"]), int(environ["ROBOSTACK_LOG_KEEP"])
    writer = LogWriter(path, max_size=max_size, keep=keep, service=service)
    try:
        writer.open()
        run(writer)
    except Exception as error:  # a bug here must not block or kill the service: say it, then drain
        try:
            note = b"log writer failed: %s: %s\n" % (type(error).__name__.encode(), str(error).encode("utf-8", "replace"))
            fd = os.open(writer.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            os.write(fd, b"\n" + writer.stamp(time.time()) + LAUNCHER_MARK + note)
            os.close(fd)
        except Exception:
            pass
        drain()
