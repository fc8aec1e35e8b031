// The API, as the page speaks it: every call carries the bearer token the
// user gave (kept in sessionStorage, so it dies with the tab and is never a
// cookie: no request can ride on it from another site), and errors are
// thrown as ApiError with the server's code and message.

const TOKEN_KEY = 'jobwarden.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// The server's clock minus ours, from the Date header (1 s resolution): ages
// and time left are computed against the server's clock.
let skewMs = 0;
export function serverNow() { return Date.now() + skewMs; }
function noteDate(res) {
  const d = Date.parse(res.headers.get('Date') || '');
  if (!Number.isNaN(d)) {
    const s = d + 500 - Date.now();
    skewMs = Math.abs(s) > 1500 ? s : 0;
  }
}

export async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'unavailable', `the server did not answer: ${e.message}`);
  }
  noteDate(res);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const err = json && json.error ? json.error : { code: 'http_' + res.status, message: text || res.statusText };
    throw new ApiError(res.status, err.code, err.message);
  }
  return json;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const del = (path) => api('DELETE', path);

// GET /v1/events as a stream of {type, data} (Server-Sent Events read with
// fetch, since EventSource cannot send an Authorization header). Coalesced by
// the server: at most one `changes` message per COALESCE_S holding the latest
// event of each job, unpacked here, so a busy server costs the page a few
// messages a second. Reconnects with backoff; onStatus('live' |
// 'reconnecting' | 'unauthorized') says how it goes.
const COALESCE_S = 0.2;

export function openEvents(onEvent, onStatus) {
  let stopped = false;
  let controller = null;
  let delay = 500;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const res = await fetch(`/v1/events?coalesce_s=${COALESCE_S}`, { headers: headers({ Accept: 'text/event-stream' }), signal: controller.signal });
        if (res.status === 401 || res.status === 403) { onStatus('unauthorized'); return; }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onStatus('live');
        delay = 500;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            let type = 'message';
            const data = [];
            for (const line of frame.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (data.length === 0) continue;
            try {
              const parsed = JSON.parse(data.join('\n'));
              if (type === 'changes') for (const ev of parsed.events) onEvent(ev.type, ev.data);
              else onEvent(type, parsed);
            } catch (e) { console.error('event', type, e); }
          }
        }
      } catch (e) {
        if (stopped) return;
        console.warn('event stream:', e.message);
      }
      if (stopped) return;
      onStatus('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
  run();
  return () => { stopped = true; if (controller) controller.abort(); };
}
