// acidbase lab: the page `acidbase serve` serves. Plain JavaScript, no framework, no
// build step, nothing from the internet. It sends a scenario, a seed and the faults
// added here to the server's JSON API (book/src/serve.md) and draws what comes back:
// the story, the counts and the digest exactly as the server wrote them (nothing is
// recomputed here), and a sequence diagram of the run's events.
//
// Element ids, stable for the browser tests (tests/browser/serve.test.mjs):
//   #scenario-select   shipped scenarios (value: name; "" = your own text)
//   #scenario-text     the scenario's RON, editable; #scenario-file opens a file
//   #protocol-select   protocol override ("" = the scenario's own)
//   #seed              seed ("" = the scenario's own)
//   #run               runs; #error shows a refusal, with line and column
//   #compare-protocol  "" or a protocol: every run also runs under it, in #column-b
//   #fault-list        the added faults: <li data-fault="crash|partition|lose|delay">
//                      with a button.remove
//   #add-crash-node, #add-crash-at, #add-crash-restart, #add-crash
//   #add-partition-groups ("tm rm1 | rm2 rm3"), #add-partition-from,
//   #add-partition-to, #add-partition
//   #counterexample-file  opens a `shrink` / `--export-schedule` file to step through
//   #download-ron      the last run's scenario as RON (replays to #digest)
//   #digest, #story, #counts (rows <tr data-metric="locks.blocked">), #diagram,
//   #expect (the scenario's expectations as the report judged them);
//   the same ids with -b for the second column
//   #txn-filter, #zoom-in, #zoom-out, #zoom-fit, #compress, #step-prev, #step-next,
//   #step-label, #toggle-controls (hides the left column), #show-zeros
//   #detail (the clicked or stepped event), #lose-this, #delay-this, #delay-ms
// In the diagram each message is <g class="msg" data-send=K data-i="I J ...">, K its
// send number and I, J the indices of its events. <body data-busy="yes|no"
// data-runs=N> says whether a run is under way and how many have finished.
'use strict';

const $ = (id) => document.getElementById(id);

const state = {
  faults: [], // [{spec: the API's fault object, label: the list's text}]
  runs: [null, null], // the answers shown in columns a and b
  pxPerMs: 1, // the time scale of both diagrams (before quiet stretches are cut)
  scales: {}, // per column: the time axis drawn last (timeScale)
  txn: '', // the transaction filter ("" = all)
  step: -1, // `i` of the highlighted event of run a
  selected: null, // the message of run a that #lose-this / #delay-this act on
  seq: 0, // bumped per run: the answer to an older run is dropped
  finished: 0,
  downloadUrl: null,
};

// ---- talking to the server ----

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // A seed is a u64: sent as its digits, past what a JS number holds exactly.
    body: JSON.stringify(body, (k, v) => (typeof v === 'bigint' ? `#u64#${v}` : v)).replace(/"#u64#(\d+)"/g, '$1'),
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

// The request for a run of what the page shows: the scenario's text (or, for a
// counterexample just opened, that file instead), seed, protocol, added faults.
function requestBody(counterexample) {
  const body = counterexample ? { counterexample } : { scenario: $('scenario-text').value };
  const name = $('scenario-select').value;
  if (name) body.name = name;
  const seed = $('seed').value.trim();
  if (seed !== '') body.seed = /^\d+$/.test(seed) ? BigInt(seed) : seed; // the server refuses a non-number
  if ($('protocol-select').value) body.protocol = $('protocol-select').value;
  if (state.faults.length) body.faults = state.faults.map((f) => f.spec);
  return body;
}

