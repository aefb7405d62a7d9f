"""`robostack dashboard`: open the stack's dashboard in a browser, or print its URL.

The URL is the one the running supervisor recorded in run.json when it bound its port.
`--serve` serves the dashboard and the HTTP API from this process instead, reading the
state directory (like `status` and `events`), until Ctrl-C: for a stack whose supervisor
does not serve them (no `http:` section), or to look at a stack from a second port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
import webbrowser
from typing import Mapping

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_OK, NotRunningError, UsageError
from launcher.stack.model import HttpSettings
from launcher.stack.resolved import ResolvedStack
from launcher.state.interpret import live_supervisor
from launcher.state.paths import StatePaths
from launcher.state.store import read_run_state
from launcher.web.server import HttpServer, http_url, listen
from launcher.web.statedir import StateDirView

REACH_TIMEOUT = 2.0


def served_url(stack: ResolvedStack, paths: StatePaths) -> str:
    """The URL the stack's live supervisor serves the dashboard at, as it recorded it in run.json
    (the port it bound: also right with `http.port: 0`)."""
    state = read_run_state(paths)
    alive = state is not None and live_supervisor(paths, state) is not None
    if alive and state.http_url:
        return state.http_url
    if stack.http is None:
        raise UsageError("this stack serves no dashboard: add `http: {port: 8790}` to the stack file "
                         "(then restart the stack), or run `robostack dashboard --serve`")
    if not alive:
        raise NotRunningError(f"stack '{stack.name}' is not running, so nothing serves its dashboard: start it "
                              "with `robostack up` (or show its last state with `robostack dashboard --serve`)")
    raise NotRunningError(f"the running supervisor (pid {state.supervisor_pid}) serves no dashboard: it was started "
                          "before the stack file had `http:`; restart the stack (`robostack down`, `robostack up`) "
                          "or run `robostack dashboard --serve`")


def has_browser(environ: Mapping[str, str]) -> bool:
    """A graphical session, or a browser chosen explicitly with $BROWSER; never a text browser by chance
    (webbrowser would start lynx in this terminal on a VPS)."""
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") or environ.get("BROWSER"))


def show(url: str, *, open_browser: bool) -> None:
    """Open `url` in a browser when there is one; always print it (on stdout, alone, for scripts)."""
    print(url, flush=True)
    if open_browser and has_browser(os.environ) and webbrowser.open(url):
        print("robostack: opened in your browser", file=sys.stderr, flush=True)


def run_dashboard(ctx: CommandContext, *, serve: bool, port: int | None, open_browser: bool) -> int:
    stack = ctx.load()
    if serve:
        return _serve(ctx, stack, port, open_browser)
    url = served_url(stack, ctx.paths()) if port is None else http_url((stack.http or HttpSettings()).host, port)
    _check_answers(url)
    show(url, open_browser=open_browser)
    return EXIT_OK


def _check_answers(url: str) -> None:
    try:
        with urllib.request.urlopen(url + "healthz", timeout=REACH_TIMEOUT) as reply:
            json.loads(reply.read())
    except urllib.error.HTTPError:
        return  # it answers (503: the supervisor is gone, and the page says so)
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise NotRunningError(f"nothing answers at {url} ({reason}): is the stack up? (`robostack up`; "
                              "or serve the dashboard from here with `robostack dashboard --serve`)") from err


def _serve(ctx: CommandContext, stack: ResolvedStack, port: int | None, open_browser: bool) -> int:
    settings = stack.http or HttpSettings()
    chosen = settings.port if port is None else port
    logging.basicConfig(level=logging.WARNING, format="robostack: %(message)s")

    async def main() -> None:
        view = StateDirView(stack, ctx.paths())
        server = HttpServer(view, settings.host, chosen)
        await listen(server, "serve on another with `robostack dashboard --serve --port N` (0: any)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        try:
            show(server.url, open_browser=open_browser)
            print(f"robostack: serving stack '{stack.name}' from {view.paths.root}; Ctrl-C stops",
                  file=sys.stderr, flush=True)
            await stop.wait()
        finally:
            await server.close()
            view.close()

    asyncio.run(main())
    return EXIT_OK
