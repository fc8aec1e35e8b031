// The jobwarden dashboard (docs/dashboard.md): plain ES modules, no build
// step. Each view loads what it shows from the API, then stays current from
// the live event stream (/v1/events); events are applied to the view's data
// as they come and the page is redrawn at most 4 times a second, so a busy
// server costs the browser a bounded amount of work. What the stream does not
// carry (lease renewals, worker last-seen, resource statistics) is re-read on
// a slow timer by the views that show it.
import { ApiError, api, del, get, openEvents, post, serverNow, setToken, token } from './api.js';
import {
  confirmAction, duration, h, jobLink, json, link, ms, number, progressBar, sparkline, stateBadge, table, time, toast,
} from './ui.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const STATES = ['scheduled', 'available', 'running', 'succeeded', 'failed', 'cancelled'];
let role = null;
const isAdmin = () => role === 'admin';

// --- throughput, counted from the stream since the page opened -------------
const BUCKET_S = 10;
const BUCKETS = 60;
const throughput = { finished: new Array(BUCKETS).fill(0), failed: new Array(BUCKETS).fill(0), at: Math.floor(Date.now() / 1000 / BUCKET_S) };
function countFinished(to) {
  const now = Math.floor(Date.now() / 1000 / BUCKET_S);
  while (throughput.at < now) {
    throughput.finished.shift(); throughput.finished.push(0);
    throughput.failed.shift(); throughput.failed.push(0);
    throughput.at += 1;
  }
  throughput.finished[BUCKETS - 1] += 1;
  if (to === 'failed') throughput.failed[BUCKETS - 1] += 1;
}

// --- helpers -----------------------------------------------------------------
// Runs `fn` at most once per `interval` ms, later calls folded into one.
function throttle(fn, interval) {
  let timer = null;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + interval - Date.now());
    timer = setTimeout(async () => {
      last = Date.now();
      try { await fn(); } finally { timer = null; }
    }, wait);
  };
}

function actionButton(label, action, run, cls = '') {
  return h('button', {
    class: `action ${cls}`,
    dataset: { action },
    onclick: async (ev) => {
      ev.preventDefault();
      const btn = ev.currentTarget;
      btn.disabled = true;
      try { await run(); } finally { btn.disabled = false; }
    },
  }, label);
}

async function act(question, call, done) {
  if (!(await confirmAction(question))) return;
  try {
    const out = await call();
    toast(done(out));
    current?.reload?.();
  } catch (e) {
    toast(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e), 'error');
  }
}

