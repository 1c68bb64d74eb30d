// End-to-end tests of `acidbase serve`'s page in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), done as a person would: choose a
// scenario, run, read a count off the page and check it against `acidbase run`; add a
// crash with the controls, lose a message by clicking it, compare two protocols side
// by side, download the RON and replay it on the command line to the digest the page
// shows, open a counterexample and step through it. Each step leaves a screenshot in
// $ACIDBASE_SCREENSHOTS (default target/browser-screenshots) for a person to look at.
//
//   ACIDBASE_BIN=target/release/acidbase node tests/browser/serve.test.mjs
//
// ACIDBASE_URL=http://… tests a server already running instead of starting one.
// tests/suite/browser.rs runs this under `cargo test`; `.ci/run` installs what it
// needs (`apt-get install chromium`, `npm ci --prefix tests/browser`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.ACIDBASE_BIN || path.join(ROOT, 'target/release/acidbase');
const SHOTS = process.env.ACIDBASE_SCREENSHOTS || path.join(ROOT, 'target/browser-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TMP = mkdtempSync(path.join(os.tmpdir(), 'acidbase-browser-'));

// `acidbase ARGS` (exit 0, or 1 for a failed expectation), its JSON report.
function cli(...args) {
  const r = spawnSync(BIN, args, { cwd: ROOT, encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, `acidbase ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Starts `acidbase serve --port 0` and resolves with the URL it prints.
function startServer() {
  const server = spawn(BIN, ['serve', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no URL from acidbase serve in 30 s:\n${out}\n${err}`)), 30000);
    server.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/[^\s]+/);
      if (m) { clearTimeout(timer); resolve(m[0]); }
    });
    server.stderr.on('data', (d) => { err += d; });
    server.on('exit', (code) => reject(new Error(`acidbase serve exited (${code}):\n${out}\n${err}`)));
  });
  return { server, url };
}

const shots = [];
async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  shots.push(file);
}

// Waits until a run started after `before` runs had finished has finished too.
async function settled(page, before) {
  await page.waitForFunction((n) => document.body.dataset.busy === 'no' && Number(document.body.dataset.runs) > n, before, { timeout: 60000 });
}
const finished = (page) => page.evaluate(() => Number(document.body.dataset.runs || 0));

// Does `act` and waits for the run it starts.
async function andRun(page, act) {
  const before = await finished(page);
  await act();
  await settled(page, before);
  const error = await page.locator('#error').isVisible() ? await page.textContent('#error') : '';
  return error;
}

async function count(page, metric, column = '') {
  const text = await page.textContent(`#counts${column} tr[data-metric="${metric}"] td:last-child`);
  return Number(text);
}
const digest = (page, column = '') => page.textContent(`#digest${column}`);

// Clicks, with the mouse, 90% of the way along the arrow of the first
// message whose tooltip matches `pattern`, after scrolling it into view.
async function clickMessage(page, pattern) {
  const at = await page.evaluate((source) => {
    const re = new RegExp(source);
    const g = [...document.querySelectorAll('#diagram g.msg')].find((x) => re.test(x.querySelector('title').textContent));
    if (!g) return null;
    const line = g.querySelector('line.arrow');
    const box = document.getElementById('scroll');
    box.scrollTop = Math.max(0, Number(line.getAttribute('y1')) - 60);
    const p = document.getElementById('diagram').createSVGPoint();
    p.x = Number(line.getAttribute('x1')) + 0.9 * (line.getAttribute('x2') - line.getAttribute('x1'));
    p.y = Number(line.getAttribute('y1')) + 0.9 * (line.getAttribute('y2') - line.getAttribute('y1'));
    const q = p.matrixTransform(line.getScreenCTM());
    return { x: q.x, y: q.y, send: g.dataset.send, title: g.querySelector('title').textContent };
  }, pattern.source);
  assert.ok(at, `no message in the diagram matches ${pattern}`);
  await page.mouse.move(at.x, at.y);
  await page.mouse.click(at.x, at.y);
  return at;
}

async function download(page, name) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#download-ron')]);
  const where = path.join(TMP, name);
  await file.saveAs(where);
  return where;
}

