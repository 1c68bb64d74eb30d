// acidbase lab: the page `acidbase serve` serves. Plain JavaScript, no framework, no
// build step, nothing from the internet. It sends a scenario, a seed and the faults
// added here to the server's JSON API (book/src/serve.md) and draws what comes back:
// the story, the counts and the digest exactly as the server wrote them (nothing is
// recomputed here), and a sequence diagram of the run's events.
//
// Element ids, stable for the browser tests (tests/browser/serve.test.mjs):
//   #scenario-select   shipped scenarios (value: name; "" = the text in #scenario-text)
//   #scenario-text     the scenario's RON, editable; #scenario-file opens one
//   #protocol-select   protocol override ("" = the scenario's own)
//   #seed              seed ("" = the scenario's own)
//   #run               runs; #error shows a refusal (with line and column)
//   #compare-protocol  "" or a protocol: every run also runs with it, in #column-b
//   #fault-list        the added faults, each <li data-fault=KIND> with a button.remove
//   #add-crash-node, #add-crash-at, #add-crash-restart, #add-crash
//   #add-partition-groups ("tm rm1 | rm2 rm3"), #add-partition-from, #add-partition-to,
//   #add-partition
//   #counterexample-file  opens a `shrink` / `--export-schedule` file and steps it
//   #download-ron      a link to the last run's scenario as RON (replays to #digest)
//   #digest, #story, #counts (rows <tr data-metric="locks.blocked">), #diagram, and
//   the same with -b for the second column
//   #txn-filter, #zoom-in, #zoom-out, #zoom-fit, #step-prev, #step-next, #step-label
//   #detail (the clicked or stepped event), #lose-this, #delay-this, #delay-ms
// In the diagram every message is a <g class="msg" data-send=K data-i="I J">, where
// I, J are the indices of its events. <body data-busy="yes|no" data-runs=N> says when
// a run is under way and how many have finished.
'use strict';

const $ = (id) => document.getElementById(id);
const SVGNS = 'http://www.w3.org/2000/svg';

const state = {
  scenarios: [],
  faults: [], // [{spec: the API's fault object, label: what the list shows}]
  runs: [null, null], // the results shown in columns a and b
  pxPerMs: 1,
  txn: '', // the transaction filter ("" = all)
  step: -1, // index of the highlighted event of run a
  seq: 0, // bumped per run: an answer to an older run is ignored
  finished: 0,
  downloadUrl: null,
};

// ---- talking to the server ----

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const text = await res.text();
  const isJson = (res.headers.get('content-type') || '').includes('json');
  const data = isJson ? JSON.parse(text) : text;
  if (!res.ok) {
    const err = new Error(isJson && data.error ? data.error : text || res.statusText);
    err.detail = isJson ? data : {};
    throw err;
  }
  return data;
}

function requestBody(extra) {
  const body = { scenario: $('scenario-text').value };
  const seed = $('seed').value.trim();
  if (seed !== '') body.seed = Number(seed);
  if ($('protocol-select').value) body.protocol = $('protocol-select').value;
  if (state.faults.length) body.faults = state.faults.map((f) => f.spec);
  if (extra.counterexample) body.counterexample = extra.counterexample;
  return body;
}

async function run(extra = {}) {
  const seq = ++state.seq;
  const body = requestBody(extra);
  const other = $('compare-protocol').value;
  setBusy(true, 'running…');
  const asks = [api('/api/run', body)];
  if (other) asks.push(api('/api/run', Object.assign({}, body, { protocol: other })));
  const [a, b] = await Promise.allSettled(asks);
  if (seq !== state.seq) return; // a newer run is under way
  showError(a.status === 'rejected' ? a.reason : null);
  if (a.status === 'fulfilled') {
    state.runs[0] = a.value;
    state.runs[1] = b && b.status === 'fulfilled' ? b.value : null;
    state.step = -1;
    if (extra.fresh) state.pxPerMs = readableScale(a.value);
    fillTxnFilter(a.value);
    fillCrashNodes(a.value.nodes);
    setDownload(a.value.scenario_ron);
    $('column-b').hidden = !state.runs[1];
    render();
  }
  if (b && b.status === 'rejected') {
    $('column-b').hidden = false;
    $('title-b').textContent = `${other}: ${b.reason.message}`;
    clearColumn('b');
  }
  state.finished += 1;
  setBusy(false, a.status === 'fulfilled' ? `ran: ${a.value.report.events} events` : 'refused');
}