function cancelJob(job) {
  return act(
    job.state === 'running'
      ? `Cancel running job ${job.id} (${job.kind})? Its handler is asked to stop; a command's process tree is killed after the grace period.`
      : `Cancel job ${job.id} (${job.kind})?`,
    () => post(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`),
    (j) => `job ${j.id}: ${j.state === 'cancelled' ? 'cancelled' : 'cancel requested'}`);
}
function retryJob(job) {
  return act(`Run job ${job.id} (${job.kind}) again?`, () => post(`/v1/jobs/${encodeURIComponent(job.id)}/retry`),
    (j) => `job ${j.id}: ${j.state}`);
}
function deleteJob(job) {
  return act(`Delete job ${job.id} (${job.kind})? This cannot be undone.`, () => del(`/v1/jobs/${encodeURIComponent(job.id)}`),
    () => `job ${job.id} deleted`);
}

function jobActions(job) {
  if (!isAdmin()) return null;
  return h('span', { class: 'actions' },
    !TERMINAL.has(job.state) ? actionButton('Cancel', 'cancel', () => cancelJob(job), 'danger') : null,
    job.state === 'failed' || job.state === 'cancelled' ? actionButton('Retry', 'retry', () => retryJob(job)) : null,
    job.state !== 'running' ? actionButton('Delete', 'delete', () => deleteJob(job), 'danger') : null);
}

// The limits that can stop a running job, nearest first: {name, at (ms)}.
function limits(job) {
  const out = [];
  const started = ms(job.started_at);
  if (started && job.timeout_s) out.push({ name: 'timeout', at: started + job.timeout_s * 1000 });
  if (job.deadline_at) out.push({ name: 'deadline', at: ms(job.deadline_at) });
  if (job.stall_timeout_s) {
    const last = ms(job.progress?.updated_at) || started;
    if (last) out.push({ name: 'stall_timeout', at: last + job.stall_timeout_s * 1000 });
  }
  return out.sort((a, b) => a.at - b.at);
}

// Items per second: over the progress reports seen in the last 30 s, or the
// attempt's average when there is only one.
const rateSamples = new Map();
function noteProgress(id, p) {
  if (!p) return;
  const samples = rateSamples.get(id) || [];
  samples.push({ t: ms(p.updated_at) || serverNow(), done: p.done });
  while (samples.length > 2 && samples[0].t < samples[samples.length - 1].t - 30000) samples.shift();
  rateSamples.set(id, samples);
}
function rate(job) {
  const s = rateSamples.get(job.id);
  if (s && s.length >= 2) {
    const a = s[0];
    const b = s[s.length - 1];
    if (b.t > a.t) return ((b.done - a.done) * 1000) / (b.t - a.t);
  }
  const p = job.progress;
  const started = ms(job.started_at);
  const at = ms(p?.updated_at);
  if (p && started && at > started) return (p.done * 1000) / (at - started);
  return null;
}

function leaseCell(job) {
  const exp = ms(job.lease_expires_at);
  const hb = ms(job.heartbeat_at);
  if (!exp) return '—';
  const now = serverNow();
  const left = (exp - now) / 1000;
  const ttl = hb ? (exp - hb) / 1000 : null;
  // Red as the lease nears its end. A healthy worker renews it every TTL/3,
  // and the view re-reads leases every second, so a healthy lease shows at
  // least about half its TTL left; under a quarter means renewals stopped.
  const frac = ttl ? left / ttl : 1;
  const cls = left <= 0 ? 'lease expired' : frac < 0.25 ? 'lease danger' : frac < 0.45 ? 'lease warn' : 'lease ok';
  return h('span', { class: cls, title: `expires ${job.lease_expires_at}${ttl ? `, TTL ${duration(ttl)}` : ''}` },
    left > 0 ? `${duration(left)} left` : `expired ${duration(-left)} ago`);
}

function heartbeatAge(job) {
  const hb = ms(job.heartbeat_at) || ms(job.started_at);
  return hb ? duration((serverNow() - hb) / 1000) : '—';
}

function nearestLimitCell(job) {
  const l = limits(job)[0];
  if (!l) return h('span', { class: 'muted' }, 'no limit');
  const left = (l.at - serverNow()) / 1000;
  return h('span', { class: left < 0 ? 'limit passed' : 'limit' }, left >= 0 ? `${l.name} in ${duration(left)}` : `${l.name} passed ${duration(-left)} ago (stopping)`);
}

function atRiskBadge(job) {
  if (job.cancel_requested) return h('span', { class: 'badge stopping' }, 'stopping');
  if (!job.at_risk) return h('span', { class: 'badge healthy' }, 'healthy');
  return h('span', { class: 'badge at-risk', title: `projected to finish at ${job.at_risk.projected_finish_at}, after its ${job.at_risk.limit} at ${job.at_risk.limit_at}` },
    `at risk: ${job.at_risk.limit}`);
}

// --- views -------------------------------------------------------------------
// A view: { title, controls?() -> Node (built once), load() (reads the API),
// render() -> Node (redrawn), onEvent?(type, data) -> true to redraw,
// every? {ms, fn} (a slow re-read of what the stream does not carry) }.

function overviewView() {
  let queues = [];
  let latency = { window_s: 300, groups: [] };
  const reload = throttle(async () => { queues = (await get('/v1/queues')).queues; redraw(); }, 1000);
  const readLatency = async () => { latency = await get('/v1/latency?window_s=300'); };
  const latencyText = (x) => (x < 0.01 ? `${(x * 1000).toFixed(1)} ms` : x < 1 ? `${Math.round(x * 1000)} ms` : duration(x));
  const figure = (f) => (f.count ? `${latencyText(f.p50_s)} / ${latencyText(f.p95_s)}` : '—');
  return {
    title: 'Overview',
    async load() { [queues] = await Promise.all([get('/v1/queues').then((r) => r.queues), readLatency()]); },
    reload,
    // The latency breakdown is the server's own window, not an event: re-read it.
    every: { ms: 5000, fn: async () => { await readLatency(); redraw(); } },
    onEvent(type, d) {
      if (type === 'state' || type === 'queue_warning') reload();
      return type === 'state' && TERMINAL.has(d.to);
    },
    render() {
      const last = throughput.finished[BUCKETS - 1] + throughput.finished[BUCKETS - 2];
      const totals = Object.fromEntries(STATES.map((s) => [s, queues.reduce((n, q) => n + (q.counts[s] || 0), 0)]));
      return h('div', null,
        h('section', { class: 'cards' },
          STATES.map((s) => h('div', { class: `card state-${s}` }, h('div', { class: 'n' }, number(totals[s])), h('div', null, s))),
          h('div', { class: 'card chart' }, sparkline(throughput.finished),
            h('div', null, `${(last / (2 * BUCKET_S)).toFixed(1)} finished/s · last 10 min (since this page opened)`))),
        table([
          { title: 'Queue', cell: (q) => h('span', null, q.name, q.paused ? h('span', { class: 'badge paused' }, 'paused') : null) },
          { title: 'Available', cls: 'num', cell: (q) => link(`#/jobs?queue=${encodeURIComponent(q.name)}&state=available`, number(q.counts.available)) },
          { title: 'Scheduled', cls: 'num', cell: (q) => number(q.counts.scheduled) },
          { title: 'Running', cls: 'num', cell: (q) => `${number(q.running)}${q.concurrency ? ` / ${q.concurrency}` : ''}` },
          { title: 'Succeeded', cls: 'num', cell: (q) => number(q.counts.succeeded) },
          { title: 'Failed', cls: 'num', cell: (q) => link(`#/jobs?queue=${encodeURIComponent(q.name)}&state=failed`, number(q.counts.failed)) },
          { title: 'Cancelled', cls: 'num', cell: (q) => number(q.counts.cancelled) },
          { title: 'Oldest available', cell: (q) => duration(q.oldest_available_age_s) },
          { title: 'Warnings', cell: (q) => q.warnings.length ? q.warnings.map((w) => h('div', { class: 'warning' }, w.message || w.reason)) : h('span', { class: 'muted' }, 'none') },
          { title: '', cell: (q) => (isAdmin() ? (q.paused
            ? actionButton('Resume', 'resume', () => act(`Resume queue ${q.name}?`, () => post(`/v1/queues/${encodeURIComponent(q.name)}/resume`), () => `queue ${q.name} resumed`))
            : actionButton('Pause', 'pause', () => act(`Pause queue ${q.name}? Running jobs finish; no new job starts.`, () => post(`/v1/queues/${encodeURIComponent(q.name)}/pause`), () => `queue ${q.name} paused`))) : null) },
        ], queues, { empty: 'no queues yet: enqueue a job', rowData: (q) => ({ queue: q.name }) }),
        h('section', { class: 'latency' },
          h('h2', null, `Latency, last ${Math.round(latency.window_s / 60)} minutes (p50 / p95)`),
          table([
            { title: 'Queue', cell: (g) => g.queue },
            { title: 'Kind', cell: (g) => link(`#/jobs?queue=${encodeURIComponent(g.queue)}&kind=${encodeURIComponent(g.kind)}`, g.kind) },
            { title: 'Started', cls: 'num', cell: (g) => number(g.wait.count) },
            { title: 'Finished', cls: 'num', cell: (g) => number(g.total.count) },
            { title: 'Waiting (due → start)', cls: 'num', cell: (g) => figure(g.wait) },
            { title: 'Run time', cls: 'num', cell: (g) => figure(g.run) },
            { title: 'Enqueue → finish', cls: 'num', cell: (g) => figure(g.total) },
          ], latency.groups, { empty: 'no job started in this window', rowData: (g) => ({ latency: `${g.queue}/${g.kind}` }) })),
        isAdmin() ? maintenance() : null);
    },
  };
}

