/*
 * i18n.js - the storefront's two languages (English, Chinese) for both the
 * interface and the item names.
 *
 * The language is the shopper's choice kept in localStorage ("vt_lang"),
 * else the browser's (zh* -> zh), else English. Static text carries
 * data-i18n="key" (textContent), data-i18n-placeholder, data-i18n-aria-label
 * or data-i18n-title; applyI18n() fills them. Pages build dynamic text with
 * t(key, vars) and item names with itemTitle(item), and listen for the
 * "vt:lang" event on document to redraw after a switch. Other pages can add
 * their own strings with addStrings({en: {...}, zh: {...}}).
 *
 * initPage() is the shared header's wiring: it applies the strings, makes
 * every [data-lang-switch] button toggle the language and marks the current
 * nav link with aria-current="page".
 */

export const LANGS = ['en', 'zh'];
const STORE_KEY = 'vt_lang';

const strings = {
  en: {
    'site.name': 'vitrine',
    'nav.home': 'Home',
    'nav.showroom': 'Showroom',
    'nav.privacy': 'Privacy',
    'nav.main': 'Main',
    'nav.skip': 'Skip to content',
    'lang.switch': '中文',
    'lang.switch.label': 'Switch to Chinese',
    'search.label': 'Search the shop',
    'search.placeholder': 'Search: sofa under 2000, 白色沙发…',
    'search.button': 'Search',
    'home.title': 'Furniture you can place in your room',
    'home.recommended': 'Recommended for you',
    'home.trending': 'Trending now',
    'home.categories': 'Categories',
    'home.items': '{n} items',
    'rec.loading': 'Finding pieces for you…',
    'rec.empty': 'Nothing to recommend yet.',
    'search.results': 'Results for “{q}”',
    'search.total': '{n} results',
    'search.none': 'No pieces match. Try removing a filter.',
    'search.filters': 'Understood from your search',
    'search.remove': 'Remove filter {text}',
    'search.boosts': 'matches {what}',
    'search.empty': 'Type what you are looking for.',
    'item.price': 'Price',
    'item.demo': 'demo',
    'item.dims': 'Dimensions',
    'item.dims.value': 'W {w} × D {d} × H {h} cm',
    'item.category': 'Category',
    'item.credit': '3D model',
    'item.licence': 'Licence',
    'item.stock': 'In stock: {n}',
    'item.similar': 'Similar pieces',
    'item.ar': 'View in your room',
    'item.noar': 'This piece has no 3D model.',
    'item.modelerror': 'The 3D model could not be loaded; the picture shows the piece.',
    'item.add': 'Add to cart',
    'item.added': 'Added to cart.',
    'item.buy': 'Buy (demo checkout)',
    'item.bought': 'Thank you! This is a demo shop: nothing was charged.',
    'item.dismiss': 'Not for me',
    'item.dismissed': 'We will show you less like this.',
    'item.model.label': '3D model of {name}',
    'fit.title': 'Will it fit?',
    'fit.w': 'Width (cm)',
    'fit.d': 'Depth (cm)',
    'fit.h': 'Height (cm)',
    'fit.clearance': 'Clearance (cm)',
    'fit.check': 'Check',
    'fit.yes': 'It fits.',
    'fit.yes.rotated': 'It fits if turned 90°.',
    'fit.no': 'It does not fit.',
    'fit.margins': 'Space left: width {w} cm, depth {d} cm, height {h} cm.',
    'fit.alternatives': 'Pieces that fit this space',
    'fit.none': 'No other piece fits this space.',
    'fit.invalid': 'Enter the width, depth and height of the space in centimetres.',
    'consent.text': 'May we record what you look at in this shop (pages, pieces, time spent, AR placements) to recommend furniture? Camera images, room scans and your location never leave your device.',
    'consent.accept': 'Allow',
    'consent.decline': 'No thanks',
    'consent.more': 'What is sent',
    'consent.change': 'Privacy choices',
    'error.unavailable': 'This part of the shop is not available yet. Please try again in a moment.',
    'error.network': 'The shop could not be reached.',
    'error.notfound': 'This piece is not in the shop.',
    'error.generic': 'Something went wrong',
    'reason.ar_place': 'Because you placed {name} in your room',
    'reason.tryon': 'Because you tried {name}',
    'reason.viewed': 'Because you looked at {name}',
    'reason.category': 'More of what you have been looking at',
    'reason.price': 'In the price range you look at',
    'reason.searched': 'Because you searched for this',
    'reason.similar_to_context': 'Similar to {name}',
    'reason.bought': 'Goes with {name}',
    'reason.popular': 'Popular in the shop',
    'reason.trending': 'Trending now',
    'reason.explore': 'Something new',
    'price.demo': 'demo price',
  },
  zh: {
    'site.name': 'vitrine',
    'nav.home': '首页',
    'nav.showroom': '展厅',
    'nav.privacy': '隐私',
    'nav.main': '主导航',
    'nav.skip': '跳到正文',
    'lang.switch': 'English',
    'lang.switch.label': '切换到英文',
    'search.label': '搜索商店',
    'search.placeholder': '搜索：2000元以下的沙发、white sofa…',
    'search.button': '搜索',
    'home.title': '可以放进你房间的家具',
    'home.recommended': '为你推荐',
    'home.trending': '热门',
    'home.categories': '分类',
    'home.items': '{n} 件',
    'rec.loading': '正在为你挑选…',
    'rec.empty': '暂时没有推荐。',
    'search.results': '“{q}”的搜索结果',
    'search.total': '共 {n} 件',
    'search.none': '没有符合的商品。试试去掉一个筛选条件。',
    'search.filters': '从你的搜索中识别出',
    'search.remove': '去掉筛选 {text}',
    'search.boosts': '符合 {what}',
    'search.empty': '输入你想找的东西。',
    'item.price': '价格',
    'item.demo': '演示',
    'item.dims': '尺寸',
    'item.dims.value': '宽 {w} × 深 {d} × 高 {h} 厘米',
    'item.category': '分类',
    'item.credit': '3D 模型',
    'item.licence': '许可',
    'item.stock': '库存：{n}',
    'item.similar': '相似商品',
    'item.ar': '在你的房间中查看',
    'item.noar': '这件商品没有 3D 模型。',
    'item.modelerror': '3D 模型无法加载，图片显示了这件商品。',
    'item.add': '加入购物车',
    'item.added': '已加入购物车。',
    'item.buy': '购买（演示结账）',
    'item.bought': '谢谢！这是演示商店，不会收费。',
    'item.dismiss': '不感兴趣',
    'item.dismissed': '我们会减少类似推荐。',
    'item.model.label': '{name} 的 3D 模型',
    'fit.title': '放得下吗？',
    'fit.w': '宽（厘米）',
    'fit.d': '深（厘米）',
    'fit.h': '高（厘米）',
    'fit.clearance': '留空（厘米）',
    'fit.check': '检查',
    'fit.yes': '放得下。',
    'fit.yes.rotated': '旋转 90° 后放得下。',
    'fit.no': '放不下。',
    'fit.margins': '剩余空间：宽 {w} 厘米，深 {d} 厘米，高 {h} 厘米。',
    'fit.alternatives': '放得下的其他商品',
    'fit.none': '没有其他商品放得下。',
    'fit.invalid': '请输入空间的宽、深、高（厘米）。',
    'consent.text': '我们可以记录你在本店浏览的内容（页面、商品、停留时间、AR 摆放）来推荐家具吗？摄像头画面、房间扫描和你的位置永远不会离开你的设备。',
    'consent.accept': '允许',
    'consent.decline': '不用了',
    'consent.more': '会发送什么',
    'consent.change': '隐私选项',
    'error.unavailable': '这部分功能暂时不可用，请稍后再试。',
    'error.network': '无法连接到商店。',
    'error.notfound': '商店里没有这件商品。',
    'error.generic': '出错了',
    'reason.ar_place': '因为你把{name}放进了房间',
    'reason.tryon': '因为你试放了{name}',
    'reason.viewed': '因为你看过{name}',
    'reason.category': '更多你在看的同类商品',
    'reason.price': '在你关注的价格范围内',
    'reason.searched': '因为你搜索过',
    'reason.similar_to_context': '与{name}相似',
    'reason.bought': '与{name}搭配',
    'reason.popular': '店内热门',
    'reason.trending': '正在流行',
    'reason.explore': '新发现',
    'price.demo': '演示价格',
  },
};

