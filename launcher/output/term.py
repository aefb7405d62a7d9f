"""Plain terminal output for the commands typed many times a day (`status`, `ps`, `ls`, `events`, `down`, `wait`).

No rich here: these commands must start in a few tens of milliseconds, and what they
print is lines and one small table. The rules every command follows (rich-based ones
through :func:`launcher.commands.context.CommandContext.console` too):

* colours only on a terminal, never with ``--no-color`` or ``NO_COLOR`` set to anything
  (https://no-color.org);
* never cut to a width when the output is not a terminal (a pipe, a file, cron): the
  terminal's width applies only to a terminal;
* a reader that went away (``| head``) mutes the output instead of ending the command,
  so its exit code says what it did, not that the pipe closed.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Mapping, TextIO

# The few styles robostack uses, as SGR codes (the names are rich's, so one style table serves both).
_SGR = {"green": "32", "yellow": "33", "red": "31", "bold red": "1;31", "dim": "2", "cyan": "36", "magenta": "35",
        "bold": "1", "white": "37", "bold green": "1;32"}


def colour_wanted(output: TextIO, no_color: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and neither with --no-color nor with NO_COLOR set to anything."""
    environ = os.environ if environ is None else environ
    if no_color or environ.get("NO_COLOR"):
        return False
    return is_terminal(output)


def is_terminal(output: TextIO) -> bool:
    try:
        return output.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width(output: TextIO) -> int | None:
    """The terminal's columns, or None (no limit) when `output` is not a terminal."""
    if not is_terminal(output):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(output.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 100


class Out:
    """Lines to one stream, painted when colours are wanted; muted for good once its reader is gone."""

    def __init__(self, stream: TextIO, *, colour: bool):
        self.stream = stream
        self.colour = colour
        self.width = terminal_width(stream)
        self.closed = False  # the reader went away (EPIPE) or the terminal is gone (EIO)

    def paint(self, text: str, style: str | None) -> str:
        code = _SGR.get(style or "")
        return f"\x1b[{code}m{text}\x1b[0m" if code and self.colour else text

    def line(self, text: str = "", style: str | None = None) -> None:
        """Write one line (painted with `style`); a closed output drops it silently."""
        if self.closed:
            return
        try:
            self.stream.write(self.paint(text, style) + "\n")
            self.stream.flush()
        except (BrokenPipeError, OSError):
            self.mute()

    def mute(self) -> None:
        """Stop writing, and point the stream at /dev/null so the interpreter's last flush finds nothing to say."""
        self.closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass


def fit(text: str, width: int | None) -> str:
    """`text` cut to `width` columns with an ellipsis (no limit: None)."""
    if width is None or len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def table(rows: list[list[str]], *, styles: list[list[str | None]] | None = None, out: Out,
          last_width: int | None = None) -> list[str]:
    """Rows of cells as aligned lines (the first row is the header); the last column is cut to `last_width`."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [fit(row[-1], last_width)]
        if styles is not None:
            cells = [out.paint(cell, style) for cell, style in zip(cells, styles[number])]
        lines.append(" ".join(cells).rstrip())
    return lines