function maintenance() {
  const older = h('input', { type: 'number', min: 0, value: 60, id: 'reset-older', 'aria-label': 'seconds without a heartbeat' });
  return h('section', { class: 'maintenance' },
    h('h2', null, 'Maintenance'),
    h('div', { class: 'row' },
      h('label', null, 'Running jobs with no heartbeat for ', older, ' s '),
      actionButton('Reset stuck', 'reset-stuck', () => act(
        `Take back every running job whose last heartbeat is older than ${older.value} s? They are handed to another worker.`,
        () => post('/v1/admin/reset-stuck', { older_than_s: Number(older.value) }),
        (r) => `reset ${r.reset_count} job(s)${r.job_ids.length ? `: ${r.job_ids.join(', ')}` : ''}`))),
    h('div', { class: 'row' }, 'Purge every ',
      ['succeeded', 'failed', 'cancelled'].map((s) => actionButton(`${s}`, `purge-${s}`, () => act(
        `Delete every ${s} job in every queue? This cannot be undone.`, () => post('/v1/jobs/delete', { state: s }),
        (r) => `deleted ${number(r.deleted)} ${s} job(s)`), 'danger')), ' job'));
}

function runningView() {
  let jobs = [];
  const read = async () => { jobs = (await get('/v1/jobs?state=running&limit=500')).jobs; jobs.forEach((j) => noteProgress(j.id, j.progress)); };
  const reload = throttle(async () => { await read(); redraw(); }, 1000);
  return {
    title: 'Running',
    load: read,
    reload,
    // Lease renewals are not events: re-read them every second.
    every: { ms: 1000, fn: reload },
    tick: true,
    onEvent(type, d) {
      if (type === 'state' && (d.from === 'running' || d.to === 'running')) {
        if (d.from === 'running') jobs = jobs.filter((j) => j.id !== d.job_id);
        reload();
        return true;
      }
      if (type === 'progress') {
        const j = jobs.find((x) => x.id === d.job_id);
        noteProgress(d.job_id, d.progress);
        if (j) { j.progress = d.progress; return true; }
      }
      return false;
    },
    render() {
      return table([
        { title: 'Job', cell: (j) => jobLink(j.id) },
        { title: 'Kind', cell: (j) => j.kind },
        { title: 'Queue', cell: (j) => j.queue },
        { title: 'Progress', cls: 'wide', cell: (j) => progressBar(j.progress) },
        { title: 'Rate', cls: 'num', cell: (j) => { const r = rate(j); return r === null ? '—' : `${r.toFixed(r < 10 ? 1 : 0)}/s`; } },
        { title: 'Heartbeat', cls: 'num', cell: (j) => heartbeatAge(j) },
        { title: 'Lease', cell: (j) => h('div', null, leaseCell(j), h('div', { class: 'muted small' }, `${j.worker_id || ''}${j.lease_token ? ` · token ${j.lease_token}` : ''}`)) },
        { title: 'Nearest limit', cell: (j) => nearestLimitCell(j) },
        { title: 'Health', cell: (j) => atRiskBadge(j) },
        { title: '', cell: (j) => jobActions(j) },
      ], jobs, { empty: 'nothing is running', rowData: (j) => ({ jobId: j.id }), rowClass: (j) => (j.at_risk ? 'risk' : '') });
    },
  };
}