// Runs, and with a protocol in #compare-protocol also runs the same request under it.
// `fresh`: a new scenario, so the time scale is chosen anew.
async function run({ counterexample = null, fresh = false } = {}) {
  const seq = ++state.seq;
  const body = requestBody(counterexample);
  const other = $('compare-protocol').value;
  setBusy(true, 'running…');
  const asks = [api('/api/run', body)];
  if (other) asks.push(api('/api/run', Object.assign({}, body, { protocol: other })));
  const [a, b] = await Promise.allSettled(asks);
  if (seq !== state.seq) return;
  showError(a.status === 'rejected' ? a.reason : null);
  // A refused run leaves the last good one on screen, greyed.
  $('columns').classList.toggle('stale', a.status === 'rejected');
  if (a.status === 'fulfilled') {
    const res = a.value;
    // The server names each added message by its link and count: stable from now on.
    res.applied_faults.forEach((spec, n) => { if (state.faults[n]) state.faults[n].spec = spec; });
    state.runs = [res, b && b.status === 'fulfilled' ? b.value : null];
    state.step = -1;
    if (fresh) state.pxPerMs = readableScale(res);
    fillTxnFilter(res);
    fillCrashNodes(res.nodes);
    setDownload(res.scenario_ron);
    $('column-b').hidden = !other;
    render();
    if (b && b.status === 'rejected') {
      clearColumn('b');
      $('title-b').textContent = `${other}: ${b.reason.message}`;
    }
  }
  state.finished += 1;
  setBusy(false, a.status === 'fulfilled' ? `the engine ran ${a.value.report.events} events (${a.value.events.length} trace lines)` : 'refused');
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

async function start() {
  const [list, info] = await Promise.all([api('/api/scenarios'), api('/api/info').catch(() => ({}))]);
  const select = $('scenario-select');
  select.append(new Option('(your text)', ''));
  for (const s of list) {
    const o = new Option(s.name, s.name);
    o.title = s.title;
    select.append(o);
  }
  const protocols = info.protocols || [...new Set(list.map((s) => s.protocol))].sort();
  for (const p of protocols) {
    $('protocol-select').append(new Option(p, p));
    $('compare-protocol').append(new Option(p, p));
  }
  const wanted = new URLSearchParams(location.search).get('scenario') || info.initial;
  const first = list.find((s) => s.name === wanted) || list[0];
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
  const text = $('add-crash-restart').value.trim();
  const restart = text === '' ? null : Number(text);
  const label = `crash ${node} at ${at} ms, ${restart === null ? 'no restart' : `restart at ${restart} ms`}`;
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

// ---- results: title, digest, story, counts ----

function render() {
  if (!state.runs[0]) return;
  renderColumn('a', state.runs[0]);
  if (state.runs[1]) renderColumn('b', state.runs[1]);
  markDifferences();
  highlightStep(false);
}

const suffix = (col) => (col === 'a' ? '' : '-b');

function renderColumn(col, res) {
  const s = suffix(col);
  const r = res.report;
  $('title' + s).textContent = `${r.scenario} · ${r.protocol} · seed ${r.seed}`;
  $('digest' + s).textContent = res.digest;
  // What the server cut is said in full when it cut the run or its events, else
  // kept in a tooltip (such as a scenario's max_events lowered to the server's limit).
  const cut = res.truncated || r.truncated;
  $('truncated' + s).textContent = cut ? res.limits.notes.join('; ') : res.limits.notes.length ? 'server notes' : '';
  $('truncated' + s).title = res.limits.notes.join('\n');
  $('truncated' + s).classList.toggle('cut', !!cut);
  $('story' + s).textContent = res.story;
  // The scenario's expectations, as the report judged them: its key counts.
  $('expect' + s).replaceChildren(...(r.expectations ? r.expectations.results : []).map((x) => {
    const span = document.createElement('span');
    span.className = x.held ? 'held' : 'failed';
    span.textContent = `${x.metric} = ${x.actual} (expected ${x.condition}${x.held ? '' : ': failed'})`;
    return span;
  }));
  renderCounts($('counts' + s), r);
  drawDiagram(col, res);
}

function clearColumn(col) {
  const s = suffix(col);
  for (const id of ['digest', 'story', 'truncated']) $(id + s).textContent = '';
  for (const id of ['counts', 'diagram', 'heads', 'expect']) $(id + s).replaceChildren();
}

// The report as rows "metric path → value", in the report's own order.
function flatten(value, path, rows) {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) flatten(v, path === '' ? k : `${path}.${k}`, rows);
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
    tr.insertCell().textContent = String(value);
  }
}

