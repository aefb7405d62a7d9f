"""Dashboard: how fast the page loads with the default stack up, and what live pages cost the supervisor.

A copy of the default stack (stack.yaml on free ports, its `http:` section included) runs under
robostack; its supervisor serves the dashboard and the API itself (the URL comes from
`robostack dashboard`, which reads it from run.json), and Debian's headless Chromium reads it
(bench/browser.py).

* **Page load**: a fresh navigation to ``/`` (nothing cached: every answer is no-store),
  timed by the browser's Navigation Timing: until the load event (HTML, script, style),
  until the first live status from the event stream (a ``robostack:status`` mark the page
  sets) and until every symbol shows a quote from the WebSocket feed (``robostack:quotes``).
  Baseline, same browser, same run: navigating to the server's ``/healthz`` (one small JSON
  answer, no script).
* **CPU of live updates**: CPU time (user + system) of the supervisor over a window, as % of
  one core, with no page open (the idle baseline: the supervisor probing its services), one
  page, then five pages (five tabs of one browser, timers not throttled), each left live for
  the window, then with no page open again (the baseline is the mean of both idle windows). The WebSocket server (which feeds the pages their quotes directly) is measured in
  the same windows. Issue 15's target: live updates cost the supervisor under 1 % of a core.
"""

from __future__ import annotations

import re
import time

from bench.browser import Browser, missing
from bench.bench_footprint import cpu_seconds, own_processes
from bench.core import Section, Settings, median, notes, ratio, runs_note, seconds, spread
from bench.default_stack import DefaultStack, check_runner
from bench.ledger import Ledger, wait_for
from bench.managers import BenchError, Robostack

CPU_TARGET_PERCENT = 1.0
PAGES = (1, 5)

_MARKS = """
const nav = performance.getEntriesByType('navigation')[0];
const mark = (name) => (performance.getEntriesByName(name)[0] || {}).startTime;
return nav && nav.loadEventEnd > 0 ? [nav.responseEnd, nav.loadEventEnd, mark('robostack:status'),
                                      mark('robostack:quotes')] : null;
"""


def served_url(robostack: Robostack) -> str:
    """The URL the stack's supervisor serves the dashboard at (`robostack dashboard`, from run.json)."""
    result = robostack.cli("dashboard", "--no-browser")
    url = result.stdout.strip()
    if result.returncode != 0 or not re.fullmatch(r"http://127\.0\.0\.1:\d+/", url):
        raise BenchError(f"robostack dashboard printed no URL: {(result.stdout + result.stderr)[-300:]}")
    return url


def load_once(browser: Browser, url: str, *, page: bool) -> tuple[float, ...] | None:
    """Navigate afresh; (response end, load end[, live status, every quote]) in seconds, or None on timeout."""
    browser.driver.get("about:blank")
    browser.driver.get(url)
    wanted = 4 if page else 2
    marks = wait_for(lambda: (m := browser.script(_MARKS)) and all(v is not None for v in m[:wanted]) and m,
                     timeout=30, poll=0.02)
    return tuple(value / 1000 for value in marks[:wanted]) if marks else None


def measure_loads(section: Section, browser: Browser, url: str, runs: int) -> None:
    baseline = [load_once(browser, url + "healthz", page=False) for _ in range(runs)]
    loads = [load_once(browser, url, page=True) for _ in range(runs)]
    base = [b[1] for b in baseline if b]
    for index, what in ((1, "page load (navigation to load event)"), (2, "page → first live status (event stream)"),
                        (3, "page → a quote for every symbol (WebSocket feed)")):
        values = [load[index] for load in loads if load]
        section.add(what, seconds(median(values)), f"/healthz {seconds(median(base))}" if index == 1 else "",
                    ratio(median(values), median(base)) if index == 1 else "",
                    notes(runs_note(len(values)), spread(values), f"{runs - len(values)} timed out" if len(values) < runs else ""))


def cpu_window(pids: dict[str, int], window: float) -> dict[str, float]:
    """% of one core each process (and its own group's children) used over `window` seconds."""
    processes = {name: own_processes(pid) for name, pid in pids.items()}
    start = {name: cpu_seconds(found) for name, found in processes.items()}
    began = time.monotonic()
    time.sleep(window)  # the measurement window itself
    elapsed = time.monotonic() - began
    return {name: 100 * (cpu_seconds(found) - start[name]) / elapsed for name, found in processes.items()}