function jobsView(params) {
  let page = { jobs: [], next_cursor: null };
  const cursors = [];
  let cursor = params.get('cursor') || '';
  const filters = ['state', 'queue', 'kind', 'worker_id', 'tag', 'batch_id'];
  // `args` in the form is "field=value" (customer_id=42): GET /v1/jobs?args.customer_id=42.
  const argsFilter = () => {
    const a = params.get('args') || '';
    const eq = a.indexOf('=');
    return eq > 0 ? { field: a.slice(0, eq).trim().replace(/^args\./, ''), value: a.slice(eq + 1).trim() } : null;
  };
  const query = () => {
    const q = new URLSearchParams();
    for (const f of filters) if (params.get(f)) q.set(f, params.get(f));
    const a = argsFilter();
    if (a) q.set(`args.${a.field}`, a.value);
    q.set('limit', '100');
    if (cursor) q.set('cursor', cursor);
    return q.toString();
  };
  // The same filter as the body of a bulk action (the value as the API reads it: JSON if it parses, else a string).
  const filterBody = () => {
    const body = {};
    for (const f of filters) if (params.get(f)) body[f] = params.get(f);
    const a = argsFilter();
    if (a) {
      let v = a.value;
      try { const parsed = JSON.parse(v); if (parsed !== null && typeof parsed !== 'object') v = parsed; } catch { /* a string */ }
      body.args = { [a.field]: v };
    }
    return body;
  };
  const described = () => Object.entries(filterBody()).map(([k, v]) => (k === 'args' ? Object.entries(v).map(([f, x]) => `args.${f} = ${JSON.stringify(x)}`)[0] : `${k} = ${v}`)).join(', ');
  const read = async () => { page = await get(`/v1/jobs?${query()}`); };
  const reload = throttle(async () => { await read(); redraw(); }, 1000);
  const form = () => {
    const stateSel = h('select', { name: 'state' }, h('option', { value: '' }, 'any state'), STATES.map((s) => h('option', { value: s, selected: params.get('state') === s }, s)));
    const input = (name, ph) => h('input', { name, placeholder: ph, value: params.get(name) || '' });
    return h('form', {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const q = new URLSearchParams();
        for (const [k, v] of new FormData(ev.target)) if (v) q.set(k, v);
        location.hash = `#/jobs?${q}`;
      },
    }, stateSel, input('queue', 'queue'), input('kind', 'kind'), input('worker_id', 'worker'), input('tag', 'tag'),
    input('batch_id', 'batch'), input('args', 'args: field=value'), h('button', { type: 'submit' }, 'Filter'));
  };
  // Every job the filter matches, on every page, in one request the server carries out.
  const bulk = (verb, path, counted, allowed) => actionButton(`${verb} all matching`, `bulk-${verb.toLowerCase()}`, () => {
    const what = described();
    return act(`${verb} every job matching ${what} (all pages)?${verb === 'Delete' ? ' This cannot be undone.' : ''}`,
      () => post(path, filterBody()),
      (r) => `${verb}: ${number(r[counted])} of ${number(r.matched ?? r[counted])} matching job(s)${r.skipped ? `, ${number(r.skipped)} skipped (${allowed})` : ''}`);
  }, 'danger');
  return {
    title: 'Jobs',
    load: read,
    reload,
    controls: form,
    onEvent(type, d) {
      if (type === 'state' && page.jobs.some((j) => j.id === d.job_id)) reload();
      if (type === 'progress') {
        const j = page.jobs.find((x) => x.id === d.job_id);
        if (j) { j.progress = d.progress; return true; }
      }
      return false;
    },
    render() {
      const st = params.get('state');
      return h('div', null,
        table([
          { title: 'Job', cell: (j) => jobLink(j.id) },
          { title: 'Kind', cell: (j) => j.kind },
          { title: 'Queue', cell: (j) => j.queue },
          { title: 'State', cell: (j) => stateBadge(j.state) },
          { title: 'Attempt', cls: 'num', cell: (j) => `${j.attempt} / ${j.max_attempts}` },
          { title: 'Created', cell: (j) => time(j.created_at) },
          { title: 'Last error', cls: 'wide', cell: (j) => { const e = j.errors[j.errors.length - 1]; return e ? `${e.class}: ${e.message}` : ''; } },
          { title: '', cell: (j) => jobActions(j) },
        ], page.jobs, { empty: 'no job matches', rowData: (j) => ({ jobId: j.id }) }),
        h('div', { class: 'pager' },
          cursors.length ? h('button', { onclick: () => { cursor = cursors.pop(); reload(); } }, '← Previous') : null,
          page.next_cursor ? h('button', { onclick: () => { cursors.push(cursor); cursor = page.next_cursor; reload(); } }, 'Next →') : null,
          // A bulk action needs a filter: none reaches every job by mistake.
          isAdmin() && described() ? [
            bulk('Cancel', '/v1/jobs/cancel', 'cancelled', 'already finished'),
            bulk('Retry', '/v1/jobs/retry', 'retried', 'not failed or cancelled'),
            st !== 'running' ? bulk('Delete', '/v1/jobs/delete', 'deleted', 'running') : null,
          ] : null));
    },
  };
}

