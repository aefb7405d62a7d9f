"""The API and the dashboard against the real default stack (private ports), in a real headless Chromium.

The stack is brought up through the real CLI (`robostack up --detach`) with the real services
(Gateway simulator, WebSocket server, ib_async trader), and its own supervisor serves the page
and the API; the page is driven by Debian's chromium through Selenium. One stack and one browser
serve the whole module (CI runs it on four Pythons). Screenshots are saved under the pytest
temporary directory (its path is printed at the end).
"""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.browser import Browser, missing
from tests.helpers import REPO, port_accepts, wait_until
from tests.web.client import get
from tests.web.conftest import save_screenshot
from tests.web.live import LiveStack

SYMBOLS = ("AAPL", "NVDA", "TSLA")
SERVICES = ("gateway", "websocket", "trader")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = LiveStack(tmp_path_factory.mktemp("live-stack"))
    try:
        stack.up()
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def browser(live):
    reason = missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"no browser for the dashboard tests: {reason}")
        pytest.skip(f"no browser for the dashboard tests: {reason}")
    chromium = Browser()
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def trading_tab(browser, live):
    """A second tab left on the page from the first page test on, so the example strategy's orders (it needs
    a window of ticks and a move) gather while the other tests run; returns to the first tab."""
    first = browser.driver.current_window_handle
    browser.driver.switch_to.new_window("tab")
    browser.driver.get(live.url)
    handle = browser.driver.current_window_handle
    browser.driver.switch_to.window(first)
    return handle


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("dashboard-screenshots")


def without_moving_parts(status: dict) -> dict:
    return {**status, "services": [{k: v for k, v in s.items() if k not in ("uptime", "health", "last_event", "detail")}
                                   for s in status["services"]]}


def states(browser: Browser) -> dict[str, str]:
    return browser.script("return Object.fromEntries([...document.querySelectorAll('.node')]"
                          ".map(n => [n.dataset.service, n.dataset.state]))")


def quotes(browser: Browser) -> dict[str, tuple[int, str]]:
    rows = browser.script("return [...document.querySelectorAll('.quote')].map(q => "
                          "[q.dataset.symbol, +q.dataset.ticks, q.querySelector('.q-last').textContent])")
    return {symbol: (ticks, last) for symbol, ticks, last in rows}


def open_page(browser: Browser, live: LiveStack) -> None:
    browser.driver.get(live.url)
    wait_until(lambda: browser.script("return !!(window.robostack && window.robostack.status)"),
               what="the page's first live status")


# -- the API, served by the supervisor ----------------------------------------------------------------

def test_up_prints_the_url_the_supervisor_serves_and_dashboard_prints_it_again(live):
    assert live.printed_url == live.url
    printed = live.cli("dashboard")
    assert printed.returncode == 0 and printed.stdout == live.url + "\n", printed.stderr
    assert get(live.port, "/healthz").json() == {"status": "ok"}
    assert json.loads((live.state_dir / "run.json").read_text())["http_url"] == live.url


def test_api_status_is_what_status_json_prints(live):
    live.wait_healthy()
    wait_until(lambda: without_moving_parts(get(live.port, "/api/status").json()) == without_moving_parts(live.status()),
               what="/api/status to equal `robostack status --json`")


def test_api_events_are_the_timeline_events_json_prints(live):
    printed = [json.loads(line) for line in live.cli("events", "--json").stdout.splitlines()]
    served = get(live.port, "/api/events?since=0&limit=1000").json()["events"]
    assert served[:len(printed)] == printed and len(printed) >= 9


def test_metrics_parse_and_show_every_service_healthy(live):
    live.wait_healthy()
    families = {f.name: f for f in text_string_to_metric_families(get(live.port, "/metrics").text)}
    assert {"robostack_up", "robostack_service_state", "robostack_service_restarts", "robostack_probe_latency_seconds",
            "robostack_probe_last_timestamp_seconds", "robostack_gateway_condition", "robostack_close_wait_sockets",
            "robostack_log_bytes", "robostack_log_lines_lost", "robostack_state_write_failing",
            "robostack_state_write_errors"} <= set(families)
    healthy = {s.labels["service"]: s.value for s in families["robostack_service_healthy"].samples}
    assert healthy == {name: 1.0 for name in SERVICES}
    assert all(s.value > 0 for s in families["robostack_log_bytes"].samples)
    ports = {s.labels["port"] for s in families["robostack_close_wait_sockets"].samples}
    assert ports == {str(live.copy.port_of("gateway")), str(live.copy.port_of("websocket"))}