// With two runs shown, the rows whose values differ are marked in both tables.
function markDifferences() {
  const both = state.runs[1] && !$('column-b').hidden;
  for (const tr of $('counts').rows) {
    const other = both && $('counts-b').querySelector(`tr[data-metric="${tr.dataset.metric}"]`);
    const differs = !!other && other.cells[1].textContent !== tr.cells[1].textContent;
    tr.classList.toggle('differs', differs);
    if (other) other.classList.toggle('differs', differs);
  }
}

// ---- the sequence diagram ----

const TOP = 14; // px above time 0
const LEFT = 58; // px for the time axis
const STEPPED = ['send', 'deliver', 'lost', 'timer', 'observe', 'crash', 'restart', 'cut_start', 'cut_end'];
const isFault = (e) => ['crash', 'restart', 'cut_start', 'cut_end'].includes(e.kind);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const ms = (us) => us / 1000;
const fmtMs = (us) => `${+(us / 1000).toFixed(3)} ms`;
const has = (v) => v !== undefined && v !== null;

// The time axis: y of a time in µs, and back. With #compress on, a quiet stretch
// between two instants with events is drawn at most QUIET px tall, so a long wait
// does not push the next burst off the screen (`cuts` lists them, for a mark).
const QUIET = 48;
function timeScale(times, pxPerMs, compress) {
  const knots = [...new Set([0, ...times])].sort((x, y) => x - y);
  const ys = [TOP];
  const cuts = [];
  for (let k = 1; k < knots.length; k++) {
    let dy = ms(knots[k] - knots[k - 1]) * pxPerMs;
    if (compress && dy > QUIET) {
      cuts.push([knots[k - 1], knots[k], ys[k - 1]]);
      dy = QUIET;
    }
    ys.push(ys[k - 1] + dy);
  }
  // Piecewise linear between the knots, linear past the last one.
  const map = (from, to, v) => {
    let lo = 0;
    let hi = from.length - 1;
    if (v >= from[hi]) return to[hi] + (v - from[hi]) * (to === ys ? pxPerMs / 1000 : 1000 / pxPerMs);
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (from[mid] <= v) lo = mid; else hi = mid;
    }
    if (v <= from[lo]) return to[lo];
    return to[lo] + ((v - from[lo]) / (from[hi] - from[lo])) * (to[hi] - to[lo]);
  };
  return { y: (us) => map(knots, ys, us), t: (y) => map(ys, knots, y), knots, cuts, height: ys[ys.length - 1] };
}

function scaleFor(res, pxPerMs) {
  const times = res.events.filter((e) => STEPPED.includes(e.kind) && shown(e)).map((e) => e.t_us);
  return timeScale(times, pxPerMs, $('compress').checked);
}

// Whether the transaction filter lets event `e` through (faults always pass).
function shown(e) {
  return state.txn === '' || isFault(e) || (has(e.txn) && String(e.txn) === state.txn);
}

// Each send with the events that ended it (deliver, lost), paired by `send`.
function messages(res) {
  const bySend = new Map();
  for (const e of res.events) {
    if (!has(e.send)) continue;
    if (e.kind === 'send') bySend.set(e.send, { send: e, ends: [] });
    else if (bySend.has(e.send)) bySend.get(e.send).ends.push(e);
  }
  return [...bySend.values()];
}

// A time scale at which a typical message's arrow drops about 36 px.
function readableScale(res) {
  const lat = messages(res).filter((m) => m.ends.length).map((m) => m.ends[0].t_us - m.send.t_us).sort((x, y) => x - y);
  const median = lat.length ? ms(lat[lat.length >> 1]) : 10;
  return Math.min(50, Math.max(0.05, 36 / Math.max(median, 0.1)));
}

function endUs(res) {
  return res.events.reduce((end, e) => Math.max(end, e.t_us), 0);
}

// A partition's groups in words: "tm rm1 | rm2 rm3" for a two-way cut.
function cutWords(cuts) {
  const c = cuts[0];
  const mirrored = cuts.length === 2 && cuts[1].from.join() === c.to.join() && cuts[1].to.join() === c.from.join();
  if (mirrored) return `${c.from.join(' ')} | ${c.to.join(' ')}`;
  return cuts.map((x) => `${x.from.join(' ')} → ${x.to.join(' ')}`).join(', ');
}