function jobView(params) {
  const id = params.get('id');
  let job = null;
  const read = async () => { job = await get(`/v1/jobs/${encodeURIComponent(id)}`); noteProgress(job.id, job.progress); };
  const reload = throttle(async () => { await read(); redraw(); }, 500);
  const field = (name, value) => [h('dt', null, name), h('dd', null, value)];
  return {
    title: `Job ${id}`,
    load: read,
    reload,
    tick: true,
    every: { ms: 1000, fn: () => { if (job && job.state === 'running') reload(); } },
    onEvent(type, d) {
      if (d.job_id !== id) return false;
      if (type === 'state') { reload(); return false; }
      if (type === 'progress' && job) { job.progress = d.progress; noteProgress(id, d.progress); return true; }
      return false;
    },
    render() {
      const j = job;
      const running = j.state === 'running';
      return h('div', { class: 'job', dataset: { jobId: j.id, state: j.state } },
        h('div', { class: 'titlebar' }, h('h2', null, `${j.kind} · job ${j.id} `, stateBadge(j.state)), jobActions(j)),
        running ? h('div', { class: 'live' }, progressBar(j.progress), atRiskBadge(j), nearestLimitCell(j),
          j.at_risk ? h('p', { class: 'risk-text' }, `Projected to finish at ${new Date(j.at_risk.projected_finish_at).toLocaleTimeString()}, after its ${j.at_risk.limit} at ${new Date(j.at_risk.limit_at).toLocaleTimeString()}.`) : null) : null,
        h('dl', { class: 'fields' },
          field('Queue', j.queue), field('Priority', j.priority), field('Attempt', `${j.attempt} of ${j.max_attempts}`),
          field('Created', time(j.created_at)), field('Run at', time(j.run_at)), field('Started', time(j.started_at)), field('Finished', time(j.finished_at)),
          field('Timeout', j.timeout_s ? duration(j.timeout_s) : 'none'), field('Stall timeout', j.stall_timeout_s ? duration(j.stall_timeout_s) : 'none'),
          field('Deadline', time(j.deadline_at)),
          field('Worker', j.worker_id || '—'),
          field('Lease', running ? leaseCell(j) : '—'), field('Lease token', running && j.lease_token ? String(j.lease_token) : '—'),
          field('Heartbeat age', running ? heartbeatAge(j) : '—'),
          field('Unique key', j.unique_key || '—'), field('Resource', j.resource_key ? link(`#/resources`, j.resource_key) : '—'),
          field('Batch', j.batch_id ? link(`#/batch/${encodeURIComponent(j.batch_id)}`, j.batch_id) : '—'),
          field('Tags', j.tags.length ? j.tags.join(', ') : '—'),
          j.cancel_requested ? field('Cancel', j.cancel_reason || 'requested') : null),
        !running && j.progress ? h('section', null, h('h3', null, 'Progress'), progressBar(j.progress)) : null,
        h('section', null, h('h3', null, 'Attempts'), j.errors.length === 0
          ? h('p', { class: 'muted' }, running ? `attempt ${j.attempt} is running` : 'no failed attempt')
          : h('ol', { class: 'timeline' }, j.errors.map((e) => h('li', { class: `err class-${e.class}` },
            h('div', null, h('strong', null, `attempt ${e.attempt}`), ' ', h('span', { class: `badge class-${e.class}` }, e.class),
              e.limit ? h('span', { class: 'badge' }, `limit ${e.limit}`) : null, e.counted === false ? h('span', { class: 'muted' }, ' (not counted)') : null,
              ' ', time(e.at)),
            h('div', { class: 'message' }, e.message),
            e.output_tail ? h('details', null, h('summary', null, 'output tail'), h('pre', { class: 'tail' }, e.output_tail)) : null)))),
        h('section', { class: 'two' },
          h('div', null, h('h3', null, 'Args'), json(j.args)),
          h('div', null, h('h3', null, 'Checkpoint'), json(j.checkpoint)),
          h('div', null, h('h3', null, 'Result'), json(j.result))));
    },
  };
}