def open_pages(browser: Browser, url: str, count: int) -> None:
    """Have `count` tabs showing the live page (the first reuses the current tab)."""
    handles = browser.driver.window_handles
    for index in range(count):
        if index < len(handles):
            browser.driver.switch_to.window(handles[index])
        else:
            browser.driver.switch_to.new_window("tab")
        if browser.driver.current_url != url:
            browser.driver.get(url)
        if not wait_for(lambda: browser.script("return !!(window.robostack && window.robostack.allQuoted)"),
                        timeout=60, poll=0.05):
            shown = browser.script("const m = window.robostack || {}; return {status: !!m.status, stack: m.stackLive, "
                                   "feed: m.feedLive, quoted: Object.keys(m.quotes || {}), url: location.href}")
            raise BenchError(f"page {index + 1} never showed quotes for every symbol: {shown}; "
                             f"console: {browser.console_errors()[-3:]}")


def ticks_shown(browser: Browser) -> list[int]:
    counts = []
    for handle in browser.driver.window_handles:
        browser.driver.switch_to.window(handle)
        counts.append(browser.script("return Object.values(window.robostack.quotes).reduce((n, q) => n + q.ticks, 0)"))
    return counts


def close_pages(browser: Browser) -> None:
    """Every tab but the first closed, the first on about:blank: no page open any more."""
    handles = browser.driver.window_handles
    for handle in handles[1:]:
        browser.driver.switch_to.window(handle)
        browser.driver.close()
    browser.driver.switch_to.window(handles[0])
    browser.driver.get("about:blank")


def measure_cpu(section: Section, browser: Browser, url: str, pids: dict[str, int], window: float) -> None:
    """Idle, one page, five pages, idle again; the baseline is the mean of the two idle windows (the
    supervisor's own probing varies a little over minutes on a shared machine)."""
    browser.driver.get("about:blank")
    idle_before = cpu_window(pids, window)
    results = {}
    for count in PAGES:
        open_pages(browser, url, count)
        before = ticks_shown(browser)
        results[count] = cpu_window(pids, window)
        after = ticks_shown(browser)
        if not all(b > a for a, b in zip(before, after)):
            raise BenchError(f"with {count} pages, a page stopped updating during the window ({before} -> {after})")
    close_pages(browser)
    idle_after = cpu_window(pids, window)
    for name in pids:
        base = (idle_before[name] + idle_after[name]) / 2
        section.add(f"{name} CPU, no page open (baseline)", f"{base:.2f} %",
                    note=f"mean of two {window:g} s windows, before ({idle_before[name]:.2f} %) and after "
                         f"({idle_after[name]:.2f} %) the pages")
        for count in PAGES:
            value = results[count][name]
            added = value - base
            target = f", target < {CPU_TARGET_PERCENT:g} %" if name == "supervisor" else ""
            section.add(f"{name} CPU, {count} live page{'s' if count > 1 else ''}", f"{value:.2f} %", f"{base:.2f} %",
                        f"{added:+.2f} % of a core", note=f"{window:g} s window{target}")


def run(settings: Settings, ledger: Ledger) -> Section:
    window = settings.pick(30.0, 3.0)
    runs = settings.runs(10)
    section = Section("dashboard", "Dashboard: page load and the CPU cost of live pages (default stack)",
                      reproduce="python -m bench --only dashboard")
    reason = missing() or check_runner(ledger)
    if reason:
        section.add("dashboard", "not measured", note=reason)
        return section
    robostack = Robostack(ledger, ledger.temporary_directory("bench-dashboard-"), [],
                          document=DefaultStack().robostack_document())
    browser = None
    try:
        robostack.up()
        url = served_url(robostack)
        status = robostack.status()
        pids = {"supervisor": int(status["supervisor_pid"]),
                "websocket server": next(s["pid"] for s in status["services"] if s["name"] == "websocket")}
        browser = Browser()
        measure_loads(section, browser, url, runs)
        measure_cpu(section, browser, url, pids, window)
    finally:
        if browser is not None:
            browser.close()
        robostack.stop(60)
    return section