function drawDiagram(col, res) {
  const s = suffix(col);
  const box = $('scroll' + s);
  const nodes = res.nodes;
  const width = Math.max(box.clientWidth - 2, LEFT + 90 * nodes.length);
  const laneW = (width - LEFT - 10) / nodes.length;
  const X = (n) => LEFT + laneW * (nodes.indexOf(n) + 0.5);
  const scale = scaleFor(res, state.pxPerMs);
  state.scales[col] = scale;
  const Y = scale.y;
  const end = endUs(res);
  const out = [];

  // Partitions: a band across the diagram while the groups are cut apart.
  for (const f of res.faults) {
    if (f.kind !== 'partition') continue;
    const y1 = Y(f.from_us);
    const words = cutWords(f.cuts);
    out.push(`<g class="partition"><title>partition ${esc(words)}: ${fmtMs(f.from_us)} – ${fmtMs(f.to_us)}</title>` +
      `<rect x="${LEFT}" y="${y1}" width="${width - LEFT}" height="${Math.max(2, Y(f.to_us) - y1)}"/>` +
      `<text x="${width - 6}" y="${y1 + 13}" text-anchor="end">partition ${esc(words)}</text></g>`);
  }

  // The time axis: uncut, a line every 40 px or more at a round number of ms; cut,
  // the instants that have events (28 px apart or more), and a grey band with the
  // length of each stretch cut short.
  let ticks = scale.knots;
  if (!scale.cuts.length) {
    const every = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000]
      .find((t) => t * state.pxPerMs >= 40) || 60000;
    ticks = [];
    for (let t = 0; t <= ms(end); t += every) ticks.push(t * 1000);
  }
  let last = -1e9;
  for (const t of ticks) {
    const y = Y(t);
    if (y - last < 28) continue;
    last = y;
    out.push(`<g class="tick"><line x1="${LEFT - 4}" x2="${width}" y1="${y}" y2="${y}"/>` +
      `<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end">${+ms(t).toFixed(3)} ms</text></g>`);
  }
  for (const [from, to, y] of scale.cuts) {
    out.push(`<g class="quiet"><title>${fmtMs(to - from)} with no event, drawn short</title><rect x="0" y="${y + 6}" width="${width}" height="${QUIET - 12}"/>` +
      `<text x="${LEFT - 6}" y="${y + QUIET / 2 + 4}" text-anchor="end">+${+ms(to - from).toFixed(1)} ms</text></g>`);
  }

  // Lifelines, and the server's bars: a node's lane is dashed red while it is down;
  // a lock bar beside a participant's lane while it holds its locks in doubt.
  for (const n of nodes) out.push(`<line class="lane" x1="${X(n)}" x2="${X(n)}" y1="${TOP}" y2="${Y(end)}"/>`);
  for (const b of res.spans) {
    const to = has(b.to_us) ? b.to_us : end;
    const x = X(b.node);
    const title = `<title>${b.kind === 'down' ? `${esc(b.node)} down` : `${esc(b.node)} holds locks of txn ${b.txn}, in doubt`}: ${fmtMs(b.from_us)} – ${fmtMs(to)}</title>`;
    if (b.kind === 'down') {
      out.push(`<line class="lane down" x1="${x}" x2="${x}" y1="${Y(b.from_us)}" y2="${Y(to)}">${title}</line>`);
    } else if (state.txn === '' || String(b.txn) === state.txn) {
      out.push(`<rect class="lock" x="${x - 9}" y="${Y(b.from_us)}" width="6" height="${Math.max(1, Y(to) - Y(b.from_us))}">${title}</rect>`);
    }
  }

  // Messages: an arrow from the send to each delivery; a lost one dashed red, ending
  // in a cross; a dropped one (never arrived) stops short of its receiver.
  const lastLabel = new Map(); // sender and direction -> y of its last label
  const all = messages(res);
  const together = new Map(); // one label for a message sent to several nodes at once
  for (const m of all) {
    const key = `${m.send.from} ${m.send.t_us} ${m.send.label}`;
    together.set(key, (together.get(key) || 0) + 1);
  }
  for (const m of all) {
    const e = m.send;
    if (!shown(e) || !nodes.includes(e.to)) continue;
    const x1 = X(e.from);
    const y1 = Y(e.t_us);
    const dropped = (e.fate || '').startsWith('dropped');
    const ends = m.ends.length ? m.ends : [{ kind: dropped ? 'dropped' : 'unseen', y: y1 + 16 }];
    const ids = [e.i, ...m.ends.map((d) => d.i)].join(' ');
    const title = `#${e.i} ${fmtMs(e.t_us)} ${e.from} → ${e.to} (send ${e.send}, ${e.fate || ''})\n${e.text || JSON.stringify(e.msg)}` +
      m.ends.map((d) => `\n${d.kind} at ${fmtMs(d.t_us)}${d.reason ? ` (${d.reason})` : ''}`).join('');
    let g = `<g class="msg" data-send="${e.send}" data-i="${ids}"><title>${esc(title)}</title>`;
    for (const d of ends) {
      const x2 = d.kind === 'deliver' || d.kind === 'lost' ? X(e.to) : x1 + 0.8 * (X(e.to) - x1);
      const y2 = has(d.y) ? d.y : Y(d.t_us);
      const ok = d.kind === 'deliver';
      g += `<line class="hit" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"/>` +
        `<line class="arrow${ok ? '' : ' lost'}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}"${ok ? ' marker-end="url(#arrowhead)"' : ''}/>`;
      if (d.kind === 'lost' || d.kind === 'dropped') g += `<path class="cross" d="M${x2 - 4},${y2 - 4}l8,8m0,-8l-8,8"/>`;
    }
    // The label sits in the first gap after the sender's lane, so messages sent
    // together to several nodes keep their labels apart.
    const dir = Math.sign(X(e.to) - x1) || 1;
    const lx = x1 + (dir * laneW) / 2;
    const x2 = ends[0].kind === 'deliver' || ends[0].kind === 'lost' ? X(e.to) : x1 + 0.8 * (X(e.to) - x1);
    const ly = y1 + ((has(ends[0].y) ? ends[0].y : Y(ends[0].t_us)) - y1) * Math.min(1, (lx - x1) / (x2 - x1 || 1));
    const gap = `${e.from}${dir}`;
    const key = `${e.from} ${e.t_us} ${e.label}`;
    const n = together.get(key);
    if (n && Math.abs(ly - (lastLabel.get(gap) ?? -1e9)) > 12) {
      lastLabel.set(gap, ly);
      together.delete(key);
      g += `<text class="label" x="${lx}" y="${ly - 3}" text-anchor="middle">${esc(e.label || '')}${n > 1 ? ` ×${n}` : ''}</text>`;
    }
    out.push(g + '</g>');
  }

  // Timers and observations as small marks on the lanes; crashes and restarts.
  for (const e of res.events) {
    const x = X(e.node);
    const y = Y(e.t_us);
    const title = `<title>#${e.i} ${fmtMs(e.t_us)} ${e.kind} at ${esc(e.node)}: ${esc(e.text || '')}</title>`;
    if (e.kind === 'timer' && shown(e)) {
      out.push(`<circle class="timer" data-i="${e.i}" cx="${x}" cy="${y}" r="3">${title}</circle>`);
    } else if (e.kind === 'observe' && shown(e)) {
      out.push(`<rect class="observe" data-i="${e.i}" x="${x - 2.5}" y="${y - 2.5}" width="5" height="5">${title}</rect>`);
    } else if (e.kind === 'crash' || e.kind === 'restart') {
      const mark = e.kind === 'crash' ? `<path d="M${x - 7},${y - 7}l14,14m0,-14l-14,14"/>` : `<circle cx="${x}" cy="${y}" r="6"/>`;
      out.push(`<g class="${e.kind}" data-i="${e.i}">${title}${mark}<text x="${x + 10}" y="${y + 4}">${e.kind} ${esc(e.node)}</text></g>`);
    }
  }

  const svg = $('diagram' + s);
  svg.setAttribute('width', width);
  svg.setAttribute('height', Y(end) + 30);
  svg.innerHTML = '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse">' +
    '<path d="M0,0L10,5L0,10z"/></marker></defs>' + out.join('') + `<g id="cursor${s}"></g>`;
  for (const g of svg.querySelectorAll('.msg')) g.addEventListener('click', () => selectMessage(col, g));

  // The node names, above the part that scrolls, with the legend.
  const heads = $('heads' + s);
  heads.setAttribute('width', width);
  heads.setAttribute('height', 40);
  heads.innerHTML = nodes.map((n) => `<text class="head" x="${X(n)}" y="16" text-anchor="middle">${esc(n)}</text>`).join('') +
    `<g class="legend" transform="translate(${LEFT},26)"><rect class="lock" width="6" height="10"/><text x="10" y="9">locks held in doubt</text>` +
    '<line class="lane down" x1="150" x2="150" y1="0" y2="10"/><text x="156" y="9">node down</text>' +
    '<line class="arrow lost" x1="240" x2="270" y1="5" y2="5"/><text x="276" y="9">lost</text>' +
    '<circle class="timer" cx="316" cy="5" r="3"/><text x="323" y="9">timer</text>' +
    '<rect class="observe" x="366" y="2.5" width="5" height="5"/><text x="376" y="9">observed</text></g>';
}

