// The operations dashboard: REST for the panels, the event stream (WS /api/v1/trading/stream) to keep them live.
// Money arrives as exact decimal strings and is shown as it is; only the chart turns it into numbers, to draw.

const API = "/api/v1/trading";
const KEY_STORAGE = "trading-dashboard-key";
const $ = (selector) => document.querySelector(selector);

let apiKey = sessionStorage.getItem(KEY_STORAGE);
let lastEventId = null;
let socket = null;
let reconnectDelay = 500;
const pending = new Set();
let refreshTimer = null;

// --- REST -------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    ...options,
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// --- rendering --------------------------------------------------------------------------------------------

function cell(value, className = "") {
  const td = document.createElement("td");
  td.textContent = value ?? "—";
  if (className) td.className = className;
  return td;
}

function signClass(decimal) {
  if (decimal == null || /^-?0*\.?0*$/.test(decimal)) return "";
  return decimal.startsWith("-") ? "down" : "up";
}

function fillTable(id, rows, columns) {
  const body = $(`#${id} tbody`);
  body.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell("none", "empty");
    td.colSpan = $(`#${id} thead tr`).children.length;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.id = row.id ?? row.instrument_id;
    tr.append(...columns.map((column) => column(row)));
    body.append(tr);
  }
}

function figures(id, pairs) {
  const list = $(`#${id}`);
  list.replaceChildren(
    ...pairs.map(([label, value, className]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = label;
      dd.textContent = value ?? "—";
      if (className) dd.className = className;
      div.append(dt, dd);
      return div;
    }),
  );
}

const percent = (x) => (x == null ? null : `${(x * 100).toFixed(2)} %`);
const ratio = (x) => (x == null ? null : x.toFixed(2));
const seconds = (x) => (x == null ? null : `${x.toFixed(3)} s`);
const bps = (x) => (x == null ? null : `${x.toFixed(1)} bps`);
const time = (iso) => new Date(iso).toLocaleTimeString();
const fees = (map) => Object.entries(map).map(([ccy, amount]) => `${amount} ${ccy}`).join(", ") || "0";

function drawEquity(daily) {
  const svg = $("#equity-chart");
  // Drawn in the element's own pixels, so that the labels are never stretched.
  const width = svg.clientWidth || 640, height = svg.clientHeight || 200, left = 90, pad = 16;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const values = daily.map((point) => Number(point.equity));
  svg.dataset.points = String(values.length);
  if (!values.length) return svg.replaceChildren();
  const low = Math.min(...values), high = Math.max(...values);
  const span = high - low || Math.abs(high) || 1;
  const x = (i) => left + (i * (width - left - pad)) / Math.max(1, values.length - 1);
  const y = (v) => height - 2 * pad - ((v - low) / span) * (height - 3 * pad);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attributes, content) => {
    const element = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
    if (content != null) element.textContent = content;
    return element;
  };
  const highest = daily[values.indexOf(high)].equity, lowest = daily[values.indexOf(low)].equity;
  const bottom = height - 2 * pad;
  svg.replaceChildren(
    make("polygon", { class: "area", points: `${x(0)},${bottom} ${points} ${x(values.length - 1)},${bottom}` }),
    make("polyline", { class: "curve", points }),
    make("text", { x: 4, y: y(high) + 4 }, highest),
    make("text", { x: 4, y: y(low) + 4 }, high === low ? "" : lowest),
    make("text", { x: left, y: height - 4 }, daily[0].day),
    make("text", { x: width - pad, y: height - 4, "text-anchor": "end" }, daily[daily.length - 1].day),
  );
}

// --- panels -----------------------------------------------------------------------------------------------

const panels = {
  async positions() {
    const rows = (await api("/positions")).filter((p) => !/^-?0*\.?0*$/.test(p.size));
    fillTable("positions", rows, [
      (p) => cell(p.instrument_id),
      (p) => cell(p.position_side),
      (p) => cell(p.size),
      (p) => cell(p.average_entry_price),
      (p) => cell(p.current_price),
      (p) => cell(p.unrealized_pnl, signClass(p.unrealized_pnl)),
      (p) => cell(p.realized_pnl, signClass(p.realized_pnl)),
    ]);
  },
  async orders() {
    fillTable("orders", await api("/orders/active"), [
      (o) => cell(o.id),
      (o) => cell(o.instrument_id),
      (o) => cell(o.side),
      (o) => cell(o.order_type),
      (o) => cell(o.size),
      (o) => cell(o.price),
      (o) => cell(o.filled_size),
      (o) => cell(o.status),
    ]);
  },
  async fills() {
    fillTable("fills", (await api("/trades?limit=20")).items, [
      (t) => cell(time(t.executed_at)),
      (t) => cell(t.instrument_id),
      (t) => cell(t.side),
      (t) => cell(t.size),
      (t) => cell(t.price),
      (t) => cell(`${t.fee} ${t.fee_currency ?? ""}`),
      (t) => cell(t.realized_pnl, signClass(t.realized_pnl)),
    ]);
  },
  async performance() {
    const p = await api("/performance");
    drawEquity(p.daily);
    figures("performance", [
      ["Total PnL", p.total_pnl, signClass(p.total_pnl)],
      ["Trades", p.number_of_trades],
      ["Win rate", percent(p.win_rate)],
      ["Sharpe", ratio(p.sharpe_ratio)],
      ["Sortino", ratio(p.sortino_ratio)],
      ["Max drawdown", percent(p.max_drawdown)],
      ["Profit factor", ratio(p.profit_factor)],
      ["Volume", p.volume],
      ["Fees", fees(p.fees)],
    ]);
  },
  async statistics() {
    const s = (await api("/statistics")).overall;
    figures("statistics", [
      ["Orders", s.orders],
      ["Fill rate", percent(s.fill_rate)],
      ["Rejection rate", percent(s.rejection_rate)],
      ["Time to ack", seconds(s.average_time_to_ack_s)],
      ["Time to fill", seconds(s.average_time_to_fill_s)],
      ["Slippage", bps(s.slippage_bps)],
      ["Shortfall", bps(s.implementation_shortfall_bps)],
      ["Maker ratio", percent(s.maker_ratio)],
      ["Risk passed", s.risk_checks_passed],
      ["Risk refused", s.risk_checks_failed],
    ]);
  },
  async executions() {
    const running = (await api("/executions?status=running&limit=50")).items;
    const list = $("#executions");
    list.replaceChildren(
      ...running.map((e) => {
        const li = document.createElement("li");
        li.dataset.id = e.id;
        const label = document.createElement("div");
        label.textContent = `#${e.id} ${e.algorithm} ${e.side} ${e.filled_size} / ${e.target_size} ${e.instrument_id}`;
        const bar = document.createElement("progress");
        bar.max = Number(e.target_size);
        bar.value = Number(e.filled_size);
        li.append(label, bar);
        return li;
      }),
    );
    if (!running.length) list.innerHTML = '<li class="empty">none running</li>';
  },
  async killSwitch() {
    const button = $("#kill-switch");
    const badge = $("#trading-state");
    try {
      const { state } = await api("/risk/kill-switch");
      badge.textContent = state;
      badge.className = `badge ${state}`;
      button.disabled = false;
      button.dataset.state = state;
      button.textContent = state === "halted" ? "Resume trading" : "Halt trading";
      button.classList.toggle("halt", state !== "halted");
    } catch (error) {
      if (error.status !== 403) throw error;
      badge.textContent = "state needs an admin key";
      button.disabled = true;
    }
  },
};