function failuresView(params) {
  let data = { failures: [] };
  const windows = { '15m': 900, '1h': 3600, '24h': 86400, '7d': 604800 };
  const win = params.get('window') in windows ? params.get('window') : '1h';
  const read = async () => {
    const since = new Date(serverNow() - windows[win] * 1000).toISOString();
    data = await get(`/v1/failures?since=${encodeURIComponent(since)}&limit=100`);
  };
  const reload = throttle(async () => { await read(); redraw(); }, 2000);
  return {
    title: 'Failures',
    load: read,
    reload,
    controls: () => h('div', { class: 'filters' }, 'Failed attempts in the last ',
      Object.keys(windows).map((w) => link(`#/failures?window=${w}`, w === win ? `[${w}]` : w))),
    onEvent(type, d) { if (type === 'state' && d.error_class) reload(); return false; },
    render() {
      return h('div', null,
        data.truncated ? h('p', { class: 'warning' }, 'Only the newest attempts were grouped (the window holds more).') : null,
        table([
          { title: 'Count', cls: 'num', cell: (g) => number(g.count) },
          { title: 'Class', cell: (g) => h('span', { class: `badge class-${g.class}` }, g.class) },
          { title: 'Pattern', cls: 'wide', cell: (g) => h('code', null, g.pattern) },
          { title: 'Kinds', cell: (g) => g.kinds.join(', ') },
          { title: 'First', cell: (g) => time(g.first_at) },
          { title: 'Last', cell: (g) => time(g.last_at) },
          { title: 'Samples', cell: (g) => g.sample_job_ids.map((id) => [jobLink(id), ' ']) },
        ], data.failures, { empty: 'no failed attempt in this window' }));
    },
  };
}

function batchProgress(b) {
  const c = b.counts || {};
  const ended = (c.succeeded || 0) + (c.failed || 0) + (c.cancelled || 0);
  return progressBar({ done: ended, total: b.total, message: `${c.succeeded || 0} succeeded, ${c.failed || 0} failed, ${c.cancelled || 0} cancelled, ${c.running || 0} running` });
}

function batchesView() {
  let batches = [];
  const read = async () => { batches = (await get('/v1/batches?limit=100')).batches; };
  const reload = throttle(async () => { await read(); redraw(); }, 1000);
  return {
    title: 'Batches',
    load: read,
    reload,
    onEvent(type, d) {
      if (type === 'batch') reload();
      if (type === 'state' && batches.some((b) => b.state === 'running')) reload();
      return false;
    },
    render() {
      return table([
        { title: 'Batch', cell: (b) => link(`#/batch/${encodeURIComponent(b.id)}`, b.id) },
        { title: 'Name', cell: (b) => b.name || '—' },
        { title: 'State', cell: (b) => stateBadge(b.state) },
        { title: 'Members', cls: 'wide', cell: (b) => batchProgress(b) },
        { title: 'Deadline', cell: (b) => time(b.deadline_at) },
        { title: 'Callback', cell: (b) => jobLink(b.callback_job_id) },
        { title: 'Parent', cell: (b) => jobLink(b.parent_id) },
      ], batches, { empty: 'no batches', rowData: (b) => ({ batchId: b.id }) });
    },
  };
}