// ---- the transaction filter, zoom, stepping ----

function fillTxnFilter(res) {
  const select = $('txn-filter');
  const txns = [...new Set(res.events.map((e) => e.txn).filter(has))].sort((x, y) => x - y);
  select.replaceChildren(new Option('all', ''), ...txns.map((t) => new Option(`txn ${t}`, String(t))));
  select.value = txns.map(String).includes(state.txn) ? state.txn : '';
  state.txn = select.value;
}

// Scrolls both columns so that time `us` is in the middle (`at`: or that far down).
function scrollToUs(us, at) {
  for (const col of ['a', 'b']) {
    const box = $('scroll' + suffix(col));
    if (state.scales[col]) box.scrollTop = state.scales[col].y(us) - (at ?? box.clientHeight / 2);
  }
}

// Zooms in time about the middle of the visible part.
function zoom(factor) {
  const box = $('scroll');
  const centre = state.scales.a ? state.scales.a.t(box.scrollTop + box.clientHeight / 2) : 0;
  state.pxPerMs = Math.min(200, Math.max(0.01, state.pxPerMs * factor));
  render();
  scrollToUs(centre);
}

// Fits the run, or the chosen transaction's events, into the visible height.
function zoomFit() {
  const res = state.runs[0];
  if (!res) return;
  const times = res.events.filter((e) => STEPPED.includes(e.kind) && shown(e)).map((e) => e.t_us);
  const from = Math.min(...times);
  const room = $('scroll').clientHeight - 40;
  let [lo, hi] = [0.001, 200]; // the largest scale whose drawing fits
  for (let n = 0; n < 40; n++) {
    const mid = Math.sqrt(lo * hi);
    const sc = scaleFor(res, mid);
    if (sc.height - sc.y(from) <= room) lo = mid; else hi = mid;
  }
  state.pxPerMs = lo;
  render();
  scrollToUs(from, 10);
}