function setBusy(busy, text) {
  document.body.dataset.busy = busy ? 'yes' : 'no';
  document.body.dataset.runs = state.finished;
  $('run').disabled = busy;
  $('status').textContent = text;
}

function showError(err) {
  const box = $('error');
  box.hidden = !err;
  if (!err) return;
  const d = err.detail || {};
  const where = d.line ? `line ${d.line}${d.column ? `, column ${d.column}` : ''}: ` : '';
  box.textContent = where + err.message;
  if (d.line) selectLine($('scenario-text'), d.line);
}

// Opens the editor and selects the line an error points at.
function selectLine(area, line) {
  $('editor-box').open = true;
  const lines = area.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || '').length);
}

function setDownload(ron) {
  const link = $('download-ron');
  if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
  state.downloadUrl = URL.createObjectURL(new Blob([ron], { type: 'text/plain' }));
  link.href = state.downloadUrl;
  link.download = `${$('scenario-select').value || 'scenario'}-lab.ron`;
  link.classList.remove('disabled');
}

// ---- the scenario and the faults ----

async function loadScenarios() {
  state.scenarios = await api('/api/scenarios');
  const select = $('scenario-select');
  select.append(new Option('(your text)', ''));
  for (const s of state.scenarios) {
    const o = new Option(s.name, s.name);
    o.title = s.title;
    select.append(o);
  }
  const protocols = [...new Set(state.scenarios.map((s) => s.protocol))].sort();
  for (const p of protocols) {
    $('protocol-select').append(new Option(p, p));
    $('compare-protocol').append(new Option(p, p));
  }
  const wanted = new URLSearchParams(location.search).get('scenario');
  const first = state.scenarios.find((s) => s.name === wanted) || state.scenarios[0];
  if (first) await chooseScenario(first.name);
}

async function chooseScenario(name) {
  $('scenario-select').value = name;
  if (!name) return;
  $('scenario-text').value = await api(`/api/scenarios/${encodeURIComponent(name)}`);
  state.faults = [];
  renderFaults();
  await run({ fresh: true });
}

function useText(text) {
  $('scenario-select').value = '';
  $('scenario-text').value = text;
  state.faults = [];
  renderFaults();
}

function addFault(spec, label) {
  state.faults.push({ spec, label });
  renderFaults();
  run();
}

function renderFaults() {
  const list = $('fault-list');
  list.replaceChildren();
  if (!state.faults.length) list.innerHTML = '<li class="none">none yet</li>';
  state.faults.forEach((f, n) => {
    const li = document.createElement('li');
    li.dataset.fault = Object.keys(f.spec)[0];
    li.textContent = f.label + ' ';
    const remove = document.createElement('button');
    remove.className = 'remove';
    remove.textContent = 'remove';
    remove.onclick = () => { state.faults.splice(n, 1); renderFaults(); run(); };
    li.append(remove);
    list.append(li);
  });
}

function fillCrashNodes(nodes) {
  const select = $('add-crash-node');
  const keep = select.value;
  select.replaceChildren(...nodes.map((n) => new Option(n, n)));
  if (nodes.includes(keep)) select.value = keep;
}

function addCrash() {
  const node = $('add-crash-node').value;
  const at = Number($('add-crash-at').value);
  const restartText = $('add-crash-restart').value.trim();
  const restart = restartText === '' ? null : Number(restartText);
  const label = `crash ${node} at ${at} ms, ` + (restart === null ? 'no restart' : `restart at ${restart} ms`);
  addFault({ crash: { node, at_ms: at, restart_ms: restart } }, label);
}