// Which panels an event can change.
const AFFECTS = {
  order_created: ["orders"],
  order_status_changed: ["orders", "statistics"],
  order_canceled: ["orders", "statistics"],
  order_rejected: ["orders", "statistics"],
  order_reconciled: ["orders"],
  order_filled: ["fills", "orders", "positions", "performance", "statistics"],
  position_opened: ["positions"],
  position_updated: ["positions"],
  position_closed: ["positions"],
  risk_check_failed: ["statistics"],
  reconciliation_difference: ["positions", "orders"],
  kill_switch_changed: ["killSwitch", "orders"],
  execution_started: ["executions"],
  execution_progress: ["executions"],
  execution_finished: ["executions"],
};

async function refresh(names) {
  const results = await Promise.allSettled(names.map((name) => panels[name]()));
  const unauthorized = results.find((r) => r.status === "rejected" && r.reason?.status === 401);
  if (unauthorized) return logout("The API key was refused.");
  for (const result of results) if (result.status === "rejected") console.error(result.reason);
}

function schedule(names) {
  names.forEach((name) => pending.add(name));
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const names = [...pending];
    pending.clear();
    refresh(names);
  }, 150); // a burst of events (order, fill, position) refreshes each panel once
}

// --- the stream -------------------------------------------------------------------------------------------

function showEvent(event) {
  const list = $("#events");
  const li = document.createElement("li");
  li.dataset.type = event.event_type;
  const stamp = document.createElement("time");
  stamp.textContent = time(event.created_at);
  const text = document.createElement("span");
  const subject = event.order_id ? `order ${event.order_id}` : event.instrument_id || "";
  text.textContent = `${event.event_type.replaceAll("_", " ")} ${subject}`;
  li.append(stamp, text);
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const after = lastEventId == null ? "" : `?after=${lastEventId}`;
  socket = new WebSocket(`${scheme}://${location.host}${API}/stream${after}`);
  const state = $("#stream-state");
  socket.onopen = () => socket.send(JSON.stringify({ op: "login", api_key: apiKey }));
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "login") {
      state.textContent = "live";
      state.className = "badge on";
      reconnectDelay = 500;
      if (lastEventId == null) lastEventId = data.last_id;
      else schedule(Object.keys(panels)); // back after a drop: catch the panels up too
    } else if (data.type === "event") {
      lastEventId = Math.max(lastEventId ?? 0, data.event.id);
      showEvent(data.event);
      schedule(AFFECTS[data.event.event_type] || []);
    } else if (data.type === "error" && data.code === "unauthorized") {
      logout(data.message);
    }
  };
  socket.onclose = () => {
    state.textContent = "offline";
    state.className = "badge off";
    if (!apiKey) return;
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 15000);
  };
}

// --- login, kill switch -----------------------------------------------------------------------------------

async function open() {
  $("#login").hidden = true;
  $("#board").hidden = false;
  $("#forget-key").hidden = false;
  await refresh(Object.keys(panels));
  if (apiKey) connect();
}

function logout(message = "") {
  apiKey = null;
  sessionStorage.removeItem(KEY_STORAGE);
  if (socket) socket.close();
  $("#board").hidden = true;
  $("#forget-key").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = $("#api-key").value.trim();
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  $("#login-error").textContent = "";
  open();
});

$("#forget-key").addEventListener("click", () => logout());

$("#kill-switch").addEventListener("click", async () => {
  const button = $("#kill-switch");
  const halting = button.dataset.state !== "halted";
  const question = halting ? "Halt trading and cancel every open order?" : "Resume trading?";
  if (!confirm(question)) return;
  button.disabled = true;
  try {
    const body = { state: halting ? "halted" : "active", reason: "dashboard" };
    await api("/risk/kill-switch", { method: "POST", body: JSON.stringify(body) });
  } catch (error) {
    alert(`Kill switch: ${error.message}`);
  }
  await refresh(["killSwitch", "orders"]);
});

if (apiKey) open();