function initialLang() {
  try {
    const s = localStorage.getItem(STORE_KEY);
    if (LANGS.includes(s)) return s;
  } catch (_) { /* storage disabled */ }
  const nav = (navigator.language || 'en').toLowerCase();
  return nav.startsWith('zh') ? 'zh' : 'en';
}

let current = initialLang();

export function lang() { return current; }

export function setLang(l) {
  if (!LANGS.includes(l) || l === current) return;
  current = l;
  try { localStorage.setItem(STORE_KEY, l); } catch (_) { /* storage disabled */ }
  applyI18n(document);
  document.dispatchEvent(new CustomEvent('vt:lang', { detail: { lang: l } }));
}

export function addStrings(more) {
  for (const l of LANGS) Object.assign(strings[l], (more && more[l]) || {});
}

/* The string for key in the current language ({name} placeholders filled
 * from vars), falling back to English, then to the key itself. */
export function t(key, vars) {
  let s = strings[current][key];
  if (s === undefined) s = strings.en[key];
  if (s === undefined) s = key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
  return s;
}

/* An item's name in the current language: title.<lang>, else English, else
 * any title, else the id. Accepts a plain string title too. */
export function itemTitle(item) {
  if (!item) return '';
  const ti = item.title;
  if (typeof ti === 'string') return ti;
  if (ti && typeof ti === 'object') {
    if (ti[current]) return ti[current];
    if (ti.en) return ti.en;
    const any = Object.values(ti).find((v) => typeof v === 'string' && v);
    if (any) return any;
  }
  return item.id || '';
}

