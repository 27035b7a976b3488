/*
 * api.js - the storefront's only door to the vitrine REST API.
 *
 * Every page talks to the server through these wrappers, so the public key,
 * the anonymous session and error handling live in one place:
 *   - storefront()  GET /v1/storefront (no key): the shop's public key,
 *                   languages and currency, fetched once per page load.
 *   - get/post()    JSON requests with "Authorization: Bearer <public key>"
 *                   and, once there is one, "X-Vitrine-Session: <token>"
 *                   (or an explicit key, for the admin page). A non-2xx
 *                   answer rejects with an ApiError carrying the status and
 *                   the server's {"error": {"code", "message"}}; a 503 (a
 *                   part of the engine not ready yet) has .unavailable set so
 *                   pages can say so plainly.
 *   - session()     the anonymous shopper (POST /v1/session), kept in
 *                   localStorage. It is created only once the shopper has
 *                   agreed to telemetry (telemetry.js asks): before that the
 *                   page holds no identifier at all.
 * Public keys are meant to be embedded in pages (like publishable keys): they
 * can read the catalogue and send events for their own session only.
 */

const SESSION_KEY = 'vt_session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || ('HTTP ' + status));
    this.status = status;
    this.code = code || '';
    this.unavailable = status === 503;
  }
}

let configPromise = null;

/* The storefront configuration; rejects with ApiError when the server
 * cannot give it. Cached for the page's lifetime. */
export function storefront() {
  if (!configPromise) {
    configPromise = fetch('/v1/storefront', { headers: { Accept: 'application/json' } })
      .then(answer)
      .catch((e) => { configPromise = null; throw e; });
  }
  return configPromise;
}

async function answer(res) {
  let body = null;
  const text = await res.text();
  if (text) {
    try { body = JSON.parse(text); } catch (_) { body = null; }
  }
  if (!res.ok) {
    const err = body && body.error ? body.error : {};
    throw new ApiError(res.status, err.code, err.message || res.statusText);
  }
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/* method, path ("/v1/search"), opts {params, body, key, headers, signal}. */
export async function request(method, path, opts = {}) {
  const key = opts.key !== undefined ? opts.key : (await storefront()).public_key;
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  if (key) headers.Authorization = 'Bearer ' + key;
  // With the storefront's key, the shopper's session (if they allowed one)
  // is what lets the server personalise: a public key may only name its
  // own session's user.
  const s = opts.key === undefined ? currentSession() : null;
  if (s && !headers['X-Vitrine-Session']) headers['X-Vitrine-Session'] = s.session_token;
  const init = { method, headers, signal: opts.signal };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path + query(opts.params), init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server could not be reached');
  }
  return answer(res);
}

export function get(path, params, opts = {}) {
  return request('GET', path, Object.assign({}, opts, { params }));
}

export function post(path, body, opts = {}) {
  return request('POST', path, Object.assign({}, opts, { body }));
}

/* The stored anonymous session {user_id, session_token}, or null. */
export function currentSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return s && s.user_id && s.session_token ? s : null;
  } catch (_) {
    return null;
  }
}

/* The anonymous session, created on first use. Call only after consent. */
let sessionPromise = null;
export function session() {
  const s = currentSession();
  if (s) return Promise.resolve(s);
  if (!sessionPromise) {
    sessionPromise = post('/v1/session').then((r) => {
      const s2 = { user_id: r.user_id, session_token: r.session_token };
      localStorage.setItem(SESSION_KEY, JSON.stringify(s2));
      return s2;
    }).finally(() => { sessionPromise = null; });
  }
  return sessionPromise;
}

/* Forget the session (the shopper withdrew consent). */
export function forgetSession() {
  localStorage.removeItem(SESSION_KEY);
}

/* A readable sentence for an error, for pages to show. */
export function describeError(e, t) {
  const tr = t || ((k, fb) => fb);
  if (e && e.unavailable) return tr('error.unavailable', 'This part of the shop is not available yet. Please try again in a moment.');
  if (e && e.status === 0) return tr('error.network', 'The shop could not be reached.');
  if (e && e.status === 404) return tr('error.notfound', 'Not found.');
  return tr('error.generic', 'Something went wrong') + (e && e.message ? ': ' + e.message : '.');
}

/* Escape text for HTML built with template strings. */
export function esc(s) {
  return String(s === undefined || s === null ? '' : s).replace(/[&<>"']/g, (c) => (
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
