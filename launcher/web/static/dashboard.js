// robostack dashboard: keeps the server-rendered page live.
//   the stack:   server-sent events from /api/stream (status changes, new timeline events)
//   the trading: the stack's WebSocket server (body[data-feed]): tick, order, fill/execution,
//                position, pnl and status events, as the trader publishes them
// Both reconnect by themselves and say so on the page while they are gone.
(function () {
  "use strict";

  const body = document.body;
  const FEED_URL = body.dataset.feed || "";
  const GATEWAYS = (body.dataset.gateways || "").split(",").filter(Boolean);
  const MAX_EVENTS = 200, MAX_ROWS = 100, HISTORY = 240;
  const $ = (id) => document.getElementById(id);

  // Everything the page knows, inspectable from the console (and by the browser tests).
  const model = {
    cursor: body.dataset.eventsCursor || "",
    status: null, statusAt: 0, stackLive: false, feedLive: false,
    quotes: {}, orders: new Map(), fills: [], positions: new Map(), pnl: new Map(),
    trader: null, seen: {}, loadedAt: Date.now(),
  };
  window.robostack = model;

  // -- small helpers ------------------------------------------------------------------------
  function setText(el, value) { if (el && el.textContent !== value) el.textContent = value; }
  function el(tag, cls, value) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (value !== undefined && value !== null) node.textContent = String(value);
    return node;
  }
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + pad(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + pad(Math.floor(s % 3600 / 60)) + "m";
    return Math.floor(s / 86400) + "d" + pad(Math.floor(s % 86400 / 3600)) + "h";
  }
  function price(x) { return (x === null || x === undefined || x === "") ? "—" : Number(x).toFixed(2); }
  function clock(iso) { return iso ? String(iso).replace("T", " ").slice(11, 19) : ""; }
  function pick(obj, names) {
    for (const name of names) if (obj[name] !== undefined && obj[name] !== null) return obj[name];
    return "";
  }
  function banner(id, message) {
    const node = $(id);
    if (message) { setText(node, message); node.hidden = false; } else { node.hidden = true; }
  }
  function link(id, label, live) {
    const node = $(id);
    setText(node, label);
    node.classList.toggle("live", live === true);
    node.classList.toggle("lost", live === false);
  }

  // -- the stack: server-sent events ----------------------------------------------------------
  let source = null, stackDelay = 1000;

  function connectStack() {
    const query = model.cursor ? "?since=" + encodeURIComponent(model.cursor) : "";
    source = new EventSource("/api/stream" + query);
    source.onopen = function () { stackDelay = 1000; model.stackLive = true; link("stack-link", "stack: live", true); };
    source.addEventListener("status", function (e) { banner("stack-banner", ""); renderStatus(JSON.parse(e.data)); });
    source.addEventListener("unavailable", function (e) {
      banner("stack-banner", "No stack to show: " + JSON.parse(e.data).error);
    });
    source.addEventListener("timeline", function (e) {
      if (e.lastEventId) model.cursor = e.lastEventId;
      addEvent(JSON.parse(e.data));
      refreshLog();  // a start, stop or restart writes to the logs; probe results (most statuses) do not
    });
    source.onerror = function () {
      model.stackLive = false;
      link("stack-link", "stack: lost", false);
      // The supervisor serves this page: once it has stopped the stack, it goes too.
      const stopped = model.status && model.status.phase === "stopped";
      banner("stack-banner", stopped
        ? "The stack was stopped: every service and robostack's supervisor are gone. " +
          "This page reconnects once `robostack up` runs it again."
        : "Lost the connection to robostack at " + location.host + " (is the stack up?). Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {  // refused (not a network error): retry ourselves
        setTimeout(connectStack, stackDelay);
        stackDelay = Math.min(stackDelay * 2, 15000);
      }
    };
  }

  function renderStatus(status) {
    if (!model.status) {
      performance.mark("robostack:status");  // first live status (bench/bench_dashboard.py)
      refreshLog();
    }
    model.status = status;
    model.statusAt = Date.now();
    const alive = !!status.supervisor_pid;
    setText($("phase"), alive ? status.phase : "supervisor not running");
    if (!alive) banner("stack-banner", "The stack's supervisor is not running: the states shown are its last record.");
    for (const service of status.services || []) {
      const seen = model.seen[service.name] || (model.seen[service.name] = []);
      if (seen[seen.length - 1] !== service.state) seen.push(service.state);
      renderNode(service);
      renderGateway(service);
    }
    if (status.symbols) status.symbols.forEach(quoteCard);
  }

  function nodeLines(service) {
    const parts = [];
    if (service.pid) parts.push("pid " + service.pid);
    if (service.uptime !== null && service.uptime !== undefined) {
      parts.push("up " + duration(service.uptime + (Date.now() - model.statusAt) / 1000));
    }
    const restarts = service.restarts || 0;
    parts.push(restarts + (restarts === 1 ? " restart" : " restarts"));
    const probe = service.health;
    let probeText = "no probe yet";
    if (probe) {
      const latency = probe.latency !== null && probe.latency !== undefined ? " " + (probe.latency * 1000).toFixed(1) + "ms" : "";
      const ago = probe.at ? ", " + duration(Date.now() / 1000 - probe.at) + " ago" : "";
      probeText = "probe " + (probe.ok ? "ok" : "failed") + latency + ago;
    }
    return { meta: parts.join(" · "), probe: probeText };
  }

  function renderNode(service) {
    const node = $("node-" + service.name);
    if (!node) return;
    if (node.dataset.state !== service.state) {
      node.dataset.state = service.state;
      node.setAttribute("class", "node state-" + service.state);
      setText(node.querySelector(".n-state"), service.state);
    }
    const lines = nodeLines(service);
    setText(node.querySelector(".n-meta"), lines.meta);
    setText(node.querySelector(".n-probe"), lines.probe);
    const title = service.reason ? service.name + ": " + service.reason : service.name;
    let tip = node.querySelector("title");
    if (!tip) { tip = document.createElementNS("http://www.w3.org/2000/svg", "title"); node.prepend(tip); }
    setText(tip, title);
  }

  function renderGateway(service) {
    const row = $("gw-" + service.name);
    if (!row) return;
    setText(row.querySelector(".gw-state"), service.state);
    row.dataset.state = service.state;
    const condition = service.condition;
    const text = condition ? (typeof condition === "object" ? (condition.name || condition.state || JSON.stringify(condition)) : condition)
      : "condition not reported by this supervisor";
    setText(row.querySelector(".gw-condition"), text);
  }

  // Uptimes and "probe Ns ago" move every second without asking the server.
  setInterval(function () {
    if (model.status) for (const service of model.status.services || []) renderNode(service);
    const quiet = model.feedLive && model.lastTick && Date.now() - model.lastTick > 10000;
    setText($("feed-note"), quiet ? "no quotes for " + duration((Date.now() - model.lastTick) / 1000) : "");
  }, 1000);

  function addEvent(event) {
    const list = $("events");
    const item = el("li", "ev ev-" + event.event);
    item.append(el("time", null, clock(event.time)), el("b", null, event.service || "stack"), " ",
      el("span", "ev-name", event.event), " ", el("span", "ev-reason", event.reason || ""));
    list.prepend(item);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  // -- a service's log ------------------------------------------------------------------------
  let logTimer = null, logBusy = false;

  function refreshLog() {
    if (logTimer) return;  // at most one fetch per half second, however many changes arrive
    logTimer = setTimeout(function () { logTimer = null; loadLog(); }, 500);
  }

  async function loadLog() {
    const select = $("log-service");
    if (!select.value || logBusy || document.visibilityState === "hidden") return;
    logBusy = true;
    const pre = $("log-lines");
    try {
      const reply = await fetch("/api/logs/" + encodeURIComponent(select.value) + "?lines=200", { cache: "no-store" });
      const data = await reply.json();
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      setText(pre, reply.ok ? (data.lines.join("\n") || "(empty)") : "no log: " + reply.status);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    } catch (err) {
      setText(pre, "log unavailable: the stack is unreachable");
    } finally {
      logBusy = false;
    }
  }
  $("log-service").addEventListener("change", loadLog);
  setInterval(loadLog, 5000);

  // -- the trading loop: the WebSocket feed -----------------------------------------------------
  let feed = null, feedDelay = 1000;

  function connectFeed() {
    if (!FEED_URL) { link("feed-link", "feed: none", null); return; }
    try { feed = new WebSocket(FEED_URL); } catch (err) { feedLost(); return; }
    feed.onopen = function () {
      feedDelay = 1000; model.feedLive = true;
      link("feed-link", "feed: live", true); banner("feed-banner", "");
    };
    feed.onmessage = function (e) {
      let event;
      try { event = JSON.parse(e.data); } catch (err) { return; }
      if (event && typeof event === "object") onFeedEvent(event);
    };
    feed.onclose = feedLost;
  }

  function feedLost() {
    model.feedLive = false;
    link("feed-link", "feed: lost", false);
    banner("feed-banner", "Trading feed lost (" + FEED_URL + "): reconnecting in " + Math.round(feedDelay / 1000) + "s…");
    setTimeout(connectFeed, feedDelay);
    feedDelay = Math.min(feedDelay * 2, 10000);
  }

  function onFeedEvent(event) {
    switch (event.type) {
      case "tick": onTick(event); break;
      case "order": onOrder(event); break;
      case "fill": case "execution": onFill(event); break;
      case "position": onPosition(event); break;
      case "pnl": onPnl(event); break;
      case "status": onTraderStatus(event); break;
      default: break;
    }
  }

  // -- quotes and charts ------------------------------------------------------------------------
  const dirty = new Set();

  function quoteCard(symbol) {
    let card = $("quote-" + symbol);
    if (!card) {
      card = el("div", "quote");
      card.id = "quote-" + symbol; card.dataset.symbol = symbol; card.dataset.ticks = "0";
      const head = el("div", "q-head");
      head.append(el("b", null, symbol), el("span", "q-last", "—"), el("span", "q-change"));
      const chart = el("canvas", "q-chart"); chart.width = 300; chart.height = 64;
      card.append(head, el("div", "q-bidask muted", "no quotes yet"), chart);
      $("quote-cards").append(card);
    }
    return card;
  }

  function onTick(tick) {
    if (!tick.symbol) return;
    const quote = model.quotes[tick.symbol] || (model.quotes[tick.symbol] = { ticks: 0, history: [] });
    const value = tick.last !== null && tick.last !== undefined ? tick.last
      : (tick.bid !== null && tick.ask !== null && tick.bid !== undefined && tick.ask !== undefined ? (tick.bid + tick.ask) / 2 : null);
    quote.ticks += 1; quote.bid = tick.bid; quote.ask = tick.ask; quote.time = tick.time;
    if (value !== null) {
      if (quote.first === undefined) quote.first = value;
      quote.value = value;
      quote.history.push(value);
      if (quote.history.length > HISTORY) quote.history.shift();
    }
    model.lastTick = Date.now();
    if (!model.allQuoted && model.status && (model.status.symbols || []).every((s) => model.quotes[s])) {
      model.allQuoted = true;
      performance.mark("robostack:quotes");  // every symbol has a quote
    }
    dirty.add(tick.symbol);
    if (dirty.size === 1) requestAnimationFrame(paintQuotes);
  }

  function paintQuotes() {
    for (const symbol of dirty) {
      const quote = model.quotes[symbol], card = quoteCard(symbol);
      card.dataset.ticks = String(quote.ticks);
      setText(card.querySelector(".q-last"), price(quote.value));
      const change = quote.value !== undefined && quote.first ? (quote.value - quote.first) / quote.first * 100 : 0;
      const changeEl = card.querySelector(".q-change");
      setText(changeEl, (change >= 0 ? "+" : "") + change.toFixed(2) + "%");
      changeEl.classList.toggle("down", change < 0);
      setText(card.querySelector(".q-bidask"), "bid " + price(quote.bid) + " · ask " + price(quote.ask) + " · " + clock(quote.time));
      drawChart(card.querySelector("canvas"), quote.history);
    }
    dirty.clear();
  }

  function drawChart(canvas, points) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(60, Math.round(canvas.clientWidth * ratio)), height = Math.round(64 * ratio);
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    if (points.length < 2) return;
    let low = Math.min.apply(null, points), high = Math.max.apply(null, points);
    if (high - low < 1e-9) { high += 0.5; low -= 0.5; }
    const pad = 4 * ratio, span = Math.max(points.length - 1, 30);  // fills the width within seconds, then scrolls
    ctx.lineWidth = 1.5 * ratio;
    ctx.strokeStyle = points[points.length - 1] >= points[0] ? "#2f9e6b" : "#d0533f";
    ctx.beginPath();
    points.forEach(function (p, i) {
      const x = pad + (width - 2 * pad) * i / span;
      const y = height - pad - (height - 2 * pad) * (p - low) / (high - low);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  // -- orders, fills, positions, PnL --------------------------------------------------------------
  const emptyRows = {};
  ["orders", "fills", "positions", "pnl"].forEach(function (id) {
    emptyRows[id] = $(id).tBodies[0].querySelector("tr.empty");
  });
  function render(id, rows, columns) {
    const tbody = $(id).tBodies[0];
    tbody.replaceChildren();
    if (!rows.length) { tbody.append(emptyRows[id]); return; }
    for (const row of rows.slice(0, MAX_ROWS)) {
      const tr = el("tr");
      columns.forEach(function (column) { tr.append(el("td", null, column(row))); });
      tbody.append(tr);
    }
  }

  const ORDER_ID = ["order_id", "orderId", "id", "perm_id", "permId"];
  const SIDE = ["side", "action"];
  const QTY = ["quantity", "qty", "totalQuantity", "total_quantity", "shares", "size", "filled"];

  function onOrder(order) {
    const key = String(pick(order, ORDER_ID) || model.orders.size + 1);
    model.orders.set(key, Object.assign(model.orders.get(key) || {}, order));
    const rows = Array.from(model.orders.values()).reverse();
    render("orders", rows, [
      (o) => clock(o.time), (o) => o.symbol || "", (o) => pick(o, SIDE), (o) => pick(o, QTY),
      (o) => pick(o, ["order_type", "orderType"]), (o) => price(pick(o, ["limit_price", "lmt_price", "lmtPrice", "price", "aux_price"])),
      (o) => pick(o, ["status", "state"]), (o) => pick(o, ORDER_ID)]);
  }

  const EXEC_ID = ["exec_id", "execId"];
  function onFill(fill) {
    // An execution is published again once its commission report arrives: one row per execution.
    const id = pick(fill, EXEC_ID);
    const known = id === "" ? null : model.fills.find((f) => pick(f, EXEC_ID) === id);
    if (known) {
      Object.assign(known, fill);
    } else {
      model.fills.unshift(fill);
      if (model.fills.length > MAX_ROWS) model.fills.pop();
    }
    render("fills", model.fills, [
      (f) => clock(f.time), (f) => f.symbol || "", (f) => pick(f, SIDE), (f) => pick(f, QTY),
      (f) => price(pick(f, ["price", "fill_price", "avg_price", "avgPrice"])), (f) => pick(f, ORDER_ID)]);
  }

  function onPosition(position) {
    model.positions.set((position.account || "") + "/" + position.symbol, position);
    render("positions", Array.from(model.positions.values()), [
      (p) => p.account || "", (p) => p.symbol || "", (p) => pick(p, ["position", "quantity", "qty"]),
      (p) => price(pick(p, ["avg_cost", "avgCost", "average_cost"]))]);
  }

  function onPnl(pnl) {
    model.pnl.set((pnl.account || "") + "/" + (pnl.symbol || ""), pnl);
    render("pnl", Array.from(model.pnl.values()), [
      (p) => p.account || "", (p) => p.symbol || "all",
      (p) => price(pick(p, ["daily", "daily_pnl", "dailyPnL"])),
      (p) => price(pick(p, ["unrealized", "unrealized_pnl", "unrealizedPnL"])),
      (p) => price(pick(p, ["realized", "realized_pnl", "realizedPnL"]))]);
  }

  function onTraderStatus(status) {
    model.trader = status;
    const text = "trader: " + status.state + (status.detail ? " (" + status.detail + ")" : "");
    GATEWAYS.forEach(function (name) { setText(document.querySelector("#gw-" + name + " .gw-trader"), text); });
  }

  connectStack();
  connectFeed();
  loadLog();
})();