def test_api_logs_tail_a_service(live):
    lines = get(live.port, "/api/logs/gateway?lines=5").json()["lines"]
    assert 0 < len(lines) <= 5
    assert get(live.port, "/api/logs/nobody").status == 404


def test_readyz_flips_to_503_when_a_service_is_killed_and_back_after_its_restart(live):
    live.wait_healthy()
    assert get(live.port, "/readyz").status == 200
    trader = live.service("trader")
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(get(live.port, "/readyz").status)
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        os.killpg(trader["pid"], signal.SIGKILL)
        wait_until(lambda: 503 in seen, what="/readyz to answer 503")
        wait_until(lambda: (s := live.service("trader"))["pid"] != trader["pid"] and s["state"] == "healthy",
                   timeout=90, what="the trader restarted and healthy", poll=0.2)
        wait_until(lambda: seen and seen[-1] == 200, what="/readyz to answer 200 again")
    finally:
        stop.set()
        watcher.join()
    reasons = get(live.port, "/readyz").json()["reasons"]
    assert reasons == []


# -- the page in Chromium -------------------------------------------------------------------------

def test_page_shows_every_service_healthy_and_quotes_that_change(live, browser, trading_tab, shots):
    live.wait_healthy()
    open_page(browser, live)
    wait_until(lambda: states(browser) == {name: "healthy" for name in SERVICES}, what="three healthy services")
    def every_symbol_quoted() -> dict | None:
        shown = quotes(browser)
        return shown if all(shown.get(s, (0,))[0] > 0 for s in SYMBOLS) else None

    first = wait_until(every_symbol_quoted, what="a quote for every symbol")
    wait_until(lambda: all(quotes(browser)[s][1] != first[s][1] for s in SYMBOLS), timeout=60,
               what="every symbol's price to change")
    assert browser.script("return document.getElementById('stack-link').textContent") == "stack: live"
    assert browser.script("return document.getElementById('feed-link').textContent") == "feed: live"
    assert browser.script("return document.getElementById('events').children.length") >= 9
    assert browser.script("return document.getElementById('log-lines').textContent") not in ("", "loading…")
    assert browser.console_errors() == []
    save_screenshot(browser, shots, "desktop")


def test_page_fits_a_phone(live, browser, shots):
    browser.viewport(390, 844, mobile=True)
    try:
        open_page(browser, live)
        wait_until(lambda: all(v[0] > 0 for v in quotes(browser).values()), what="quotes at phone width")
        assert browser.script("return window.innerWidth") == 390
        assert browser.script("return document.documentElement.scrollWidth") <= 390
        graph_width = browser.script("return document.getElementById('graph').getBoundingClientRect().width")
        assert 0 < graph_width <= 390
        save_screenshot(browser, shots, "phone-390")
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_killing_the_gateway_shows_it_restarting_then_healthy_without_a_reload(live, browser, shots):
    live.wait_healthy()
    open_page(browser, live)
    browser.script("window.__sameDocument = true; window.robostack.seen = {};")
    gateway = live.service("gateway")
    os.killpg(gateway["pid"], signal.SIGKILL)
    wait_until(lambda: [s for s in browser.script("return window.robostack.seen.gateway || []") if s != "healthy"],
               timeout=60, what="the page to show the gateway not healthy")
    save_screenshot(browser, shots, "gateway-restarting")
    wait_until(lambda: (s := live.service("gateway"))["pid"] != gateway["pid"] and s["state"] == "healthy",
               timeout=90, what="the gateway restarted and healthy", poll=0.2)
    wait_until(lambda: states(browser) == {name: "healthy" for name in SERVICES}, timeout=60,
               what="the page to show every service healthy again")
    seen = browser.script("return window.robostack.seen.gateway")
    # What the state is called while it restarts is status's word (today "stopped" once the old pid is gone,
    # as `robostack status` says); the page shows it, then healthy, and the timeline says it restarted.
    assert seen[-1] == "healthy" and any(state != "healthy" for state in seen), seen
    assert browser.script("return window.__sameDocument === true"), "the page was reloaded"
    timeline = browser.script("return [...document.querySelectorAll('#events li')]"
                              ".map(li => [li.querySelector('b').textContent, li.querySelector('.ev-name').textContent])")
    names = [event for service, event in timeline if service == "gateway"]
    assert {"exited", "restarting", "restarted", "healthy"} <= set(names), names
    restarts = browser.script("return document.querySelector('#node-gateway .n-meta').textContent")
    assert "1 restart" in restarts
    save_screenshot(browser, shots, "gateway-healthy-again")


