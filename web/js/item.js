/*
 * item.js - the product page (/item.html?id=ID): the item (GET
 * /v1/items/{id}), its 3D model in <model-viewer> with AR, similar pieces
 * (GET /v1/items/{id}/similar), the "Will it fit?" check (POST /v1/fit) and
 * the demo cart and checkout.
 *
 * AR placement is "wall" for doors, windows and wall pieces, else "floor";
 * ar-scale is fixed so the piece shows at its real size. Telemetry: a view
 * (with the rec_id of the list it was opened from), the dwell time when the
 * page is left, rotate/zoom/AR from the viewer (telemetry.js), cart,
 * purchase and dismiss from the buttons.
 */
import * as api from './api.js';
import { initPage, t, itemTitle, formatPrice, formatDims, lang } from './i18n.js';
import { initTelemetry, track, arrivedFrom, watchModelViewer, onHide, onConsentChange } from './telemetry.js';
import { renderList } from './cards.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const id = new URLSearchParams(location.search).get('id') || '';
const statusEl = $('item-status');
const mv = $('model-viewer');

let item = null;
let similar = null;
let fitAnswer = null;
let fitError = null;

const WALL_WORDS = /\b(picture|painting|mirror|clock|poster|frame|shelf|wall)\b/i;

export function placementFor(it) {
  const a = it.attributes || {};
  if (a.door_or_window === true) return 'wall';
  if (/door|window/i.test(it.category || '')) return 'wall';
  const en = it.title && typeof it.title === 'object' ? it.title.en : it.title;
  return WALL_WORDS.test(en || '') ? 'wall' : 'floor';
}

function showError(el, e) {
  el.hidden = false;
  el.className = 'notice' + (e.unavailable ? '' : ' error');
  el.textContent = e.status === 404 ? t('error.notfound') : api.describeError(e, t);
}

function drawItem() {
  if (!item) return;
  const name = itemTitle(item);
  document.title = name + ' · vitrine';
  $('item-title').textContent = name;
  $('item-price').innerHTML = typeof item.price === 'number'
    ? `${api.esc(formatPrice(item.price, item.currency))} <span class="badge" data-testid="demo-badge">${api.esc(t('item.demo'))}</span>`
    : '—';
  const dims = $('item-dims');
  const d = item.dims_cm;
  dims.textContent = d ? formatDims(d) : '—';
  if (d) { dims.dataset.w = d.w; dims.dataset.d = d.d; dims.dataset.h = d.h; }
  const zhCat = lang() === 'zh' && item.attributes && item.attributes.zh_category;
  $('item-category').textContent = zhCat || item.category || '—';
  const a = item.assets || {};
  const credit = $('item-credit');
  credit.innerHTML = '';
  if (a.credit) credit.append(document.createTextNode(a.credit));
  if (a.license) {
    credit.append(document.createTextNode(' · ' + t('item.licence') + ': '));
    if (a.license_url && /^https?:\/\//.test(a.license_url)) {
      const l = document.createElement('a');
      l.href = a.license_url;
      l.rel = 'license noopener';
      l.textContent = a.license;
      l.setAttribute('data-testid', 'licence-link');
      credit.append(l);
    } else {
      credit.append(document.createTextNode(a.license));
    }
  }
  if (!a.credit && !a.license) credit.textContent = '—';
  $('item-stock').textContent = typeof item.stock === 'number' ? t('item.stock', { n: item.stock }) : '';
  if (mv) mv.setAttribute('alt', t('item.model.label', { name }));
}

function drawSimilar() {
  if (!similar) return;
  renderList($('similar-list'), similar.items || [], { list: 'similar', testid: 'similar-item' });
  $('similar-status').textContent = (similar.items || []).length ? '' : '—';
}

async function loadSimilar() {
  $('similar').hidden = false;
  try {
    similar = await api.get(`/v1/items/${encodeURIComponent(id)}/similar`, { n: 8 });
    drawSimilar();
  } catch (e) {
    showError($('similar-status'), e);
  }
}

/* ---- will it fit ---- */

function marginText(m) {
  if (!m) return '';
  const r = (v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : '?');
  return t('fit.margins', { w: r(m.w), d: r(m.d), h: r(m.h) });
}

