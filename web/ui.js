// DOM and formatting helpers. Every value from the server goes into the page
// as text (textContent), never as markup: job args and error messages are
// whatever a user or a handler wrote.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function link(href, text) { return h('a', { href }, text); }
export function jobLink(id) { return id ? link(`#/job/${encodeURIComponent(id)}`, id) : '—'; }

export function table(columns, rows, options = {}) {
  const head = h('tr', null, columns.map((c) => h('th', { class: c.cls }, c.title)));
  const body = rows.length === 0
    ? [h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, options.empty || 'nothing here'))]
    : rows.map((r) => h('tr', { dataset: options.rowData ? options.rowData(r) : undefined, class: options.rowClass ? options.rowClass(r) : undefined },
      columns.map((c) => h('td', { class: c.cls, 'data-label': c.title }, c.cell(r)))));
  return h('div', { class: 'table-wrap' }, h('table', { class: options.cls }, h('thead', null, head), h('tbody', null, body)));
}

// "4.2s", "3m 10s", "2h 5m", "3d 4h"; negative values as "-…".
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const neg = seconds < 0;
  let s = Math.abs(seconds);
  let out;
  if (s < 10) out = `${s.toFixed(1)}s`;
  else if (s < 60) out = `${Math.round(s)}s`;
  else if (s < 3600) out = `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  else if (s < 86400) out = `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  else out = `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
  return neg ? `-${out}` : out;
}

export function ms(t) { return t ? Date.parse(t) : null; }

export function time(t) {
  if (!t) return '—';
  const d = new Date(t);
  return h('time', { datetime: t, title: t }, d.toLocaleString());
}

export function number(n) { return n === null || n === undefined ? '—' : Number(n).toLocaleString(); }

export function json(v) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, 'none');
  return h('pre', { class: 'json' }, JSON.stringify(v, null, 2));
}

export function stateBadge(state) { return h('span', { class: `badge state-${state}` }, state); }

export function progressBar(p) {
  if (!p) return h('span', { class: 'muted' }, 'no progress reported');
  const pct = p.total ? Math.max(0, Math.min(100, (100 * p.done) / p.total)) : null;
  const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': p.total || 0, 'aria-valuenow': p.done });
  const fill = h('div', { class: pct === null ? 'fill indeterminate' : 'fill' });
  if (pct !== null) fill.style.width = `${pct}%`;
  bar.append(fill);
  const label = p.total ? `${number(p.done)} / ${number(p.total)} (${pct.toFixed(0)}%)` : `${number(p.done)} done`;
  return h('div', { class: 'progress' }, bar, h('div', { class: 'progress-label' }, label, p.message ? h('span', { class: 'muted' }, ` · ${p.message}`) : null));
}

// A sparkline of numbers, as SVG (no inline styles: the page's CSP forbids them).
export function sparkline(values, width = 240, height = 40) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  svg.append(line);
  return svg;
}

export function toast(text, kind = 'ok') {
  const t = h('div', { class: `toast ${kind}` }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// A confirmation in the page's own dialog; resolves true when confirmed.
export function confirmAction(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    document.getElementById('confirm-ok').focus();
  });
}