function batchView(params) {
  const id = params.get('id');
  let b = null;
  const read = async () => { b = await get(`/v1/batches/${encodeURIComponent(id)}`); };
  const reload = throttle(async () => { await read(); redraw(); }, 500);
  return {
    title: `Batch ${id}`,
    load: read,
    reload,
    onEvent(type, d) {
      if (type === 'batch' && d.id === id) { b = d.members ? d : b; reload(); }
      if (type === 'state' && b && b.members && b.members.some((m) => m.id === d.job_id)) reload();
      return false;
    },
    render() {
      return h('div', { class: 'batch', dataset: { batchId: b.id, state: b.state } },
        h('h2', null, `Batch ${b.id}${b.name ? ` · ${b.name}` : ''} `, stateBadge(b.state)),
        batchProgress(b),
        h('p', null, 'Deadline ', time(b.deadline_at), ` · at least ${b.min_succeeded ?? b.total} must succeed · callback `, jobLink(b.callback_job_id)),
        table([
          { title: 'Member', cell: (m) => jobLink(m.id) },
          { title: 'Kind', cell: (m) => m.kind },
          { title: 'State', cell: (m) => stateBadge(m.state) },
          { title: 'Resource', cell: (m) => m.resource_key || '—' },
          { title: 'Attempts', cls: 'num', cell: (m) => m.attempts },
          { title: 'Duration', cls: 'num', cell: (m) => duration(m.duration_s) },
          { title: 'Outcome', cls: 'wide', cell: (m) => (m.error ? `${m.error.class}: ${m.error.message}` : m.result ? JSON.stringify(m.result) : '') },
        ], b.members || [], { empty: 'members not listed', rowData: (m) => ({ jobId: m.id }) }));
    },
  };
}

function resourcesView() {
  let resources = [];
  const read = async () => { resources = (await get('/v1/resources')).resources; };
  const reload = throttle(async () => { await read(); redraw(); }, 1000);
  const pct = (x) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
  return {
    title: 'Resources',
    load: read,
    reload,
    every: { ms: 5000, fn: reload },
    onEvent(type) { if (type === 'breaker') reload(); return false; },
    render() {
      return table([
        { title: 'Resource', cell: (r) => r.key },
        { title: 'Running', cls: 'num', cell: (r) => `${number(r.running)}${r.concurrency ? ` / ${r.concurrency}` : ''}` },
        { title: 'Available', cls: 'num', cell: (r) => number(r.available) },
        { title: 'Rate', cell: (r) => r.rate || '—' },
        { title: 'Breaker', cell: (r) => h('span', { class: `badge breaker-${r.breaker.state}` }, r.breaker.state, r.breaker.open_until ? ` until ${new Date(r.breaker.open_until).toLocaleTimeString()}` : '') },
        { title: 'Held until', cell: (r) => time(r.held_until) },
        { title: 'Success (5 min)', cls: 'num', cell: (r) => pct(r.stats.success_rate) },
        { title: 'p50', cls: 'num', cell: (r) => duration(r.stats.p50_s) },
        { title: 'p95', cls: 'num', cell: (r) => duration(r.stats.p95_s) },
      ], resources, { empty: 'no resources: jobs with a resource_key, or [resources.*] in the configuration, appear here', rowData: (r) => ({ resource: r.key }) });
    },
  };
}

function workersView() {
  let workers = [];
  const read = async () => { workers = (await get('/v1/workers')).workers; };
  const reload = throttle(async () => { await read(); redraw(); }, 1000);
  return {
    title: 'Workers',
    load: read,
    reload,
    every: { ms: 5000, fn: reload },
    tick: true,
    render() {
      return table([
        { title: 'Worker', cell: (w) => w.id },
        { title: 'Host', cell: (w) => w.host },
        { title: 'PID', cls: 'num', cell: (w) => w.pid },
        { title: 'Slots busy', cls: 'num', cell: (w) => `${w.busy} / ${w.slots}` },
        { title: 'Queues', cell: (w) => w.queues.join(', ') },
        { title: 'Session', cell: (w) => (w.stopped_at ? h('span', { class: 'muted' }, 'stopped') : w.session_open ? h('span', { class: 'badge healthy' }, 'open') : h('span', { class: 'badge at-risk' }, 'closed')) },
        { title: 'Last seen', cls: 'num', cell: (w) => `${duration((serverNow() - ms(w.last_seen)) / 1000)} ago` },
        { title: 'Started', cell: (w) => time(w.started_at) },
      ], workers, { empty: 'no workers registered', rowData: (w) => ({ workerId: w.id }) });
    },
  };
}

