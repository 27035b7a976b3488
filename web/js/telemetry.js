/*
 * telemetry.js - consent and the shopper's events.
 *
 * Invariant: nothing is sent, and no session is created, before the shopper
 * allows it. Until then track() drops events; the consent banner
 * ([data-testid=consent-banner]) asks once and the choice is kept in
 * localStorage ("vt_consent" = "granted" | "denied"). Allowing creates the
 * anonymous session (api.js); withdrawing forgets it and the queue.
 *
 * What is sent: event type, item id, a number (seconds, quantity) and a
 * small context (the list a click came from as rec_id, the search text, the
 * AR surface "floor" | "wall"). Never camera frames, room meshes or
 * location: <model-viewer> keeps those inside the browser's AR session and
 * this file only listens to its status events.
 *
 * Delivery: events are batched and POSTed to /v1/events at most every
 * FLUSH_MS (at once for a purchase, cart or AR placement). When the page is
 * hidden or left, what is queued goes with navigator.sendBeacon, which
 * cannot set headers: the public key and session token ride in the query
 * (?key=&session=), which the server accepts for public keys on this route
 * only.
 */
import * as api from './api.js';
import { t } from './i18n.js';

const CONSENT_KEY = 'vt_consent';
const FROM_KEY = 'vt_from';
const FLUSH_MS = 1500;
const MAX_BATCH = 50;
const URGENT = new Set(['ar_place', 'add_to_cart', 'purchase', 'dismiss']);

let queue = [];
let timer = null;
let sess = api.currentSession();
let publicKey = null;
const listeners = [];

export function consent() {
  try {
    const c = localStorage.getItem(CONSENT_KEY);
    return c === 'granted' || c === 'denied' ? c : null;
  } catch (_) {
    return null;
  }
}

export function allowed() { return consent() === 'granted'; }

/* cb(state) after every consent change. */
export function onConsentChange(cb) { listeners.push(cb); }

/* The session once consent is given (created if needed), else null. */
export async function activeSession() {
  if (!allowed()) return null;
  if (!sess) sess = await api.session();
  if (!publicKey) publicKey = (await api.storefront()).public_key;
  return sess;
}

async function setConsent(state) {
  try { localStorage.setItem(CONSENT_KEY, state); } catch (_) { /* storage off */ }
  if (state === 'granted') {
    try { await activeSession(); } catch (_) { /* retried at the next flush */ }
  } else {
    queue = [];
    sess = null;
    api.forgetSession();
  }
  hideBanner();
  for (const cb of listeners) {
    try { cb(state); } catch (_) { /* a listener's bug is not ours */ }
  }
}

/* ---- the banner ---- */

function hideBanner() {
  const b = document.querySelector('[data-testid="consent-banner"]');
  if (b) b.remove();
}

export function showBanner() {
  hideBanner();
  const b = document.createElement('section');
  b.className = 'consent';
  b.setAttribute('data-testid', 'consent-banner');
  b.setAttribute('role', 'region');
  b.setAttribute('aria-label', t('consent.change'));
  b.innerHTML = `<div class="inner">
    <p id="consent-text"></p>
    <button type="button" data-testid="consent-accept"></button>
    <button type="button" class="secondary" data-testid="consent-decline"></button>
    <a href="/privacy.html" data-testid="consent-more"></a></div>`;
  b.querySelector('#consent-text').textContent = t('consent.text');
  b.querySelector('[data-testid=consent-accept]').textContent = t('consent.accept');
  b.querySelector('[data-testid=consent-decline]').textContent = t('consent.decline');
  b.querySelector('[data-testid=consent-more]').textContent = t('consent.more');
  b.querySelector('[data-testid=consent-accept]').addEventListener('click', () => setConsent('granted'));
  b.querySelector('[data-testid=consent-decline]').addEventListener('click', () => setConsent('denied'));
  // First in the document (it is drawn fixed at the bottom), so keyboard
  // users reach the choice before the page's links.
  const skip = document.querySelector('.skip-link');
  if (skip) skip.after(b); else document.body.prepend(b);
}

/* ---- events ---- */

/* Queue one event: type, {item_id, value, context}. Dropped without
 * consent. */
export function track(type, opts = {}) {
  if (!allowed()) return;
  const ev = { type };
  if (opts.item_id) ev.item_id = opts.item_id;
  if (typeof opts.value === 'number' && isFinite(opts.value)) ev.value = opts.value;
  if (opts.context && Object.keys(opts.context).length) ev.context = opts.context;
  queue.push(ev);
  if (URGENT.has(type) || queue.length >= MAX_BATCH) flush();
  else if (!timer) timer = setTimeout(flush, FLUSH_MS);
}

/* Send what is queued with fetch; resolves when the server answered. */
export async function flush() {
  if (timer) { clearTimeout(timer); timer = null; }
  if (!queue.length || !allowed()) return;
  let s;
  try {
    s = await activeSession();
  } catch (_) {
    timer = setTimeout(flush, FLUSH_MS * 4);
    return;
  }
  const batch = queue.splice(0, MAX_BATCH).map((e) => Object.assign({ user_id: s.user_id }, e));
  try {
    await api.post('/v1/events', batch, { headers: { 'X-Vitrine-Session': s.session_token } });
  } catch (e) {
    // A refused batch (an item deleted meanwhile) is dropped; a server or
    // network problem keeps it for the next try.
    if (e.status === 0 || e.status >= 500 || e.status === 429) queue = batch.map(stripUser).concat(queue);
  }
  if (queue.length && !timer) timer = setTimeout(flush, FLUSH_MS);
}