function addPartition() {
  const text = $('add-partition-groups').value;
  const groups = text.split('|').map((g) => g.trim().split(/[\s,]+/).filter(Boolean));
  const from = Number($('add-partition-from').value);
  const to = Number($('add-partition-to').value);
  const label = `partition ${groups.map((g) => g.join(' ')).join(' | ')} from ${from} to ${to} ms`;
  addFault({ partition: { groups, from_ms: from, to_ms: to } }, label);
}

// ---- results: story, counts, digest ----

function render() {
  renderColumn('a', state.runs[0]);
  if (state.runs[1]) renderColumn('b', state.runs[1]);
  markDifferences();
  highlightStep();
}

const suffix = (col) => (col === 'a' ? '' : '-b');

function renderColumn(col, res) {
  const s = suffix(col);
  const r = res.report;
  $('title' + s).textContent = `${r.scenario} · ${r.protocol} · seed ${r.seed}`;
  $('digest' + s).textContent = res.digest;
  $('truncated' + s).textContent = res.truncated
    ? `— the diagram shows only the first ${res.events.length} events (${JSON.stringify(res.limits)})` : '';
  $('story' + s).textContent = res.story;
  renderCounts($('counts' + s), r);
  drawDiagram(col, res);
}

function clearColumn(col) {
  const s = suffix(col);
  for (const id of ['digest', 'story', 'truncated']) $(id + s).textContent = '';
  $('counts' + s).replaceChildren();
  $('diagram' + s).replaceChildren();
  $('heads' + s).replaceChildren();
}

// The report as rows "metric path → value", in the report's own order.
function flatten(value, path, rows) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, path ? `${path}.${k}` : k, rows);
  } else {
    rows.push([path, value]);
  }
  return rows;
}

