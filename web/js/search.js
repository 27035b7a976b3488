/*
 * search.js - the results page: GET /v1/search with the page's query
 * string (q, category, price_min, price_max, fits_w/d/h, ignore) and the
 * interface language.
 *
 * The filters the server understood ("under 2000", "white") are shown as
 * chips ([data-testid=chip], data-kind). Removing one re-queries without
 * it: a filter read from the text is added to ignore=kind (the words stay
 * in the query), one that came from a URL parameter loses that parameter.
 * The page's URL always says what is shown (history.pushState), so the
 * back button and a shared link give the same results.
 */
import * as api from './api.js';
import { initPage, t, lang } from './i18n.js';
import { initTelemetry, track } from './telemetry.js';
import { renderList } from './cards.js';

const PARAMS = ['q', 'category', 'price_min', 'price_max', 'fits_w', 'fits_d', 'fits_h', 'ignore'];
/* A filter from a URL parameter: which parameters to drop to remove it. */
const PARAM_OF = {
  category: ['category'], price_min: ['price_min'], price_max: ['price_max'],
  fits: ['fits_w', 'fits_d', 'fits_h'], fits_w: ['fits_w'], fits_d: ['fits_d'], fits_h: ['fits_h'],
};

const heading = document.querySelector('[data-testid="search-heading"]');
const filtersBox = document.querySelector('[data-testid="filters"]');
const chips = document.querySelector('[data-testid="chips"]');
const status = document.querySelector('[data-testid="search-status"]');
const results = document.querySelector('[data-testid="results"]');

let last = null;
let seq = 0;
let tracked = '';

function current() {
  const u = new URLSearchParams(location.search);
  const p = {};
  for (const k of PARAMS) if (u.get(k)) p[k] = u.get(k);
  return p;
}

function boostsHtml(it) {
  if (!Array.isArray(it.boosts) || !it.boosts.length) return '';
  return `<span class="reason" data-testid="boosts">${api.esc(t('search.boosts', { what: it.boosts.join(', ') }))}</span>`;
}

function draw() {
  const p = current();
  const q = p.q || '';
  heading.textContent = q ? t('search.results', { q }) : (p.category || t('search.button'));
  if (!last) return;
  const filters = Array.isArray(last.filters) ? last.filters : [];
  filtersBox.hidden = filters.length === 0;
  chips.innerHTML = filters.map((f, i) => `<li class="chip" data-testid="chip" data-kind="${api.esc(f.kind)}"
      data-source="${api.esc(f.source || '')}" data-mode="${api.esc(f.mode || '')}">
      <span>${api.esc(f.text || f.kind)}</span>
      <button type="button" data-chip="${i}" aria-label="${api.esc(t('search.remove', { text: f.text || f.kind }))}">×</button></li>`).join('');
  const items = last.items || [];
  renderList(results, items, { recId: last.rec_id, list: 'search', testid: 'result', extra: boostsHtml });
  status.className = 'muted';
  status.textContent = items.length ? t('search.total', { n: typeof last.total === 'number' ? last.total : items.length }) : t('search.none');
}

async function load() {
  const my = ++seq;
  const p = current();
  if (!p.q && !p.category) {
    last = null;
    results.innerHTML = '';
    filtersBox.hidden = true;
    heading.textContent = t('search.button');
    status.textContent = t('search.empty');
    return;
  }
  status.className = 'muted';
  status.textContent = '…';
  try {
    const r = await api.get('/v1/search', Object.assign({ n: 24, lang: lang() }, p));
    if (my !== seq) return;
    last = r;
    draw();
    const key = (p.q || '') + '\u0000' + (p.category || '');
    if (p.q && key !== tracked) {
      tracked = key;
      track('search', { context: { text: p.q, rec_id: r.rec_id } });
    }
  } catch (e) {
    if (my !== seq) return;
    last = null;
    results.innerHTML = '';
    filtersBox.hidden = true;
    status.className = 'notice' + (e.unavailable ? '' : ' error');
    status.textContent = api.describeError(e, t);
  }
}

function removeFilter(f) {
  const u = new URLSearchParams(location.search);
  const params = f.source === 'param' ? (PARAM_OF[f.kind] || [f.kind]) : [];
  if (params.length) {
    for (const k of params) u.delete(k);
  } else {
    const ign = (u.get('ignore') || '').split(',').filter(Boolean);
    if (!ign.includes(f.kind)) ign.push(f.kind);
    u.set('ignore', ign.join(','));
  }
  history.pushState(null, '', location.pathname + '?' + u.toString());
  load().then(() => {
    const next = chips.querySelector('button') || document.querySelector('[data-testid="search-input"]');
    if (next) next.focus();
  });
}

chips.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-chip]');
  if (!b || !last) return;
  const f = (last.filters || [])[Number(b.dataset.chip)];
  if (f) removeFilter(f);
});
window.addEventListener('popstate', load);
document.addEventListener('vt:lang', draw);

initPage();
initTelemetry();
load();