function stripUser(e) {
  const c = Object.assign({}, e);
  delete c.user_id;
  return c;
}

/* The page is going away: send the queue with sendBeacon. */
function flushBeacon() {
  if (timer) { clearTimeout(timer); timer = null; }
  if (!queue.length || !allowed() || !sess || !publicKey || !navigator.sendBeacon) return;
  const batch = queue.splice(0, MAX_BATCH).map((e) => Object.assign({ user_id: sess.user_id }, e));
  const url = '/v1/events?key=' + encodeURIComponent(publicKey) +
              '&session=' + encodeURIComponent(sess.session_token);
  const ok = navigator.sendBeacon(url, new Blob([JSON.stringify(batch)], { type: 'application/json' }));
  if (!ok) queue = batch.map(stripUser).concat(queue);
}

const hideHooks = [];
/* fn() runs when the page is hidden or left, before the beacon goes. */
export function onHide(fn) { hideHooks.push(fn); }

function pageHidden() {
  for (const fn of hideHooks) {
    try { fn(); } catch (_) { /* keep going */ }
  }
  flushBeacon();
}

/* ---- where a click came from ---- */

/* Lists mark their links <a data-item-id=ID> inside an element carrying
 * data-rec-id (the rec_id of the answer that produced the list) and
 * data-list (its name). A click is tracked, and remembered for the item
 * page's view event (sessionStorage, this tab only). */
function onClick(ev) {
  const a = ev.target.closest && ev.target.closest('a[data-item-id]');
  if (!a) return;
  const list = a.closest('[data-rec-id]');
  const ctx = {};
  if (list && list.dataset.recId) ctx.rec_id = list.dataset.recId;
  if (list && list.dataset.list) ctx.list = list.dataset.list;
  if (a.dataset.position) ctx.position = Number(a.dataset.position);
  track('click', { item_id: a.dataset.itemId, context: ctx });
  try {
    sessionStorage.setItem(FROM_KEY, JSON.stringify({ item_id: a.dataset.itemId, rec_id: ctx.rec_id || null }));
  } catch (_) { /* storage off */ }
}

/* The rec_id of the list this item page was opened from, if any (read once). */
export function arrivedFrom(itemId) {
  try {
    const f = JSON.parse(sessionStorage.getItem(FROM_KEY) || 'null');
    sessionStorage.removeItem(FROM_KEY);
    return f && f.item_id === itemId && f.rec_id ? f.rec_id : null;
  } catch (_) {
    return null;
  }
}

/* ---- <model-viewer> ---- */

/* Track rotate/zoom (camera-change from the shopper, debounced per
 * gesture) and AR: ar_session, ar_place (context.surface), ar_dwell. */
export function watchModelViewer(mv, itemId, surface) {
  let last = null, gesture = null, rotated = false, zoomed = false;
  mv.addEventListener('camera-change', (e) => {
    if (!e.detail || e.detail.source !== 'user-interaction') return;
    const o = mv.getCameraOrbit ? mv.getCameraOrbit() : null;
    if (o && last) {
      const dr = Math.abs(o.radius - last.radius) / Math.max(last.radius, 1e-6);
      const da = Math.abs(o.theta - last.theta) + Math.abs(o.phi - last.phi);
      if (dr > 0.02) zoomed = true;
      if (da > 0.02) rotated = true;
    }
    if (o) last = { radius: o.radius, theta: o.theta, phi: o.phi };
    clearTimeout(gesture);
    gesture = setTimeout(() => {
      if (rotated) track('rotate', { item_id: itemId });
      if (zoomed) track('zoom', { item_id: itemId });
      rotated = zoomed = false;
      last = null;
    }, 600);
  });
  let arStart = 0;
  const arEnd = () => {
    if (!arStart) return;
    const s = (performance.now() - arStart) / 1000;
    arStart = 0;
    if (s >= 0.5) track('ar_dwell', { item_id: itemId, value: Math.min(86400, Math.round(s * 10) / 10) });
  };
  mv.addEventListener('ar-status', (e) => {
    const st = e.detail && e.detail.status;
    if (st === 'session-started') {
      arStart = performance.now();
      track('ar_session', { item_id: itemId });
    } else if (st === 'object-placed') {
      track('ar_place', { item_id: itemId, context: { surface: surface || mv.getAttribute('ar-placement') || 'floor' } });
    } else if (st === 'not-presenting' || st === 'failed') {
      arEnd();
    }
  });
  onHide(arEnd);
}

/* ---- start ---- */

export function initTelemetry() {
  document.addEventListener('click', onClick, true);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') pageHidden(); });
  window.addEventListener('pagehide', pageHidden);
  document.querySelectorAll('[data-consent-change]').forEach((b) => b.addEventListener('click', showBanner));
  if (consent() === null) showBanner();
  document.addEventListener('vt:lang', () => {
    if (document.querySelector('[data-testid="consent-banner"]')) showBanner();
  });
  if (allowed()) {
    activeSession().catch(() => { /* the server is down: events wait in the queue */ });
  }
  // The public key, fetched early so a beacon can go without waiting.
  api.storefront().then((c) => { publicKey = c.public_key; }).catch(() => {});
}