function renderCounts(table, report) {
  table.replaceChildren();
  for (const [path, value] of flatten(report, '', [])) {
    const tr = table.insertRow();
    tr.dataset.metric = path;
    if (value === 0) tr.className = 'zero';
    tr.insertCell().textContent = path;
    const td = tr.insertCell();
    td.textContent = typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}

// With two runs shown, the rows whose values differ are marked in both tables.
function markDifferences() {
  const b = state.runs[1] && !$('column-b').hidden;
  for (const tr of $('counts').rows) {
    const other = b && $('counts-b').querySelector(`tr[data-metric="${tr.dataset.metric}"]`);
    const differs = other && other.cells[1].textContent !== tr.cells[1].textContent;
    tr.classList.toggle('differs', !!differs);
    if (other) other.classList.toggle('differs', !!differs);
  }
}

// ---- the sequence diagram ----

const TOP = 14; // px above time 0
const LEFT = 58; // px for the time axis
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const ms = (us) => us / 1000;
const fmtMs = (us) => `${+(us / 1000).toFixed(3)} ms`;
const msgName = (m) => (m === null || m === undefined ? '' : typeof m === 'string' ? m : Object.keys(m)[0]);
const nodeOf = (e) => e.node || e.from;

// A time scale at which a typical message's arrow drops about 20 px.
function readableScale(res) {
  const lat = messages(res).filter((m) => m.ends.length).map((m) => m.ends[0].t_us - m.send.t_us).sort((a, b) => a - b);
  const median = lat.length ? ms(lat[lat.length >> 1]) : 10;
  return Math.min(50, Math.max(0.05, 20 / Math.max(median, 0.1)));
}

function endUs(res) {
  let end = 0;
  for (const e of res.events) end = Math.max(end, e.t_us);
  for (const sp of res.spans) end = Math.max(end, sp.to_us || 0);
  return end;
}

// Whether the transaction filter lets event `e` through (faults always pass).
function shown(e) {
  if (state.txn === '' || isFault(e)) return true;
  return e.txn !== undefined && e.txn !== null && String(e.txn) === state.txn;
}

const isFault = (e) => ['crash', 'restart', 'cut_start', 'cut_end'].includes(e.kind);

// Pairs each send with the events that ended it (deliver or lost), by the `send` number
// the server gives both.
function messages(res) {
  const bySend = new Map();
  for (const e of res.events) {
    if (e.send === undefined || e.send === null) continue;
    if (e.kind === 'send') bySend.set(e.send, { send: e, ends: [] });
    else if (bySend.has(e.send)) bySend.get(e.send).ends.push(e);
  }
  return [...bySend.values()];
}

function drawDiagram(col, res) {
  const s = suffix(col);
  const svg = $('diagram' + s);
  const box = $('scroll' + s);
  const nodes = res.nodes;
  const width = Math.max(box.clientWidth - 2, LEFT + 90 * nodes.length);
  const laneW = (width - LEFT - 10) / nodes.length;
  const X = (n) => LEFT + laneW * (nodes.indexOf(n) + 0.5);
  const Y = (us) => TOP + ms(us) * state.pxPerMs;
  const end = endUs(res);
  const height = Y(end) + 30;
  const out = [];

  // Partitions: a band across the diagram while the groups are cut apart.
  for (const f of res.faults || []) {
    if (!f.partition) continue;
    const p = f.partition;
    const y1 = Y(p.from_ms * 1000);
    const y2 = Y(p.to_ms * 1000);
    const groups = p.groups.map((g) => g.join(' ')).join(' | ');
    out.push(`<g class="partition"><title>partition ${esc(groups)}, ${p.from_ms}–${p.to_ms} ms</title>` +
      `<rect x="${LEFT}" y="${y1}" width="${width - LEFT}" height="${Math.max(2, y2 - y1)}"/>` +
      `<text x="${width - 6}" y="${y1 + 12}" text-anchor="end">partition ${esc(groups)}</text></g>`);
  }

  // The time axis.
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000]
    .find((t) => t * state.pxPerMs >= 40) || 60000;
  for (let t = 0; t <= ms(end); t += step) {
    out.push(`<g class="tick"><line x1="${LEFT - 4}" x2="${width}" y1="${Y(t * 1000)}" y2="${Y(t * 1000)}"/>` +
      `<text x="${LEFT - 6}" y="${Y(t * 1000) + 4}" text-anchor="end">${t} ms</text></g>`);
  }

  // Lifelines: solid while the node is up, dashed red while it is down.
  for (const n of nodes) {
    let from = 0;
    let down = false;
    const seg = (to) => out.push(`<line class="lane${down ? ' down' : ''}" x1="${X(n)}" x2="${X(n)}" y1="${Y(from)}" y2="${Y(to)}"/>`);
    for (const e of res.events) {
      if (nodeOf(e) !== n || (e.kind !== 'crash' && e.kind !== 'restart')) continue;
      seg(e.t_us);
      from = e.t_us;
      down = e.kind === 'crash';
    }
    seg(end);
  }

  // Spans (locks held, in doubt, ...) as bars beside their node's lane.
  const kinds = [...new Set(res.spans.map((sp) => sp.kind))];
  for (const sp of res.spans) {
    if (state.txn !== '' && String(sp.txn) !== state.txn) continue;
    const k = kinds.indexOf(sp.kind);
    const x = X(sp.node) + (k % 2 === 0 ? -8 - 6 * (k >> 1) : 3 + 6 * (k >> 1));
    const to = sp.to_us === null || sp.to_us === undefined ? end : sp.to_us;
    out.push(`<rect class="span span-${k}" x="${x}" y="${Y(sp.from_us)}" width="5" height="${Math.max(1, Y(to) - Y(sp.from_us))}">` +
      `<title>${esc(sp.kind)} at ${esc(sp.node)}, txn ${sp.txn}: ${fmtMs(sp.from_us)} – ${fmtMs(to)}</title></rect>`);
  }

  // Messages: an arrow from the send to each delivery; a lost one ends in a cross.
  const lastLabel = new Map(); // sender and direction -> y of its last label
  for (const m of messages(res)) {
    const e = m.send;
    if (!shown(e) || !nodes.includes(e.to)) continue;
    const x1 = X(e.from);
    const y1 = Y(e.t_us);
    const ends = m.ends.length ? m.ends : [{ kind: 'dropped', t_us: e.t_us + 1000 * Math.max(2, 14 / state.pxPerMs), i: e.i }];
    const ids = [e.i, ...m.ends.map((d) => d.i)].join(' ');
    const title = `#${e.i} ${fmtMs(e.t_us)} ${e.from} → ${e.to}${e.txn !== undefined && e.txn !== null ? `, txn ${e.txn}` : ''}\n` +
      JSON.stringify(e.msg, null, 1) + m.ends.map((d) => `\n${d.kind} at ${fmtMs(d.t_us)}${d.reason ? ` (${d.reason})` : ''}`).join('');
    let g = `<g class="msg" data-send="${e.send}" data-i="${ids}"><title>${esc(title)}</title>`;
    for (const d of ends) {
      const lost = d.kind !== 'deliver';
      let x2 = X(e.to);
      const y2 = Y(d.t_us);
      if (d.kind === 'dropped') x2 = (x1 + x2) / 2; // never arrived: stops half way
      const cls = lost ? 'arrow lost' : 'arrow';
      g += `<line class="hit" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"/>` +
        `<line class="${cls}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"${lost ? '' : ' marker-end="url(#arrowhead)"'}/>`;
      if (lost) g += `<path class="cross" d="M${x2 - 4},${y2 - 4}l8,8m0,-8l-8,8"/>`;
    }
    // The label sits in the first gap after the sender's lane, so messages sent
    // together to one node keep their labels apart.
    const dir = Math.sign(X(e.to) - x1) || 1;
    const lx = x1 + dir * laneW / 2;
    const x2 = ends[0].kind === 'dropped' ? (x1 + X(e.to)) / 2 : X(e.to);
    const ly = y1 + (Y(ends[0].t_us) - y1) * Math.min(1, (lx - x1) / (x2 - x1 || 1));
    const gap = `${e.from}${dir}`;
    if (Math.abs(ly - (lastLabel.get(gap) ?? -1e9)) > 12) {
      lastLabel.set(gap, ly);
      g += `<text class="label" x="${lx}" y="${ly - 3}" text-anchor="middle">${esc(msgName(e.msg))}</text>`;
    }
    out.push(g + '</g>');
  }

  // Timers, crashes and restarts on the lanes.
  for (const e of res.events) {
    const n = nodeOf(e);
    if (e.kind === 'timer' && shown(e)) {
      out.push(`<circle class="timer" data-i="${e.i}" cx="${X(n)}" cy="${Y(e.t_us)}" r="3"><title>#${e.i} ${fmtMs(e.t_us)} timer at ${esc(n)}: ${esc(JSON.stringify(e.msg ?? e.timer ?? ''))}</title></circle>`);
    } else if (e.kind === 'crash' || e.kind === 'restart') {
      const x = X(n);
      const y = Y(e.t_us);
      const mark = e.kind === 'crash'
        ? `<path d="M${x - 7},${y - 7}l14,14m0,-14l-14,14"/>` : `<circle cx="${x}" cy="${y}" r="6"/>`;
      out.push(`<g class="${e.kind}" data-i="${e.i}"><title>#${e.i} ${fmtMs(e.t_us)} ${esc(n)} ${e.kind}es</title>${mark}` +
        `<text x="${x + 10}" y="${y + 4}">${e.kind} ${esc(n)}</text></g>`);
    }
  }

  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.innerHTML = '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">' +
    '<path d="M0,0L10,5L0,10z"/></marker></defs>' + out.join('') + '<g id="cursor' + s + '"></g>';

  // The node names above the scrolling part, and the legend of the bars.
  const heads = $('heads' + s);
  heads.setAttribute('width', width);
  heads.setAttribute('height', 40);
  heads.innerHTML = nodes.map((n) => `<text class="head" x="${X(n)}" y="16" text-anchor="middle">${esc(n)}</text>`).join('') +
    kinds.map((k, j) => `<rect class="span span-${j}" x="${LEFT + 110 * j}" y="26" width="10" height="10"/><text class="legend" x="${LEFT + 14 + 110 * j}" y="35">${esc(k)}</text>`).join('');

  for (const g of svg.querySelectorAll('.msg')) g.addEventListener('click', () => selectMessage(col, g));
}