test('acidbase serve, driven in a headless Chromium as a person would', async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  const { server, url } = process.env.ACIDBASE_URL ? { server: null, url: process.env.ACIDBASE_URL } : startServer();
  const base = await url;
  const browser = await chromium.launchPersistentContext(path.join(TMP, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1366, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const coordinatorCrash = readFileSync(path.join(ROOT, 'scenarios/2pc-coordinator-crash.ron'), 'utf8');

  try {
    await t.test('loads, runs 2pc-coordinator-crash, and shows the counts `acidbase run` prints', async () => {
      await page.goto(base);
      await page.waitForFunction(() => document.body.dataset.ready === 'yes');
      await andRun(page, () => page.selectOption('#scenario-select', '2pc-coordinator-crash'));
      assert.equal(await andRun(page, () => page.click('#run')), '');
      const cli_ = cli('run', 'scenarios/2pc-coordinator-crash.ron', '--format', 'json');
      assert.equal(await count(page, 'locks.blocked'), cli_.locks.blocked);
      assert.ok(cli_.locks.blocked >= 3, 'the coordinator crash blocks the three RMs');
      assert.equal(await count(page, 'txns.committed'), cli_.txns.committed);
      assert.equal(await digest(page), cli_.digest);
      assert.match(await page.textContent('#story'), /\S/);
      assert.ok(await page.locator('#diagram g.msg').count() > 10, 'the diagram draws the messages');
      assert.equal(await page.locator('#diagram g.crash').count(), 1, 'the TM\'s crash is drawn');
      await shot(page, '01-run-2pc-coordinator-crash');
    });

    let blockedBefore;
    await t.test('a crash added with the controls changes the count; the same seed replays it', async () => {
      blockedBefore = await count(page, 'locks.blocked');
      await page.selectOption('#add-crash-node', 'rm1');
      await page.fill('#add-crash-at', '12');
      await page.fill('#add-crash-restart', '1200');
      assert.equal(await andRun(page, () => page.click('#add-crash')), '');
      assert.equal(await page.locator('#fault-list li[data-fault="crash"]').count(), 1);
      const first = await digest(page);
      assert.equal(await andRun(page, () => page.click('#run')), '');
      assert.equal(await digest(page), first, 're-running with the same seed gives the same digest');
      const blocked = await count(page, 'locks.blocked');
      assert.notEqual(blocked, blockedBefore, 'crashing rm1 too changes how many locks are blocked');
      // The same crash written into the file by hand runs to the same digest.
      const edited = coordinatorCrash.replace('crashes: [(node: "tm", at_ms: 15, restart_ms: 900)]',
        'crashes: [(node: "tm", at_ms: 15, restart_ms: 900), (node: "rm1", at_ms: 12, restart_ms: 1200)]');
      assert.notEqual(edited, coordinatorCrash);
      const file = path.join(TMP, 'by-hand.ron');
      writeFileSync(file, edited);
      const byHand = cli('run', file, '--format', 'json');
      assert.equal(await digest(page), byHand.digest);
      assert.equal(blocked, byHand.locks.blocked);
      assert.equal(await page.locator('#diagram g.crash').count(), 2, 'both crashes are drawn');
      await shot(page, '02-crash-added');
    });

    await t.test('the downloaded RON replays on the command line to the digest on the page', async () => {
      const file = await download(page, 'lab-crash.ron');
      const replay = cli('run', file, '--format', 'json');
      assert.equal(replay.digest, await digest(page));
      assert.equal(replay.locks.blocked, await count(page, 'locks.blocked'));
    });

    await t.test('a message clicked in the diagram can be lost; the run changes and still replays', async () => {
      const before = await digest(page);
      const hovered = await clickMessage(page, /tm → rm2[^\n]*\n[^\n]*Prepare/);
      assert.match(hovered.title, /txn/, 'the tooltip holds the message\'s fields');
      assert.ok(await page.locator('#detail').isVisible(), 'clicking a message shows it');
      assert.match(await page.textContent('#detail-text'), /tm → rm2/);
      assert.equal(await andRun(page, () => page.click('#lose-this')), '');
      assert.equal(await page.locator('#fault-list li[data-fault="lose"]').count(), 1);
      assert.notEqual(await digest(page), before, 'losing the Prepare changes the run');
      assert.ok(await page.locator(`#diagram g.msg[data-send="${hovered.send}"] line.arrow.lost`).count() >= 1,
        'the lost message is drawn lost');
      const replay = cli('run', await download(page, 'lab-lose.ron'), '--format', 'json');
      assert.equal(replay.digest, await digest(page));
      await shot(page, '03-message-lost');
    });

    await t.test('2pc and 3pc side by side on the same faults', async () => {
      assert.equal(await andRun(page, () => page.selectOption('#compare-protocol', '3pc')), '');
      assert.ok(await page.locator('#column-b').isVisible());
      const file = await download(page, 'lab-compare.ron');
      const threePc = cli('run', file, '--protocol', '3pc', '--format', 'json');
      assert.equal(await digest(page, '-b'), threePc.digest);
      assert.equal(await count(page, 'locks.blocked', '-b'), threePc.locks.blocked);
      assert.match(await page.textContent('#title-b'), /3pc/);
      assert.ok(await page.locator('#counts tr.differs').count() > 0, 'the rows that differ are marked');
      await page.click('#toggle-controls');
      assert.ok(!(await page.locator('#controls').isVisible()), 'the left column hides, for room');
      await page.evaluate(() => { document.getElementById('scroll').scrollTop = 0; });
      await shot(page, '04-side-by-side-2pc-3pc');
      await page.click('#toggle-controls');
      assert.ok(await page.locator('#controls').isVisible());
      await andRun(page, () => page.selectOption('#compare-protocol', ''));
      assert.ok(!(await page.locator('#column-b').isVisible()));
    });

    await t.test('filter by transaction, zoom in time, step event by event', async () => {
      const height = () => page.getAttribute('#diagram', 'height').then(Number);
      const cut = await height();
      await page.uncheck('#compress');
      const uncut = await height();
      assert.ok(uncut > cut, `the quiet stretches drawn in full (${uncut} px) take more room than cut (${cut} px)`);
      await page.click('#zoom-in');
      assert.ok(await height() > 1.9 * uncut - 100, 'zooming in stretches time twice');
      await page.click('#zoom-out');
      await page.check('#compress');
      const all = await page.locator('#diagram g.msg').count();
      await page.selectOption('#txn-filter', '0');
      const one = await page.locator('#diagram g.msg').count();
      assert.ok(one > 0 && one < all, `txn 0 has ${one} of the ${all} messages`);
      await page.click('#step-next');
      await page.click('#step-next');
      await page.click('#step-next');
      assert.match(await page.textContent('#step-label'), /^line \d+ of \d+/);
      assert.equal(await page.locator('#diagram .current').count(), 1, 'the stepped event is marked');
      await page.click('#step-prev');
      assert.equal(await page.locator('#diagram .current').count(), 1);
      await shot(page, '05-txn-0-stepped');
      await page.selectOption('#txn-filter', '');
    });

    await t.test('a partition added with the controls is drawn and replays', async () => {
      await andRun(page, () => page.selectOption('#scenario-select', '2pc-happy'));
      assert.equal(await page.locator('#fault-list li[data-fault]').count(), 0, 'a new scenario starts without added faults');
      await page.fill('#add-partition-groups', 'tm rm1 client | rm2 rm3');
      await page.fill('#add-partition-from', '20');
      await page.fill('#add-partition-to', '300');
      assert.equal(await andRun(page, () => page.click('#add-partition')), '');
      assert.ok(await page.locator('#diagram g.partition').count() >= 1, 'the partition is drawn');
      const replay = cli('run', await download(page, 'lab-partition.ron'), '--format', 'json');
      assert.equal(replay.digest, await digest(page));
      assert.equal(replay.network.dropped, await count(page, 'network.dropped'));
      await shot(page, '06-partition-added');
    });

    await t.test('a seed typed in runs as `acidbase run --seed` does, up to the largest u64', async () => {
      await andRun(page, () => page.selectOption('#scenario-select', '2pc-coordinator-crash'));
      for (const seed of ['7', '18446744073709551615']) {
        await page.fill('#seed', seed);
        assert.equal(await andRun(page, () => page.click('#run')), '');
        const cli_ = cli('run', 'scenarios/2pc-coordinator-crash.ron', '--seed', seed, '--format', 'json');
        assert.equal(await digest(page), cli_.digest, `seed ${seed}`);
      }
      await page.fill('#seed', '');
    });

    await t.test('a broken scenario is refused with its line and column next to the editor', async () => {
      await page.click('#editor-box summary');
      const broken = coordinatorCrash.replace('rms: 3,', 'rms: three,');
      await page.fill('#scenario-text', broken);
      const error = await andRun(page, () => page.click('#run'));
      assert.match(error, /line \d+, column \d+/);
      const line = broken.split('\n').findIndex((l) => l.includes('rms: three')) + 1;
      assert.match(error, new RegExp(`line ${line},`));
      await shot(page, '07-error-line-column');
      await page.click('#editor-box summary');
    });

    await t.test('a counterexample opened from a file runs as shrink found it, and steps', async () => {
      const file = path.join(ROOT, 'book/src/figures/2pc-unsafe-timeout-counterexample.ron');
      assert.equal(await andRun(page, () => page.setInputFiles('#counterexample-file', file)), '');
      const cli_ = cli('run', file, '--format', 'json');
      assert.equal(await digest(page), cli_.digest);
      assert.ok(cli_.violations.atomicity > 0);
      assert.equal(await count(page, 'violations.atomicity'), cli_.violations.atomicity);
      assert.match(await page.textContent('#step-label'), /^line \d+ of/, 'opening it steps to its first event');
      for (let n = 0; n < 12; n++) await page.click('#step-next');
      assert.equal(await page.locator('#diagram .current').count(), 1);
      await shot(page, '08-counterexample-stepped');
    });

    assert.deepEqual(pageErrors, [], 'the page threw no errors');
  } finally {
    await browser.close();
    if (server) server.kill();
    rmSync(TMP, { recursive: true, force: true });
    if (shots.length) console.log(`screenshots:\n  ${shots.join('\n  ')}`);
  }
});