function drawFit() {
  const out = $('fit-result');
  const altBox = $('fit-alternatives');
  if (fitError) {
    delete out.dataset.fits;
    showError(out, fitError);
    altBox.hidden = true;
    return;
  }
  if (!fitAnswer) return;
  out.hidden = false;
  out.className = 'fit-result';
  const it = fitAnswer.item;
  if (it) {
    const fits = it.fits === true;
    out.dataset.fits = String(fits);
    out.dataset.rotated = String(it.rotated === true);
    const verdict = fits ? (it.rotated ? t('fit.yes.rotated') : t('fit.yes')) : t('fit.no');
    out.innerHTML = `<p class="${fits ? 'yes' : 'no'}" data-testid="fit-verdict">${api.esc(verdict)}</p>` +
      (fits ? `<p data-testid="fit-margins">${api.esc(marginText(it.margin_cm))}</p>` : '');
  } else {
    out.innerHTML = '';
  }
  const alts = fitAnswer.alternatives || [];
  altBox.hidden = false;
  renderList($('fit-alt-list'), alts, {
    list: 'fit', testid: 'fit-alt',
    extra: (a) => `<span class="reason">${api.esc(a.rotated ? t('fit.yes.rotated') : t('fit.yes'))} ${api.esc(marginText(a.margin_cm))}</span>`,
  });
  if (!alts.length) $('fit-alt-list').innerHTML = `<li class="muted">${api.esc(t('fit.none'))}</li>`;
}

async function onFit(ev) {
  ev.preventDefault();
  const f = ev.target;
  const num = (n) => (f.elements[n].value.trim() === '' ? NaN : Number(f.elements[n].value));
  const w = num('w'), d = num('d'), h = num('h'), c = num('clearance');
  const ok = [w, d, h].every((v) => isFinite(v) && v > 0 && v <= 10000) &&
             (f.elements.clearance.value.trim() === '' || (isFinite(c) && c >= 0 && c <= 1000));
  const out = $('fit-result');
  if (!ok) {
    fitAnswer = null; fitError = null;
    delete out.dataset.fits;
    delete out.dataset.rotated;
    out.hidden = false;
    out.className = 'notice error';
    out.textContent = t('fit.invalid');
    const bad = [...f.elements].find((el) => el.tagName === 'INPUT' && !el.checkValidity());
    if (bad) bad.focus();
    return;
  }
  const body = { space_cm: { w, d, h }, item_id: id, n: 6 };
  if (isFinite(c)) body.clearance_cm = c;
  out.hidden = false;
  out.className = 'fit-result muted';
  out.textContent = '…';
  delete out.dataset.fits;
  delete out.dataset.rotated;
  try {
    fitAnswer = await api.post('/v1/fit', body);
    fitError = null;
  } catch (e) {
    fitAnswer = null;
    fitError = e;
  }
  drawFit();
}

/* ---- cart, checkout, dismiss ---- */

function say(key) {
  const s = $('action-status');
  s.className = 'muted';
  s.textContent = t(key);
}

function wireActions() {
  $('add-to-cart').addEventListener('click', () => { track('add_to_cart', { item_id: id, value: 1 }); say('item.added'); });
  $('buy').addEventListener('click', () => { track('purchase', { item_id: id, value: 1 }); say('item.bought'); });
  $('dismiss').addEventListener('click', () => { track('dismiss', { item_id: id }); say('item.dismissed'); });
  $('fit-form').addEventListener('submit', onFit);
}

/* ---- start ---- */

let shownAt = document.visibilityState === 'visible' ? performance.now() : 0;
let dwell = 0;
function dwellPause() {
  if (shownAt) { dwell += (performance.now() - shownAt) / 1000; shownAt = 0; }
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') shownAt = performance.now();
});

async function main() {
  initPage();
  initTelemetry();
  wireActions();
  document.addEventListener('vt:lang', () => { drawItem(); drawSimilar(); drawFit(); });
  if (!id) {
    showError(statusEl, { status: 404 });
    return;
  }
  try {
    item = await api.get(`/v1/items/${encodeURIComponent(id)}`);
  } catch (e) {
    showError(statusEl, e);
    return;
  }
  statusEl.hidden = true;
  $('product').hidden = false;
  if (item.model_url) {
    mv.setAttribute('ar-placement', placementFor(item));
    if (item.assets && item.assets.poster) mv.setAttribute('poster', item.assets.poster);
    mv.addEventListener('error', () => {
      const note = $('no-model');
      note.hidden = false;
      note.className = 'notice';
      note.dataset.i18n = 'item.modelerror';
      note.textContent = t('item.modelerror');
    });
    mv.setAttribute('src', item.model_url);
    watchModelViewer(mv, id, placementFor(item));
  } else {
    mv.remove();
    $('no-model').hidden = false;
  }
  drawItem();
  const recId = arrivedFrom(id);
  track('view', { item_id: id, context: recId ? { rec_id: recId } : undefined });
  const sendDwell = () => {
    dwellPause();
    if (dwell >= 1) track('dwell', { item_id: id, value: Math.min(86400, Math.round(dwell)) });
    dwell = 0;
  };
  onHide(sendDwell);
  onConsentChange((st) => { if (st === 'granted') track('view', { item_id: id }); });
  loadSimilar();
}

main();