// ---- the transaction filter, zoom, stepping ----

function fillTxnFilter(res) {
  const select = $('txn-filter');
  const txns = [...new Set(res.events.map((e) => e.txn).filter((t) => t !== undefined && t !== null))].sort((a, b) => a - b);
  select.replaceChildren(new Option('all', ''), ...txns.map((t) => new Option(`txn ${t}`, String(t))));
  select.value = txns.map(String).includes(state.txn) ? state.txn : '';
  state.txn = select.value;
}

function timeAtCentre() {
  const box = $('scroll');
  return (box.scrollTop + box.clientHeight / 2 - TOP) / state.pxPerMs;
}

function scrollToMs(t) {
  for (const id of ['scroll', 'scroll-b']) {
    const box = $(id);
    box.scrollTop = TOP + t * state.pxPerMs - box.clientHeight / 2;
  }
}

function zoom(factor) {
  const centre = timeAtCentre();
  state.pxPerMs = Math.min(200, Math.max(0.01, state.pxPerMs * factor));
  render();
  scrollToMs(centre);
}

// Fits the run (or the filtered transaction's events) into the visible height.
function zoomFit() {
  const res = state.runs[0];
  if (!res) return;
  const times = res.events.filter((e) => state.txn === '' || String(e.txn) === state.txn).map((e) => e.t_us);
  const from = Math.min(...times);
  const to = Math.max(...times, from + 1000);
  state.pxPerMs = ($('scroll').clientHeight - 40) / ms(to - from);
  render();
  for (const id of ['scroll', 'scroll-b']) $(id).scrollTop = TOP + ms(from) * state.pxPerMs - 10;
}