def test_the_page_says_when_the_feed_is_gone_and_reconnects(live, browser):
    live.wait_healthy()
    open_page(browser, live)
    browser.script("window.__sameDocument = true;")
    websocket = live.service("websocket")
    os.killpg(websocket["pid"], signal.SIGKILL)
    wait_until(lambda: browser.script("return document.getElementById('feed-link').textContent") == "feed: lost",
               what="the page to say the feed is lost")
    assert not browser.script("return document.getElementById('feed-banner').hidden")
    wait_until(lambda: browser.script("return document.getElementById('feed-link').textContent") == "feed: live",
               timeout=90, what="the page to reconnect to the feed")
    before = quotes(browser)
    wait_until(lambda: all(quotes(browser)[s][0] > before[s][0] for s in SYMBOLS), timeout=90,
               what="quotes to flow again after the feed came back")
    assert browser.script("return document.getElementById('feed-banner').hidden")
    assert browser.script("return window.__sameDocument === true")


def test_an_order_and_a_fill_from_the_example_strategy_appear(live, browser, trading_tab, shots):
    first = browser.driver.current_window_handle
    browser.driver.switch_to.window(trading_tab)  # open since the first page test: orders had time to come
    try:
        rows = "return document.querySelectorAll('#%s tbody tr:not(.empty)').length"
        wait_until(lambda: browser.script(rows % "orders") > 0, timeout=90, what="an order on the page")
        wait_until(lambda: browser.script(rows % "fills") > 0, timeout=90, what="a fill on the page")
        executions = browser.script("return window.robostack.fills.map(f => f.exec_id)")
        assert len(executions) == len(set(executions)) == browser.script(rows % "fills")  # one row per execution
        save_screenshot(browser, shots, "orders-and-fills")
    finally:
        browser.driver.switch_to.window(first)


def test_down_shows_the_stack_stopping_and_gone_then_up_brings_the_page_back(live, browser, shots):
    live.wait_healthy()
    open_page(browser, live)
    browser.script("window.__sameDocument = true; window.robostack.seen = {};")
    live.down()
    assert not port_accepts(live.port)  # the supervisor closed its server after every service had stopped
    wait_until(lambda: browser.script("return document.getElementById('stack-link').textContent") == "stack: lost",
               what="the page to say the stack is gone")
    assert "The stack was stopped" in browser.script("return document.getElementById('stack-banner').textContent")
    assert states(browser) == {name: "stopped" for name in SERVICES}  # the last status the supervisor sent
    assert all("stopping" in browser.script(f"return window.robostack.seen.{name}") for name in SERVICES)
    save_screenshot(browser, shots, "stack-stopped")
    live.up()
    wait_until(lambda: states(browser) == {name: "healthy" for name in SERVICES}, timeout=90,
               what="the page to reconnect and show every service healthy")
    assert browser.script("return document.getElementById('stack-link').textContent") == "stack: live"
    assert browser.script("return document.getElementById('stack-banner').hidden")
    assert browser.script("return window.__sameDocument === true")


def test_the_repository_stack_runs_the_example_strategy_this_test_reads():
    stack = (REPO / "stack.yaml").read_text()
    assert "--strategy momentum" in stack  # the order test above needs a trader that places orders
