// wearsense dashboard: draws the frames that the server sends over WebSocket.
// No library, no network beyond this page's own server.
"use strict";

const WINDOW_S = 5;            // seconds of EMG shown
const MAX_LATENCIES = 4000;    // latency samples kept for the percentiles

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const nowWall = () => performance.timeOrigin + performance.now();

// Everything the page knows; also read by the browser test (window.wearsense).
const state = {
  hello: null, connected: false, frames: 0, painted: 0, emgSamples: 0,
  latencies: [], waits: [], offsetMs: 0, bestRttMs: Infinity, pending: [],
  // frames whose data a later frame's paint showed (several arrived between two paints; their
  // EMG bins are all drawn, their pose, panels and tables only as the newest frame's): a count,
  // not a loss; and how often the traces were redrawn whole (a new layout) or one row of them
  // (its full scale changed) rather than scrolled
  coalesced: 0, fullRedraws: 0, rowRedraws: 0,
  traces: {}, pose: null, prediction: null, events: [], annotations: [],
};
window.wearsense = state;
// main-thread tasks over 50 ms (what would hold a paint back), where the browser reports them
state.longTasksMs = [];
try {
  new PerformanceObserver((list) => { for (const e of list.getEntries()) state.longTasksMs.push(e.duration); })
    .observe({ type: "longtask", buffered: false });
} catch (e) { /* not supported: the list stays empty */ }

function percentile(values, p) {
  if (!values.length) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))];
}
state.latencyPercentiles = () => ({
  n: state.latencies.length, p50: percentile(state.latencies, 50), p99: percentile(state.latencies, 99),
});