function stepTo(direction) {
  const res = state.runs[0];
  if (!res) return;
  const events = res.events.filter((e) => shown(e));
  if (!events.length) return;
  const at = events.findIndex((e) => e.i === state.step);
  const next = at === -1 ? (direction > 0 ? 0 : events.length - 1) : Math.min(events.length - 1, Math.max(0, at + direction));
  state.step = events[next].i;
  highlightStep(true);
}

function highlightStep(scroll) {
  const res = state.runs[0];
  for (const el of document.querySelectorAll('#diagram .current')) el.classList.remove('current');
  const cursor = $('cursor');
  if (!res || state.step < 0 || !cursor) {
    $('step-label').textContent = res ? `${res.events.length} events` : '';
    return;
  }
  const e = res.events.find((x) => x.i === state.step);
  $('step-label').textContent = `event ${e.i} of ${res.events.length}: ${fmtMs(e.t_us)} ${e.kind}`;
  const el = $('diagram').querySelector(`[data-i~="${e.i}"]`);
  if (el) el.classList.add('current');
  const y = TOP + ms(e.t_us) * state.pxPerMs;
  cursor.innerHTML = `<line class="cursor" x1="0" x2="${$('diagram').getAttribute('width')}" y1="${y}" y2="${y}"/>`;
  showDetail('a', e, el && el.dataset.send !== undefined ? Number(el.dataset.send) : null);
  const box = $('scroll');
  if (scroll && (y < box.scrollTop + 20 || y > box.scrollTop + box.clientHeight - 20)) scrollToMs(ms(e.t_us));
}

function selectMessage(col, g) {
  const res = state.runs[col === 'a' ? 0 : 1];
  const i = Number(g.dataset.i.split(' ')[0]);
  const e = res.events.find((x) => x.i === i);
  if (col === 'a') {
    state.step = i;
    highlightStep(false);
  } else {
    showDetail(col, e, null);
  }
}

