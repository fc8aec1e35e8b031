// The dashboard in a real browser (Debian's chromium, driven by
// playwright-core) against a real `jobwarden up`: a server with tokens, a
// supervised worker, command handlers in Python. Run by ctest (BrowserTest)
// through scripts/browser_test.sh; screenshots of every view, at 1280x800
// and at a phone's 390x844, are kept in $JOBWARDEN_ARTIFACTS.
//
// Waits poll with generous bounds; nothing here asserts a duration.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.JOBWARDEN_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.JOBWARDEN_ARTIFACTS || path.join(os.tmpdir(), 'jobwarden-browser-artifacts');
const ADMIN = 'admin-token-browser-0123456789';
const READ = 'read-token-browser-0123456789';
const WORKER = 'worker-token-browser-0123456789';

let dir;
let up;
let url;
let browser;

async function until(what, fn, timeoutMs = 30000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function api(method, p, body, tok = ADMIN) {
  if (body === undefined && method === 'POST') body = {};
  const res = await fetch(url + p, {
    method,
    headers: { Authorization: `Bearer ${tok}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function enqueue(spec) {
  const r = await api('POST', '/v1/jobs', spec);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

const job = async (id) => (await api('GET', `/v1/jobs/${id}`)).body;

// Alive means running or sleeping: a zombie waiting for its reaper is gone.
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function openPage(tok, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  if (tok) await context.addInitScript((t) => sessionStorage.setItem('jobwarden.token', t), tok);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.errors = errors;
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function view(page, hash) {
  await page.goto(`${url}/${hash}`);
  await page.locator('#conn.live').waitFor({ timeout: 20000 });
  await page.locator('main .body').waitFor();
  await until(`${hash} to load`, async () => !(await page.locator('main .body').innerText()).includes('loading…'), 20000);
}

before(async () => {
  assert.ok(BIN, 'JOBWARDEN_BIN must name the jobwarden binary');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jw-browser-'));
  const handler = (name) => JSON.stringify(['python3', path.join(HERE, 'handlers', name)]);
  fs.writeFileSync(path.join(dir, 'jobwarden.toml'), `
[server]
listen = "127.0.0.1:0"
tokens = { admin = "${ADMIN}", read = "${READ}", worker = "${WORKER}" }

[worker]
concurrency = 8
lease_ttl = "6s"
grace = "1s"

[kinds.steps]
command = ${handler('steps.py')}
timeout = "120s"

[kinds.risky]
command = ${handler('steps.py')}
timeout = "60s"

[kinds.tree]
command = ${handler('tree.py')}
timeout = "300s"

[kinds.fails]
command = ${handler('fail.py')}
max_attempts = 1

[kinds.quick]
command = ["sh", "-c", "exit 0"]

[resources."api:example"]
concurrency = 2

[schedules.nightly]
cron = "0 3 * * *"
kind = "quick"
`);
  up = spawn(BIN, ['up', '--config', path.join(dir, 'jobwarden.toml'), '--db', path.join(dir, 'jw.db')], {
    stdio: ['ignore', fs.openSync(path.join(dir, 'up.log'), 'w'), fs.openSync(path.join(dir, 'up.log'), 'a')],
  });
  const discovery = path.join(dir, 'server.json');
  url = await until('server.json', () => fs.existsSync(discovery) && JSON.parse(fs.readFileSync(discovery, 'utf8')).url, 30000);
  await until('the server to be ready', async () => (await fetch(`${url}/readyz`)).ok);
  await until('a worker to register', async () => (await api('GET', '/v1/workers')).body.workers.some((w) => !w.stopped_at));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (up && up.exitCode === null) {
    up.kill('SIGTERM');
    await until('jobwarden up to stop', () => up.exitCode !== null || up.signalCode !== null, 30000).catch(() => up.kill('SIGKILL'));
  }
  if (dir && !process.env.JOBWARDEN_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard', () => {
  test('asks for a token, then shows the overview with the queues', async () => {
    for (let i = 0; i < 3; i++) await enqueue({ kind: 'quick' });
    const page = await openPage(null);
    await page.goto(`${url}/`);
    await page.locator('form.login input[name=token]').fill(ADMIN);
    await page.locator('form.login button[type=submit]').click();
    await page.locator('#conn.live').waitFor({ timeout: 20000 });
    const row = page.locator('tr[data-queue=default]');
    await row.waitFor();
    await until('the succeeded count to reach 3', async () => Number((await page.locator('.card.state-succeeded .n').innerText()).replace(/\D/g, '')) >= 3);
    assert.match(await page.locator('#role').innerText(), /admin/);
    assert.ok(await row.locator('button[data-action=pause]').isVisible(), 'an admin sees the pause action');
    await shot(page, 'overview');
    // The one 401 is the page asking who it is before it had the token.
    assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
    await page.context().close();
  });

  test('a running job\'s progress bar moves without a reload', async () => {
    const id = await enqueue({ kind: 'steps', args: { total: 60, per_item_s: 0.25 } });
    const page = await openPage(ADMIN);
    await view(page, '#/running');
    const bar = page.locator(`tr[data-job-id="${id}"] [role=progressbar]`);
    await bar.waitFor({ timeout: 30000 });
    await page.evaluate(() => { window.__noReload = true; });
    const first = Number(await bar.getAttribute('aria-valuenow'));
    await until('the progress to move', async () => Number(await bar.getAttribute('aria-valuenow')) > first + 2);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
    const row = page.locator(`tr[data-job-id="${id}"]`);
    assert.match(await row.innerText(), /left/, 'the lease shows its time left');
    assert.match(await row.innerText(), /timeout in/, 'the nearest limit is shown');
    await shot(page, 'running');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('an at-risk job is flagged before its timeout', async () => {
    // 200 items at 0.5 s: about 100 s of work under a 60 s timeout.
    const id = await enqueue({ kind: 'risky', args: { total: 200, per_item_s: 0.5 } });
    const page = await openPage(ADMIN);
    await view(page, '#/running');
    const badge = page.locator(`tr[data-job-id="${id}"] .badge.at-risk`);
    await badge.waitFor({ timeout: 30000 });
    const j = await job(id);
    assert.equal(j.state, 'running', 'flagged while it still runs');
    assert.ok(Date.parse(j.started_at) + j.timeout_s * 1000 > Date.now(), 'flagged before the timeout');
    assert.equal(j.at_risk.limit, 'timeout');
    assert.match(await badge.innerText(), /at risk: timeout/);
    await shot(page, 'running-at-risk');
    await view(page, `#/job/${id}`);
    assert.match(await page.locator('.risk-text').innerText(), /after its timeout/);
    await shot(page, 'job-at-risk');
    assert.equal((await api('POST', `/v1/jobs/${id}/cancel`)).status, 200);
    await page.context().close();
  });

  test('cancelling a running command job from the page ends it as cancelled, its process tree gone', async () => {
    const pidfile = path.join(dir, 'tree.pids');
    const id = await enqueue({ kind: 'tree', args: { pidfile } });
    const pids = await until('the handler to write its pids', () => fs.existsSync(pidfile) && JSON.parse(fs.readFileSync(pidfile, 'utf8')));
    assert.ok(pids.every(alive), 'the whole tree runs');
    const page = await openPage(ADMIN);
    await view(page, `#/job/${id}`);
    await page.locator('.job[data-state=running]').waitFor();
    await page.locator('.titlebar button[data-action=cancel]').click();
    await page.locator('dialog#confirm[open]').waitFor();
    assert.match(await page.locator('#confirm-text').innerText(), /process tree is killed/);
    await page.locator('#confirm-ok').click();
    await page.locator('.toast').first().waitFor();
    await until('the job to end cancelled', async () => (await job(id)).state === 'cancelled');
    await until('every process of the tree to be gone', () => pids.every((p) => !alive(p)));
    await page.locator('.job[data-state=cancelled]').waitFor({ timeout: 20000 });
    await shot(page, 'job-cancelled');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('a filter on a field of args finds its jobs, and cancel reaches all it matches, on every page', async () => {
    // A queue no worker serves: the jobs wait. 105 of customer 7 (more than a page), 3 of customer 8.
    const seven = [];
    for (let i = 0; i < 105; i += 1) seven.push(await enqueue({ kind: 'quick', queue: 'parked', args: { customer_id: 7, n: i } }));
    const eight = [];
    for (let i = 0; i < 3; i += 1) eight.push(await enqueue({ kind: 'quick', queue: 'parked', args: { customer_id: 8 } }));
    const page = await openPage(ADMIN);
    await view(page, `#/jobs?queue=parked&args=${encodeURIComponent('customer_id=7')}`);
    await until('a full page of customer 7', async () => (await page.locator('tr[data-job-id]').count()) === 100);
    const shown = await page.locator('tr[data-job-id]').evaluateAll((rows) => rows.map((r) => r.dataset.jobId));
    assert.ok(shown.every((id) => seven.includes(id)), 'only customer 7 is listed');
    assert.equal(await page.locator('input[name=args]').inputValue(), 'customer_id=7');
    await shot(page, 'jobs-filtered');
    await page.locator('button[data-action=bulk-cancel]').click();
    await page.locator('dialog#confirm[open]').waitFor();
    assert.match(await page.locator('#confirm-text').innerText(), /args\.customer_id = 7/);
    await page.locator('#confirm-ok').click();
    await until('the result', async () => /Cancel: 105 of 105/.test(await page.locator('.toast').last().innerText()));
    for (const id of seven) assert.equal((await job(id)).state, 'cancelled', id);
    for (const id of eight) assert.equal((await job(id)).state, 'available', `${id} is not customer 7's`);
    await until('the page to show them cancelled', async () => (await page.locator('tr[data-job-id] .badge[class*="state-"]').allInnerTexts()).every((t) => t === 'cancelled'));
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('failures are grouped by pattern', async () => {
    const ids = [];
    for (const host of ['db-1', 'db-7', 'db-12']) ids.push(await enqueue({ kind: 'fails', args: { host } }));
    await until('the failing jobs to fail', async () => (await Promise.all(ids.map(job))).every((j) => j.state === 'failed'));
    const page = await openPage(ADMIN);
    await view(page, '#/failures');
    const row = page.locator('tr', { hasText: 'connection refused by' });
    await row.first().waitFor();
    assert.equal(await row.count(), 1, 'three messages that differ in a number are one group');
    assert.match(await row.innerText(), /^3\b/);
    await shot(page, 'failures');
    await view(page, `#/job/${ids[0]}`);
    assert.match(await page.locator('ol.timeline').innerText(), /connection refused by db-1:5432/);
    await shot(page, 'job-failed');
    await page.context().close();
  });

  test('a batch shows its members finishing live', async () => {
    const page = await openPage(ADMIN);
    await view(page, '#/batches');
    const r = await api('POST', '/v1/batches', {
      name: 'three steps',
      jobs: [1, 2, 3].map((n) => ({ kind: 'steps', args: { total: 4 * n, per_item_s: 0.25 } })),
      callback: { kind: 'quick' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const bid = r.body.id;
    await page.locator(`tr[data-batch-id="${bid}"]`).waitFor({ timeout: 20000 });
    await view(page, `#/batch/${bid}`);
    assert.equal(await page.locator('.batch tr[data-job-id]').count(), 3);
    await page.locator('.batch[data-state=succeeded]').waitFor({ timeout: 60000 });
    assert.equal(await page.locator('.batch tr[data-job-id] .state-succeeded').count(), 3);
    await shot(page, 'batch');
    await page.context().close();
  });

  test('resources, workers and schedules render their data; the overview has the latency breakdown', async () => {
    const quick = await enqueue({ kind: 'quick', resource_key: 'api:example' });
    await until('the quick job to finish', async () => (await job(quick)).state === 'succeeded');
    const page = await openPage(ADMIN);
    await view(page, '#/');
    // The jobs the earlier tests ran, per queue and kind: started, finished, p50 / p95.
    const row = page.locator('tr[data-latency="default/quick"]');
    await row.waitFor({ timeout: 20000 });
    assert.match(await row.innerText(), /\d+ ms|\ds/, 'times are shown');
    await shot(page, 'overview-latency');
    await view(page, '#/resources');
    await page.locator('tr[data-resource="api:example"]').waitFor();
    assert.match(await page.locator('tr[data-resource="api:example"]').innerText(), /closed/);
    await shot(page, 'resources');
    await view(page, '#/workers');
    const w = page.locator('tr[data-worker-id]').first();
    await w.waitFor();
    assert.match(await w.innerText(), /\/ 8/, 'slots busy / total');
    await shot(page, 'workers');
    await view(page, '#/schedules');
    assert.match(await page.locator('tr[data-schedule=nightly]').innerText(), /0 3 \* \* \*/);
    await shot(page, 'schedules');
    await view(page, '#/jobs?state=succeeded');
    assert.ok(await page.locator('tr[data-job-id]').count() >= 3);
    await shot(page, 'jobs');
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('a read token sees everything and no action; the API refuses the action with 403', async () => {
    const id = await enqueue({ kind: 'steps', args: { total: 200, per_item_s: 0.25 } });
    const page = await openPage(READ);
    await view(page, '#/running');
    await page.locator(`tr[data-job-id="${id}"]`).waitFor({ timeout: 30000 });
    assert.match(await page.locator('#role').innerText(), /read only/);
    assert.equal(await page.locator('button.action').count(), 0, 'no action on the running view');
    await view(page, '#/');
    await page.locator('tr[data-queue=default]').waitFor();
    assert.equal(await page.locator('button.action').count(), 0, 'no action on the overview');
    await view(page, `#/job/${id}`);
    assert.equal(await page.locator('button.action').count(), 0, 'no action on the job');
    const refused = await page.evaluate(async (jobId) => {
      const res = await fetch(`/v1/jobs/${jobId}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${sessionStorage.getItem('jobwarden.token')}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      return { status: res.status, body: await res.json() };
    }, id);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'forbidden');
    assert.equal((await job(id)).state, 'running', 'the refused action changed nothing');
    await shot(page, 'read-only');
    assert.equal((await api('POST', `/v1/jobs/${id}/cancel`)).status, 200);
    await page.context().close();
  });

  test('a frozen worker\'s lease turns red on the page, then the job is handed back', async () => {
    const id = await enqueue({ kind: 'steps', args: { total: 400, per_item_s: 0.25 } });
    await until('the job to run', async () => (await job(id)).state === 'running');
    const owner = (await job(id)).worker_id;
    const worker = (await api('GET', '/v1/workers')).body.workers.find((w) => w.id === owner);
    const page = await openPage(ADMIN);
    await view(page, '#/running');
    const lease = page.locator(`tr[data-job-id="${id}"] .lease`);
    await lease.waitFor();
    assert.match(await lease.getAttribute('class'), /lease ok/, 'a renewed lease is green');
    // SIGSTOP: the worker's connection stays open but it renews nothing.
    process.kill(worker.pid, 'SIGSTOP');
    try {
      await until('the lease to turn red', async () => /lease (danger|expired)/.test(await lease.getAttribute('class')), 20000);
      await shot(page, 'running-lease-red');
      await until('the job to be taken back', async () => (await job(id)).errors.some((e) => e.class === 'lease_expired'), 30000);
    } finally {
      process.kill(worker.pid, 'SIGCONT');
    }
    assert.equal((await api('POST', `/v1/jobs/${id}/cancel`)).status, 200);
    await page.context().close();
  });

  test('a page of another origin may not act, even with no token to steal', async () => {
    const page = await openPage(ADMIN);
    await view(page, '#/');
    // A cross-site request carries Sec-Fetch-Site: cross-site; the server refuses it.
    const r = await fetch(`${url}/v1/queues/default/pause`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
      body: '{}',
    });
    assert.equal(r.status, 403);
    assert.equal((await api('GET', '/v1/queues/default')).body.paused, false);
    const csp = (await fetch(`${url}/`)).headers.get('content-security-policy');
    assert.match(csp, /frame-ancestors 'none'/);
    await page.context().close();
  });

  test('every view works at a phone\'s 390x844', async () => {
    const page = await openPage(ADMIN, { width: 390, height: 844 });
    const running = await enqueue({ kind: 'steps', args: { total: 100, per_item_s: 0.25 } });
    for (const [hash, name] of [['#/', 'overview'], ['#/running', 'running'], [`#/job/${running}`, 'job'], ['#/jobs', 'jobs'],
      ['#/failures', 'failures'], ['#/batches', 'batches'], ['#/resources', 'resources'], ['#/workers', 'workers'],
      ['#/schedules', 'schedules']]) {
      await view(page, hash);
      const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
      assert.ok(scroll <= width + 1, `${hash}: the page does not scroll sideways (${scroll} > ${width}); tables scroll in their box`);
      assert.ok(await page.locator('#nav a[data-view=running]').isVisible(), `${hash}: the navigation is reachable`);
      await shot(page, `phone-${name}`);
    }
    assert.equal((await api('POST', `/v1/jobs/${running}/cancel`)).status, 200);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
});
