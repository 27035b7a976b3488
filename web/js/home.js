/*
 * home.js - the home page: "Recommended for you" (GET /v1/recommend with
 * the shopper's anonymous id once they allowed telemetry, else the shop's
 * trending list for a new visitor) and the categories (GET
 * /v1/categories). Redraws on a language switch and reloads the
 * recommendations when consent changes. Marks performance "vt:rec-rendered"
 * when the first list is on screen (the browser test reads it).
 */
import * as api from './api.js';
import { initPage, t, itemTitle } from './i18n.js';
import { initTelemetry, onConsentChange, activeSession, allowed } from './telemetry.js';
import { renderList } from './cards.js';

const panel = document.querySelector('[data-testid="rec-panel"]');
const list = panel.querySelector('[data-testid="rec-list"]');
const status = panel.querySelector('[data-testid="rec-status"]');
const heading = panel.querySelector('h2');
const catList = document.querySelector('[data-testid="category-list"]');
const catStatus = document.querySelector('[data-testid="cat-status"]');

let recs = null;      // last /v1/recommend answer
let personal = false; // asked with a user id
let cats = null;
let loadSeq = 0;

/* The reason line in the current language: our own string when it needs
 * no name or the named item is in the list, else the server's text. */
function reasonText(item, byId) {
  const r = item.reason;
  if (!r || !r.code) return '';
  const key = 'reason.' + r.code;
  const tmpl = t(key);
  if (tmpl === key) return r.text || '';
  if (!tmpl.includes('{name}')) return tmpl;
  const ref = r.item_id ? (byId.get(r.item_id) || refs.get(r.item_id)) : null;
  return ref ? t(key, { name: itemTitle(ref) }) : (r.text || '');
}

/* Items a reason names that are not in the list itself (the piece placed in
 * AR, the one last viewed): fetched once, so the reason can name them in
 * the shopper's language. */
const refs = new Map();
async function loadRefs(items) {
  const inList = new Set(items.map((i) => i.id));
  const want = [...new Set(items.map((i) => i.reason && i.reason.item_id)
    .filter((id) => id && !inList.has(id) && !refs.has(id)))].slice(0, 4);
  if (!want.length) return;
  const got = await Promise.all(want.map((id) => api.get(`/v1/items/${encodeURIComponent(id)}`).catch(() => null)));
  got.forEach((it, i) => refs.set(want[i], it || { id: want[i] }));
  drawRecs();
}

function drawRecs() {
  heading.textContent = t(personal ? 'home.recommended' : 'home.trending');
  if (!recs) return;
  const items = recs.items || [];
  const byId = new Map(items.map((i) => [i.id, i]));
  renderList(list, items, {
    recId: recs.rec_id, list: 'home', testid: 'rec-item',
    extra: (it) => {
      const txt = reasonText(it, byId);
      return txt ? `<span class="reason" data-testid="rec-reason" data-code="${api.esc(it.reason.code)}">${api.esc(txt)}</span>` : '';
    },
  });
  status.textContent = items.length ? '' : t('rec.empty');
  status.hidden = items.length > 0;
}

async function loadRecs() {
  const seq = ++loadSeq;
  status.hidden = false;
  status.className = 'muted';
  status.textContent = t('rec.loading');
  let user = null;
  if (allowed()) {
    try { user = (await activeSession()).user_id; } catch (_) { user = null; }
  }
  try {
    const r = await api.get('/v1/recommend', { user_id: user, n: 12, context: 'home' });
    if (seq !== loadSeq) return;
    recs = r;
    personal = !!user;
    panel.dataset.userId = user || '';
    drawRecs();
    if (!performance.getEntriesByName('vt:rec-rendered').length) performance.mark('vt:rec-rendered');
    loadRefs(r.items || []);
  } catch (e) {
    if (seq !== loadSeq) return;
    recs = null;
    list.innerHTML = '';
    status.className = 'notice' + (e.unavailable ? '' : ' error');
    status.textContent = api.describeError(e, t);
    if (!performance.getEntriesByName('vt:rec-rendered').length) performance.mark('vt:rec-rendered');
  }
}

function drawCats() {
  if (!cats) return;
  catList.innerHTML = cats.map((c) => {
    const leaf = String(c.path).split('/').pop();
    return `<li><a href="/search.html?category=${encodeURIComponent(c.path)}" data-testid="category">${api.esc(leaf)}
      <span class="muted">(${api.esc(t('home.items', { n: c.items }))})</span></a></li>`;
  }).join('');
}

async function loadCats() {
  try {
    const r = await api.get('/v1/categories');
    cats = (r.categories || []).filter((c) => c.items > 0);
    catStatus.textContent = '';
    drawCats();
  } catch (e) {
    catStatus.className = 'notice' + (e.unavailable ? '' : ' error');
    catStatus.textContent = api.describeError(e, t);
  }
}

initPage();
initTelemetry();
document.addEventListener('vt:lang', () => { drawRecs(); drawCats(); });
onConsentChange(() => loadRecs());
loadRecs();
loadCats();