// Shows one event's fields; for a message of run a, offers to lose or delay it.
function showDetail(col, e, send) {
  const { i, t_us: t, kind, msg, ...rest } = e;
  const who = rest.from && rest.to ? `${rest.from} → ${rest.to}` : nodeOf(e) || '';
  delete rest.from; delete rest.to;
  $('detail').hidden = false;
  $('detail-text').textContent = `${col === 'b' ? 'right-hand run: ' : ''}#${i} at ${fmtMs(t)}: ${kind} ${who}\n` +
    (msg !== undefined ? JSON.stringify(msg) + '\n' : '') + JSON.stringify(rest);
  const canFault = col === 'a' && send !== null && e.kind !== 'crash';
  $('detail-actions').hidden = !canFault;
  state.selected = canFault ? { send, e } : null;
}

function faultSelected(kind) {
  const sel = state.selected;
  if (!sel) return;
  const what = `${msgName(sel.e.msg)} ${sel.e.from} → ${sel.e.to} (send #${sel.send}, ${fmtMs(sel.e.t_us)})`;
  if (kind === 'lose') addFault({ lose: { send: sel.send } }, `lose ${what}`);
  else {
    const extra = Number($('delay-ms').value);
    addFault({ delay: { send: sel.send, extra_ms: extra } }, `delay ${what} by ${extra} ms`);
  }
}

// ---- files ----

function readFile(input, then) {
  const file = input.files[0];
  if (!file) return;
  file.text().then((text) => { input.value = ''; then(text, file.name); });
}

// ---- wiring ----

function wire() {
  $('run').onclick = () => run();
  $('scenario-select').onchange = (ev) => chooseScenario(ev.target.value);
  $('scenario-text').oninput = () => { $('scenario-select').value = ''; };
  $('scenario-file').onchange = (ev) => readFile(ev.target, (text) => { useText(text); run({ fresh: true }); });
  $('counterexample-file').onchange = (ev) => readFile(ev.target, async (text, name) => {
    useText(text);
    await run({ counterexample: text, fresh: true });
    $('status').textContent = `${name}: step through it with ▶`;
    state.step = -1;
    stepTo(1);
  });
  $('compare-protocol').onchange = () => run();
  $('add-crash').onclick = addCrash;
  $('add-partition').onclick = addPartition;
  $('lose-this').onclick = () => faultSelected('lose');
  $('delay-this').onclick = () => faultSelected('delay');
  $('txn-filter').onchange = (ev) => {
    state.txn = ev.target.value;
    state.step = -1;
    if (state.txn === '') render(); else zoomFit();
  };
  $('zoom-in').onclick = () => zoom(2);
  $('zoom-out').onclick = () => zoom(0.5);
  $('zoom-fit').onclick = zoomFit;
  $('step-prev').onclick = () => stepTo(-1);
  $('step-next').onclick = () => stepTo(1);
  $('show-zeros').onchange = (ev) => document.body.classList.toggle('show-zeros', ev.target.checked);
  for (const id of ['scroll', 'scroll-b']) {
    $(id).addEventListener('wheel', (ev) => {
      if (!ev.ctrlKey) return;
      ev.preventDefault();
      zoom(ev.deltaY < 0 ? 1.25 : 0.8);
    }, { passive: false });
  }
  // The two columns share a time scale; scrolling one scrolls the other.
  $('scroll').addEventListener('scroll', () => { $('scroll-b').scrollTop = $('scroll').scrollTop; });
  document.addEventListener('keydown', (ev) => {
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(ev.target.tagName)) return;
    if (ev.key === 'ArrowRight') stepTo(1);
    if (ev.key === 'ArrowLeft') stepTo(-1);
  });
}

wire();
window.addEventListener('resize', () => { if (state.runs[0]) render(); });
setBusy(false, '');
loadScenarios().catch((err) => showError(err)).finally(() => { document.body.dataset.ready = 'yes'; });