function stepTo(direction) {
  const res = state.runs[0];
  if (!res) return;
  const events = res.events.filter((e) => STEPPED.includes(e.kind) && shown(e));
  if (!events.length) return;
  const at = events.findIndex((e) => e.i === state.step);
  const next = at === -1 ? (direction > 0 ? 0 : events.length - 1) : Math.min(events.length - 1, Math.max(0, at + direction));
  state.step = events[next].i;
  highlightStep(true);
}

// Marks the stepped event: its mark in the diagram, a line across at its time, its
// fields in #detail.
function highlightStep(scroll) {
  const res = state.runs[0];
  for (const el of document.querySelectorAll('#diagram .current')) el.classList.remove('current');
  const e = res && res.events.find((x) => x.i === state.step);
  if (!e) {
    $('step-label').textContent = res ? `${res.events.length} trace lines` : '';
    $('detail').hidden = true;
    state.selected = null;
    return;
  }
  $('step-label').textContent = `line ${e.i + 1} of ${res.events.length}: ${fmtMs(e.t_us)} ${e.kind}`;
  const el = $('diagram').querySelector(`[data-i~="${e.i}"]`);
  if (el) el.classList.add('current');
  const y = state.scales.a.y(e.t_us);
  $('cursor').innerHTML = `<line class="cursor" x1="0" x2="${$('diagram').getAttribute('width')}" y1="${y}" y2="${y}"/>`;
  const send = el && el.dataset.send !== undefined ? res.events.find((x) => x.kind === 'send' && String(x.send) === el.dataset.send) : null;
  showDetail('a', e, send);
  const box = $('scroll');
  if (scroll && (y < box.scrollTop + 20 || y > box.scrollTop + box.clientHeight - 20)) scrollToUs(e.t_us);
}