function schedulesView() {
  let schedules = [];
  const read = async () => { schedules = (await get('/v1/schedules')).schedules; };
  const reload = throttle(async () => { await read(); redraw(); }, 1000);
  return {
    title: 'Schedules',
    load: read,
    reload,
    every: { ms: 10000, fn: reload },
    tick: true,
    render() {
      return table([
        { title: 'Schedule', cell: (s) => s.name },
        { title: 'When', cell: (s) => h('code', null, s.cron) },
        { title: 'Time zone', cell: (s) => s.timezone },
        { title: 'Kind', cell: (s) => s.kind },
        { title: 'Queue', cell: (s) => s.queue },
        { title: 'Next fire', cell: (s) => h('span', null, time(s.next_fire_at), s.next_fire_at ? h('span', { class: 'muted' }, ` (in ${duration((ms(s.next_fire_at) - serverNow()) / 1000)})`) : null) },
        { title: 'Last fire', cell: (s) => time(s.last_fire_at) },
        { title: 'Last job', cell: (s) => jobLink(s.last_job_id) },
      ], schedules, { empty: 'no schedules: add [schedules.NAME] to the configuration', rowData: (s) => ({ schedule: s.name }) });
    },
  };
}

const VIEWS = {
  overview: overviewView, running: runningView, jobs: jobsView, job: jobView, failures: failuresView,
  batches: batchesView, batch: batchView, resources: resourcesView, workers: workersView, schedules: schedulesView,
};

// --- the shell ---------------------------------------------------------------
let current = null;
let timers = [];
let dirty = false;
const root = document.getElementById('view');
let body = null;

function redraw() { dirty = true; }
setInterval(() => {
  if (!dirty || !current || !current.loaded) return;
  dirty = false;
  try {
    body.replaceChildren(current.render());
  } catch (e) {
    console.error(e);
  }
}, 250);
// Ages and time left move with the clock.
setInterval(() => { if (current?.tick) redraw(); }, 1000);

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, qs] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(qs || '');
  if (parts[0] === 'job' || parts[0] === 'batch') params.set('id', parts[1] || '');
  return { name: parts[0] || 'overview', params };
}

async function show() {
  timers.forEach(clearInterval);
  timers = [];
  const { name, params } = parseHash();
  const make = VIEWS[name] || VIEWS.overview;
  const view = make(params);
  current = view;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === (name === 'job' ? 'jobs' : name === 'batch' ? 'batches' : name));
  document.title = `${view.title} · jobwarden`;
  body = h('div', { class: 'body' }, h('p', { class: 'muted' }, 'loading…'));
  root.replaceChildren(h('h1', null, view.title), view.controls ? view.controls() : '', body);
  try {
    await view.load();
  } catch (e) {
    if (current !== view) return;
    if (e instanceof ApiError && e.status === 401) return login(e.message);
    body.replaceChildren(h('p', { class: 'error' }, e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)));
    return;
  }
  if (current !== view) return;
  view.loaded = true;
  body.replaceChildren(view.render());
  if (view.every) timers.push(setInterval(view.every.fn, view.every.ms));
}

function login(message) {
  current = null;
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'bearer token', 'aria-label': 'token' });
  root.replaceChildren(h('form', {
    class: 'login',
    onsubmit: (ev) => { ev.preventDefault(); setToken(input.value.trim()); start(); },
  }, h('h1', null, 'Sign in'), h('p', null, message || 'This server needs a token (read or admin).'), input, h('button', { type: 'submit' }, 'Open the dashboard'),
  h('p', { class: 'muted small' }, 'The token stays in this tab (sessionStorage) and is sent as an Authorization header; it is never a cookie.')));
  input.focus();
}

let stopEvents = null;
function onEvent(type, data) {
  if (type === 'state' && data.to && TERMINAL.has(data.to)) countFinished(data.to);
  if (current && current.loaded && current.onEvent && current.onEvent(type, data)) redraw();
}

let wasLive = false;
function onStreamStatus(s) {
  const el = document.getElementById('conn');
  el.className = `conn ${s}`;
  el.textContent = s === 'live' ? 'live' : s === 'unauthorized' ? 'no access to events' : 'reconnecting…';
  // Events may have been missed while the stream was down: read again.
  if (s === 'live' && wasLive && current?.reload) current.reload();
  if (s === 'live') wasLive = true;
}

async function start() {
  try {
    role = (await get('/v1/whoami')).role;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return login(token() ? 'That token is not valid.' : undefined);
    root.replaceChildren(h('p', { class: 'error' }, `The server did not answer: ${e.message}`));
    setTimeout(start, 2000);
    return;
  }
  const roleEl = document.getElementById('role');
  roleEl.replaceChildren(`${role}${role !== 'admin' ? ' (read only)' : ''}`,
    token() ? h('button', { class: 'link', onclick: () => { setToken(''); location.reload(); } }, 'sign out') : '');
  document.body.classList.toggle('admin', isAdmin());
  if (stopEvents) stopEvents();
  stopEvents = openEvents(onEvent, onStreamStatus);
  window.onhashchange = show;
  show();
}

start();
