/*
 * cards.js - item cards, the one way every list on the storefront draws an
 * item summary (eng_item_summary(): id, title, category, price, currency,
 * dims_cm, model_url, assets, stock).
 *
 * A list is <ul class="grid" data-rec-id=... data-list=...>; each card's
 * link carries data-item-id and data-position so telemetry.js can tell
 * which list and which place a click came from. Pictures are the poster
 * images the import renders (assets.poster), loaded lazily; no 3D viewer is
 * created for a card.
 */
import { esc } from './api.js';
import { itemTitle, formatPrice, formatDims, t } from './i18n.js';

/* HTML for one card. opts: testid (data-testid of the link), extra (HTML
 * appended to the body, already escaped), position. */
export function cardHtml(item, opts = {}) {
  const title = itemTitle(item);
  const poster = item.assets && typeof item.assets.poster === 'string' ? item.assets.poster : '';
  const img = poster
    ? `<img class="thumb" src="${esc(poster)}" alt="" loading="lazy" decoding="async" width="400" height="300">`
    : '<span class="thumb" aria-hidden="true"></span>';
  const price = typeof item.price === 'number'
    ? `<span class="price">${esc(formatPrice(item.price, item.currency))} <span class="badge">${esc(t('item.demo'))}</span></span>`
    : '';
  const dims = item.dims_cm ? `<span class="meta">${esc(formatDims(item.dims_cm))}</span>` : '';
  return `<li class="card"><a class="card-link" href="/item.html?id=${encodeURIComponent(item.id)}"
      data-item-id="${esc(item.id)}" data-position="${opts.position || 0}"
      data-testid="${esc(opts.testid || 'item-card')}">${img}
    <span class="body"><span class="title" lang="${esc(document.documentElement.lang)}">${esc(title)}</span>
    ${price}${dims}${opts.extra || ''}</span></a></li>`;
}

/* Fill ul with cards for items; recId and list name go on the list. */
export function renderList(ul, items, opts = {}) {
  ul.dataset.recId = opts.recId || '';
  ul.dataset.list = opts.list || '';
  ul.innerHTML = items.map((it, i) => cardHtml(it, Object.assign({}, opts,
    { position: i + 1, extra: opts.extra ? opts.extra(it) : '' }))).join('');
}