function selectMessage(col, g) {
  const res = state.runs[col === 'a' ? 0 : 1];
  const i = Number(g.dataset.i.split(' ')[0]);
  if (col === 'a') {
    state.step = i;
    highlightStep(false);
  } else {
    showDetail('b', res.events.find((x) => x.i === i), null);
  }
}

// Shows one event's fields; for a message of run a, offers to lose or delay it.
function showDetail(col, e, send) {
  const { i, t_us: t, kind, text, label, trace_id: _t, span_id: _s, parent_span_id: _p, msg: _m, timer: _r, obs: _o, ...rest } = e;
  const who = has(rest.from) && has(rest.to) && !Array.isArray(rest.from) ? `${rest.from} → ${rest.to}` : rest.node || '';
  $('detail').hidden = false;
  $('detail-text').textContent = `${col === 'b' ? 'right-hand run: ' : ''}#${i} at ${fmtMs(t)}: ${kind} ${who}\n` +
    (text ? text + '\n' : '') + JSON.stringify(rest);
  const canFault = col === 'a' && !!send && send.fate !== undefined && !send.fate.startsWith('dropped');
  $('detail-actions').hidden = !canFault;
  state.selected = canFault ? send : null;
}

function faultSelected(kind) {
  const e = state.selected;
  if (!e) return;
  const what = `${e.label} ${e.from} → ${e.to} sent at ${fmtMs(e.t_us)}`;
  if (kind === 'lose') {
    addFault({ lose: { send: e.send } }, `lose ${what}`);
  } else {
    const extra = Number($('delay-ms').value);
    addFault({ delay: { send: e.send, extra_ms: extra } }, `delay ${what} by ${extra} ms more`);
  }
}

// ---- wiring ----

function readFile(input, then) {
  const file = input.files[0];
  if (!file) return;
  file.text().then((text) => { input.value = ''; then(text, file.name); });
}

function wire() {
  $('run').onclick = () => run();
  $('scenario-select').onchange = (ev) => chooseScenario(ev.target.value);
  $('scenario-text').oninput = () => { $('scenario-select').value = ''; };
  $('scenario-file').onchange = (ev) => readFile(ev.target, (text) => { useText(text); run({ fresh: true }); });
  $('counterexample-file').onchange = (ev) => readFile(ev.target, async (text, name) => {
    useText(text);
    await run({ counterexample: text, fresh: true });
    if (!state.runs[0]) return;
    stepTo(1);
    $('status').textContent = `${name}: step through it with ▶ (or the → key)`;
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
  $('toggle-controls').onclick = () => { document.body.classList.toggle('no-controls'); render(); };
  $('show-zeros').onchange = (ev) => document.body.classList.toggle('show-zeros', ev.target.checked);
  for (const id of ['scroll', 'scroll-b']) {
    $(id).addEventListener('wheel', (ev) => {
      if (!ev.ctrlKey) return; // a plain wheel scrolls; Ctrl + wheel zooms in time
      ev.preventDefault();
      zoom(ev.deltaY < 0 ? 1.25 : 0.8);
    }, { passive: false });
  }
  // Scrolling the left column scrolls the right one to the same time.
  $('scroll').addEventListener('scroll', () => {
    if (state.scales.a && state.scales.b) $('scroll-b').scrollTop = state.scales.b.y(state.scales.a.t($('scroll').scrollTop));
  });
  $('compress').onchange = render;
  document.addEventListener('keydown', (ev) => {
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(ev.target.tagName)) return;
    if (ev.key === 'ArrowRight') stepTo(1);
    if (ev.key === 'ArrowLeft') stepTo(-1);
  });
  window.addEventListener('resize', render);
}

wire();
setBusy(false, '');
start().catch(showError).finally(() => { document.body.dataset.ready = 'yes'; });