export function formatPrice(price, currency) {
  if (typeof price !== 'number' || !isFinite(price)) return '';
  try {
    return new Intl.NumberFormat(current === 'zh' ? 'zh-CN' : 'en-GB',
      { style: 'currency', currency: currency || 'EUR', maximumFractionDigits: 2 }).format(price);
  } catch (_) {
    return price.toFixed(2) + (currency ? ' ' + currency : '');
  }
}

function num(v) {
  return typeof v === 'number' && isFinite(v) ? (Math.round(v * 10) / 10).toString() : '?';
}

export function formatDims(d) {
  if (!d) return '';
  return t('item.dims.value', { w: num(d.w), d: num(d.d), h: num(d.h) });
}

export function applyI18n(root) {
  const r = root || document;
  if (r === document) document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
  r.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  r.querySelectorAll('[data-i18n-placeholder]').forEach((el) => {
    el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  });
  r.querySelectorAll('[data-i18n-aria-label]').forEach((el) => {
    el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  });
  r.querySelectorAll('[data-i18n-title]').forEach((el) => {
    el.setAttribute('title', t(el.dataset.i18nTitle));
  });
}

/* Shared header wiring; call once per page. */
export function initPage() {
  applyI18n(document);
  document.querySelectorAll('[data-lang-switch]').forEach((b) => {
    b.addEventListener('click', () => setLang(current === 'zh' ? 'en' : 'zh'));
  });
  const here = location.pathname === '/' ? '/index.html' : location.pathname;
  document.querySelectorAll('.site-nav a').forEach((a) => {
    const p = new URL(a.href, location.href).pathname;
    if ((p === '/' ? '/index.html' : p) === here) a.setAttribute('aria-current', 'page');
  });
  const q = new URLSearchParams(location.search).get('q');
  const box = document.querySelector('[data-testid="search-input"]');
  if (box && q && !box.value) box.value = q;
}