let ws = null;
function connect() {
  const q = token ? `?token=${encodeURIComponent(token)}` : "";
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${q}`);
  ws.onopen = () => { state.connected = true; setStatus("live", "ok"); for (let i = 0; i < 5; i++) setTimeout(ping, 100 * i); };
  ws.onclose = () => { state.connected = false; setStatus("disconnected", "bad"); };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
}
function setStatus(text, cls) { const s = $("status"); s.textContent = text; s.className = `pill ${cls}`; }
function send(obj) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj)); }
function ping() { send({ type: "ping", client_ms: nowWall() }); }
setInterval(ping, 2000);

function onMessage(msg) {
  if (msg.type === "frame") { state.pending.push(msg); return; }
  if (msg.type === "hello") { onHello(msg); return; }
  if (msg.type === "pong") {
    // host wall clock - browser wall clock, from the round trip with the smallest delay
    const t1 = nowWall(), rtt = t1 - msg.client_ms;
    if (rtt <= state.bestRttMs) { state.bestRttMs = rtt; state.offsetMs = msg.server_ms - (msg.client_ms + t1) / 2; }
    return;
  }
  if (msg.type === "annotated") {
    const li = document.createElement("li");
    li.textContent = msg.ok ? `${msg.label} (host ${msg.host_s.toFixed(3)} s)` : `not marked: ${msg.message}`;
    $("annotations").prepend(li);
    state.annotations.push(msg);
  }
}

function onHello(msg) {
  state.hello = msg;
  const rec = $("recording");
  rec.textContent = msg.recording ? `● recording ${msg.recording.split("/").pop()}` : "not recording";
  rec.className = msg.recording ? "pill rec" : "pill";
  rec.title = msg.recording || "start with --record session.xdf to mark annotations";
  const box = $("buttons");
  box.textContent = "";
  for (const label of msg.labels) {
    const b = document.createElement("button");
    b.textContent = label; b.dataset.label = label; b.className = "annotate";
    b.disabled = !msg.recording;
    b.onclick = () => send({ type: "annotate", label, client_ms: nowWall() });
    box.append(b);
  }
  $("note-form").querySelector("button").disabled = !msg.recording;
  $("emg-caption").textContent = `band-passed 20–450 Hz, min/max over ${msg.bin_hz} bins/s, last ${WINDOW_S} s; ${msg.frame_hz} frames/s`;
}
$("note-form").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("note").value.trim();
  if (text) send({ type: "annotate", label: text, client_ms: nowWall() });
  $("note").value = "";
};

// ---- applying frames -------------------------------------------------------------------
function traceFor(e) {
  let tr = state.traces[e.stream];
  const bins = Math.round(WINDOW_S * state.hello.bin_hz);
  if (!tr || tr.labels.length !== e.labels.length) {
    tr = state.traces[e.stream] = {
      labels: e.labels, n: bins, head: 0, filled: 0, total: 0, drawnTotal: -1,
      lo: e.labels.map(() => new Float32Array(bins)), hi: e.labels.map(() => new Float32Array(bins)),
      fullScale: e.labels.map(() => 0), level: [], flags: [],
    };
    layoutKey = "";  // a new stream: the next paint redraws everything
  }
  return tr;
}
function apply(f) {
  let samples = 0;
  for (const e of f.emg) {
    const tr = traceFor(e);
    const nb = e.min_uv.length ? e.min_uv[0].length : 0;
    for (let k = 0; k < nb; k++) {
      for (let c = 0; c < tr.labels.length; c++) { tr.lo[c][tr.head] = e.min_uv[c][k]; tr.hi[c][tr.head] = e.max_uv[c][k]; }
      tr.head = (tr.head + 1) % tr.n; tr.filled = Math.min(tr.n, tr.filled + 1); tr.total++;
    }
    tr.level = e.level_uv; tr.flags = e.flags;
    samples += e.samples;
  }
  state.emgSamples = samples;
  if (f.pose) state.pose = f.pose;
  state.prediction = f.prediction;
  for (const ev of f.events) state.events.push(ev);
  state.lastFrame = f;
}

// ---- drawing ---------------------------------------------------------------------------
function fitCanvas(c) {
  const r = c.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  return [c.getContext("2d"), w, h, dpr];
}
const FLAG_COLOURS = { electrode_off: "#f85149", flat: "#f85149", saturation: "#f85149", mains: "#d29922",
                       motion: "#d29922", low_snr: "#d29922" };
// Full scales (µV) a trace snaps to: the scale grows at once when a peak exceeds it and
// shrinks only when the window's peak falls under 40 % of it, so the canvas is redrawn
// whole only on such a change; otherwise it scrolls and only the new bins are drawn.
const SCALES = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1e6];
function snapScale(current, peak) {
  if (current && peak <= current && peak >= 0.4 * current) return current;
  return SCALES.find((s) => s >= peak) || SCALES[SCALES.length - 1];
}
function windowPeak(tr, c) {
  let peak = 0;
  const lo = tr.lo[c], hi = tr.hi[c];
  for (let k = 0; k < tr.filled; k++) { const a = Math.max(-lo[k], hi[k]); if (a > peak) peak = a; }
  return peak;
}
let layoutKey = "", labelsAt = 0;
const scratch = document.createElement("canvas"), sg = scratch.getContext("2d");
const LABELS_EVERY_MS = 250;  // the level/flag text beside each trace (4 updates/s: readable, cheap)
function colOf(b, tr, plotW) { return Math.floor((b * plotW) / tr.n); }
function drawBins(g, tr, c, y0, scale, from, to, left, plotW, colour) {
  // bins from..to-1 (absolute counts), the newest at the right edge
  const right = left + plotW, endCol = colOf(tr.total, tr, plotW);
  g.strokeStyle = colour; g.beginPath();
  for (let b = Math.max(from, tr.total - tr.filled); b < to; b++) {
    const i = ((tr.head - (tr.total - b)) % tr.n + tr.n) % tr.n;
    const x = right - (endCol - colOf(b, tr, plotW)) + 0.5;
    g.moveTo(x, y0 - tr.hi[c][i] * scale); g.lineTo(x, y0 - tr.lo[c][i] * scale + 0.5);
  }
  g.stroke();
}
function drawLabels(g, tr, c, row, rowH, dpr, left) {
  const y0 = rowH * (row + 0.5), flags = tr.flags[c] || [], lvl = tr.level[c];
  g.clearRect(0, rowH * row + 1, left, rowH - 1);
  g.fillStyle = flags.length ? (FLAG_COLOURS[flags[0]] || "#d29922") : "#8b98a5";
  g.fillText(`${tr.labels[c]}`, 6 * dpr, y0 - 6 * dpr);
  g.fillText(`${lvl == null ? "–" : lvl.toFixed(0)} µV ${flags.length ? flags.join(",") : "ok"} ±${tr.fullScale[c]}`,
             6 * dpr, y0 + 7 * dpr);
}
function drawTraces() {
  const canvas = $("traces");
  const [g, w, h, dpr] = fitCanvas(canvas);
  const streams = Object.values(state.traces);
  const rows = streams.reduce((n, tr) => n + tr.labels.length, 0);
  if (!rows) return;
  const rowH = h / rows, left = 190 * dpr, plotW = Math.floor(w - left - 8 * dpr);
  g.font = `${11 * dpr}px system-ui, sans-serif`; g.textBaseline = "middle"; g.lineWidth = Math.max(1, dpr);
  const full = layoutKey !== `${w}x${h}:${rows}`;
  const now = performance.now(), labels = full || now - labelsAt >= LABELS_EVERY_MS;
  if (labels) labelsAt = now;
  if (full) { g.clearRect(0, 0, w, h); layoutKey = `${w}x${h}:${rows}`; state.fullRedraws++; }
  let row = 0;
  for (const tr of streams) {
    const bandY = Math.floor(rowH * row), bandH = Math.ceil(rowH * tr.labels.length);
    const scrolled = !full && tr.drawnTotal >= 0;
    if (scrolled) {
      // scroll this stream's band left by the columns its new bins take; draw only those bins
      const shift = Math.min(plotW, colOf(tr.total, tr, plotW) - colOf(tr.drawnTotal, tr, plotW));
      if (shift > 0) {
        // (through a scratch canvas: drawImage composites over what is there, it does not replace it)
        const keep = plotW - shift;
        if (keep > 0) {
          if (scratch.width < keep || scratch.height < bandH) { scratch.width = Math.max(scratch.width, keep); scratch.height = Math.max(scratch.height, bandH); }
          sg.clearRect(0, 0, keep, bandH);
          sg.drawImage(canvas, left + shift, bandY, keep, bandH, 0, 0, keep, bandH);
        }
        g.clearRect(left, bandY, w - left, bandH);
        if (keep > 0) g.drawImage(scratch, 0, 0, keep, bandH, left, bandY, keep, bandH);
      }
    }
    for (let c = 0; c < tr.labels.length; c++, row++) {
      const s = snapScale(tr.fullScale[c], windowPeak(tr, c)), rescaled = s !== tr.fullScale[c];
      tr.fullScale[c] = s;
      let from = tr.total - tr.filled;
      if (scrolled && !rescaled) from = tr.drawnTotal;
      else if (scrolled) { g.clearRect(left, Math.floor(rowH * row), w - left, Math.ceil(rowH)); state.rowRedraws++; }
      const y0 = rowH * (row + 0.5), scale = (rowH * 0.46) / s;
      if (labels || rescaled) drawLabels(g, tr, c, row, rowH, dpr, left);
      drawBins(g, tr, c, y0, scale, from, tr.total, left, plotW, `hsl(${(row * 47) % 360} 70% 62%)`);
      const yb = Math.round(rowH * (row + 1)) - 0.5;
      g.strokeStyle = "#263140"; g.beginPath();
      g.moveTo(from === tr.total - tr.filled ? left : left + plotW - (colOf(tr.total, tr, plotW) - colOf(from, tr, plotW)) - 1, yb);
      g.lineTo(w, yb); g.stroke();
    }
    tr.drawnTotal = tr.total;
  }
}
function drawFigure(g, kps, bones, cx, baseY, scale, colour) {
  const p = (name) => kps[name] && kps[name].every((v) => v != null) ? kps[name] : null;
  const pelvis = p("pelvis") || Object.values(kps).find((v) => v.every((x) => x != null));
  if (!pelvis) return;
  // front view: the horizontal axis runs from the right shoulder to the left one (seen from the front,
  // the mover's right is on the left of the screen); world x when the shoulders are not seen
  const sr = p("shoulder_r"), sl = p("shoulder_l");
  let ux = 1, uy = 0;
  if (sr && sl) { const dx = sl[0] - sr[0], dy = sl[1] - sr[1], n = Math.hypot(dx, dy); if (n > 1e-6) { ux = dx / n; uy = dy / n; } }
  const X = (k) => cx + ((k[0] - pelvis[0]) * ux + (k[1] - pelvis[1]) * uy) * scale, Y = (k) => baseY - k[2] * scale;
  g.strokeStyle = colour; g.lineWidth = 3; g.lineCap = "round"; g.beginPath();
  for (const [a, b] of bones) { const ka = p(a), kb = p(b); if (ka && kb) { g.moveTo(X(ka), Y(ka)); g.lineTo(X(kb), Y(kb)); } }
  g.stroke();
  const head = p("head");
  if (head) { g.beginPath(); g.arc(X(head), Y(head), 0.09 * scale, 0, 2 * Math.PI); g.stroke(); }
}
let poseDrawn = null, predictionDrawn = null, poseSize = "";
function drawPose() {
  const [g, w, h, dpr] = fitCanvas($("pose"));
  if (state.pose === poseDrawn && state.prediction === predictionDrawn && poseSize === `${w}x${h}`) return;
  poseDrawn = state.pose; predictionDrawn = state.prediction; poseSize = `${w}x${h}`;
  g.clearRect(0, 0, w, h);
  if (!state.pose || !state.hello) return;
  const bones = state.hello.bones, scale = (h * 0.85) / 2.0, baseY = h * 0.95;
  const pred = state.prediction && state.prediction.keypoints;
  g.font = `${11 * dpr}px system-ui, sans-serif`; g.fillStyle = "#8b98a5";
  if (pred) {
    drawFigure(g, state.pose.keypoints, bones, w * 0.28, baseY, scale, "#58a6ff");
    drawFigure(g, pred, bones, w * 0.72, baseY, scale, "#d2a8ff");
    g.fillText("camera", w * 0.2, 14 * dpr); g.fillText(`predicted +${state.prediction.horizon_ms} ms`, w * 0.6, 14 * dpr);
  } else {
    drawFigure(g, state.pose.keypoints, bones, w * 0.5, baseY, scale, "#58a6ff");
    g.fillText(`camera (${state.pose.stream}), ${state.pose.age_ms} ms old`, 8 * dpr, 14 * dpr);
  }
  setText($("surprise"), state.prediction ? `surprise ${state.prediction.surprise}` : "no model (start with --checkpoint to see a prediction)");
}
// DOM writes only where the content changed (each write costs a style and layout pass)
const shown = new Map();
function setHTML(el, text) { if (shown.get(el) !== text) { shown.set(el, text); el.innerHTML = text; } }
function setText(el, text) { if (shown.get(el) !== text) { shown.set(el, text); el.textContent = text; } }
function html(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }
function drawPanels(f) {
  const eff = $("effort");
  if (f.effort && f.effort.length) {
    setHTML(eff, f.effort.map((r) => {
      // value +1 is the first pole (strong, sudden, direct, bound), drawn on the left
      const v = r.value == null ? 0.5 : Math.max(0, Math.min(1, (1 - r.value) / 2));
      const poles = r.poles || ["", ""];
      return `<div class="gauge ${r.available === false ? "unavailable" : ""}" title="${html((r.sensors || []).join(", "))}">` +
        `<span>${html(r.factor)}</span><div class="bar"><div class="fill" style="left:${(100 * v).toFixed(1)}%;opacity:${0.35 + 0.65 * (r.confidence ?? 1)}"></div></div>` +
        `<div class="poles"><span>${html(poles[0])}</span><span>${r.available === false ? html(r.note || "unavailable") : `${html(r.pole || "")} ${r.value == null ? "" : (r.value > 0 ? "+" : "") + r.value.toFixed(2)} · conf ${(r.confidence ?? 0).toFixed(2)}`}</span><span>${html(poles[1])}</span></div></div>`;
    }).join(""));
  } else if (f.effort_note) {
    setHTML(eff, `<p class="muted">${html(f.effort_note)}</p>`);
  }
  if (f.events.length) {
    const ol = $("events");
    for (const ev of f.events) { const li = document.createElement("li"); li.textContent = ev.text; ol.prepend(li); }
    while (ol.children.length > 30) ol.lastChild.remove();
  }
  setHTML($("imu").tBodies[0], f.imu.map((o) =>
    `<tr><td>${html(o.stream)}</td><td>${html(o.segment)}</td><td>${o.tilt_deg ?? "–"}</td><td>${o.heading_deg ?? "–"}</td><td>${html(o.flags.join(", "))}</td></tr>`).join(""));
  setHTML($("health").tBodies[0], f.health.map((r) =>
    `<tr><td>${html(r.name)}</td><td>${r.rate_hz == null ? "–" : r.rate_hz.toFixed(1)}</td><td>${r.nominal_hz}</td>` +
    `<td>${r.lost_pct.toFixed(2)}</td><td>${r.age_s == null ? "–" : r.age_s.toFixed(2)}</td><td class="${r.state}">${r.state}</td></tr>`).join(""));
}

const PANELS_EVERY_MS = 100;  // effort gauges and tables: 10 updates/s, the effort estimator's own rate
let panelsAt = 0, pendingEvents = [];
function paint() {
  if (state.pending.length && state.hello) {
    const frames = state.pending; state.pending = [];
    for (const f of frames) { apply(f); for (const ev of f.events) pendingEvents.push(ev); }
    state.coalesced += frames.length - 1;
    drawTraces(); drawPose();
    const now = performance.now();
    if (now - panelsAt >= PANELS_EVERY_MS || pendingEvents.length) {
      panelsAt = now;
      drawPanels({ ...frames[frames.length - 1], events: pendingEvents });
      pendingEvents = [];
    }
    state.frames += frames.length;
    setText($("emg-samples"), String(state.emgSamples));
    setText($("frames"), String(state.frames));
    // arrival on the host -> this paint, in the host's clock
    const paintedHost = nowWall() + state.offsetMs;
    for (const f of frames) {
      if (f.wait_ms == null) continue;
      state.latencies.push(f.wait_ms + (paintedHost - f.sent_wall_ms));
      state.waits.push(f.wait_ms);  // the host's part: arrival -> send
    }
    for (const a of [state.latencies, state.waits]) if (a.length > MAX_LATENCIES) a.splice(0, a.length - MAX_LATENCIES);
    state.painted++;
    if (state.painted % 15 === 0) {
      const q = state.latencyPercentiles();
      setText($("latency"), `p50 ${q.p50.toFixed(0)} ms · p99 ${q.p99.toFixed(0)} ms`);
    }
  }
  requestAnimationFrame(paint);
}
connect();
requestAnimationFrame(paint);
