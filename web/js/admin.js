/*
 * admin.js - the operator's dashboard (admin.html).
 *
 * Reads, with an admin key the operator types in (kept in sessionStorage,
 * so it lives as long as the tab and is never written to disk by us):
 *   - GET /v1/admin/stats?minutes=60   events per minute by type, drawn as
 *                                      a stacked SVG bar chart (every 15 s);
 *   - GET /v1/admin/events?after_id=   the live stream, newest on top
 *                                      (every 2 s, from the last id seen);
 *   - GET /v1/model                    snapshot, schedule and the ranker's
 *                                      weights (every 30 s);
 *   - POST /v1/admin/retrain           on request.
 * Polling stops while the tab is hidden or the key is refused. A part of
 * the server that is not running yet (503) is said plainly in its panel;
 * the others keep working.
 */
import { request, get, describeError } from './api.js';
import { t, addStrings, initPage, lang } from './i18n.js';

addStrings({
  en: {
    'admin.nav': 'Dashboard',
    'admin.title': 'Dashboard',
    'admin.key': 'Admin key',
    'admin.key.use': 'Sign in',
    'admin.key.forget': 'Forget key',
    'admin.need.key': 'Type an admin key (./vitrine key create --scope admin). It is kept in this tab only.',
    'admin.key.checking': 'Checking the key…',
    'admin.key.ok': 'Signed in. Figures refresh by themselves.',
    'admin.key.unknown': 'The server does not know this key.',
    'admin.key.scope': 'This key is not an admin key.',
    'admin.chart': 'Events per minute, last 60 minutes',
    'admin.chart.label': 'Events per minute over the last {m} minutes: {n} events in all, at most {peak} in one minute.',
    'admin.chart.empty': 'No events in the last {m} minutes.',
    'admin.chart.truncated': 'Only the first {n} events of the window were counted.',
    'admin.totals': 'Totals by type',
    'admin.stream': 'Live events',
    'admin.stream.pause': 'Pause',
    'admin.stream.count': '{n} events shown, newest first',
    'admin.col.time': 'Time',
    'admin.col.type': 'Type',
    'admin.col.user': 'User',
    'admin.col.item': 'Item',
    'admin.col.value': 'Value',
    'admin.col.context': 'Context',
    'admin.model': 'Model',
    'admin.model.unavailable': 'The recommendation engine is not running yet; the model appears here once it is.',
    'admin.model.updated': 'Updated {time}',
    'admin.weights': 'Ranker weights',
    'admin.weights.group': 'Group',
    'admin.weights.feature': 'Feature',
    'admin.weights.weight': 'Weight',
    'admin.weights.interest': 'interest',
    'admin.weights.ar': 'AR',
    'admin.weights.combine': 'combination',
    'admin.retrain': 'Retrain now',
    'admin.retrain.queued': 'Retraining was queued; the model updates when it is done.',
    'admin.retrain.busy': 'A retraining is already running.',
    'admin.eval': 'Offline evaluation (MovieLens)',
    'admin.eval.models': 'Recall, NDCG and MAP by model',
    'admin.eval.byk': 'NDCG@k for k = 5, 10, 20',
    'admin.eval.note': 'From docs/evaluation.md (bench/eval): the figures are measured offline, not on this shop\'s traffic.',
    'admin.eval.missing': 'The plot is not in the served tree (make vendor copies docs/img/eval-*.svg).',
  },
  zh: {
    'admin.nav': '控制台',
    'admin.title': '控制台',
    'admin.key': '管理员密钥',
    'admin.key.use': '登录',
    'admin.key.forget': '忘记密钥',
    'admin.need.key': '输入管理员密钥（./vitrine key create --scope admin）。密钥只保存在此标签页中。',
    'admin.key.checking': '正在检查密钥…',
    'admin.key.ok': '已登录。数据会自动刷新。',
    'admin.key.unknown': '服务器不认识这个密钥。',
    'admin.key.scope': '这不是管理员密钥。',
    'admin.chart': '每分钟事件数（最近 60 分钟）',
    'admin.chart.label': '最近 {m} 分钟的每分钟事件数：共 {n} 个事件，单分钟最多 {peak} 个。',
    'admin.chart.empty': '最近 {m} 分钟没有事件。',
    'admin.chart.truncated': '只统计了时间窗口内的前 {n} 个事件。',
    'admin.totals': '按类型合计',
    'admin.stream': '实时事件',
    'admin.stream.pause': '暂停',
    'admin.stream.count': '显示 {n} 个事件，最新的在前',
    'admin.col.time': '时间',
    'admin.col.type': '类型',
    'admin.col.user': '用户',
    'admin.col.item': '商品',
    'admin.col.value': '数值',
    'admin.col.context': '上下文',
    'admin.model': '模型',
    'admin.model.unavailable': '推荐引擎尚未运行；运行后模型会显示在这里。',
    'admin.model.updated': '更新于 {time}',
    'admin.weights': '排序模型权重',
    'admin.weights.group': '组',
    'admin.weights.feature': '特征',
    'admin.weights.weight': '权重',
    'admin.weights.interest': '兴趣',
    'admin.weights.ar': 'AR',
    'admin.weights.combine': '组合',
    'admin.retrain': '立即重新训练',
    'admin.retrain.queued': '已排队重新训练；完成后模型会更新。',
    'admin.retrain.busy': '已有一次重新训练在进行。',
    'admin.eval': '离线评估（MovieLens）',
    'admin.eval.models': '各模型的 Recall、NDCG 和 MAP',
    'admin.eval.byk': 'k = 5、10、20 时的 NDCG@k',
    'admin.eval.note': '来自 docs/evaluation.md（bench/eval）：这些数字是离线测得的，不是本店的流量。',
    'admin.eval.missing': '图表不在服务目录中（make vendor 会复制 docs/img/eval-*.svg）。',
  },
});

const KEY_STORE = 'vt_admin_key';
const MINUTES = 60;
const STATS_MS = 15000;
const STREAM_MS = 2000;
const MODEL_MS = 30000;
const STREAM_KEEP = 200;
const STREAM_PAGES = 5;     /* pages read per poll before jumping to the newest */

/* One colour per event type, fixed so that a type keeps its colour. */
const TYPES = ['view', 'click', 'dwell', 'search', 'add_to_cart', 'purchase', 'rating', 'review',
  'dismiss', 'ar_session', 'ar_place', 'ar_dwell', 'rotate', 'zoom', 'tryon', 'showroom_view'];
const COLOURS = ['#4e79a7', '#a0cbe8', '#86bcb6', '#f28e2b', '#ffbe7d', '#59a14f', '#8cd17d', '#b6992d',
  '#e15759', '#ff9d9a', '#b07aa1', '#d4a6c8', '#79706e', '#bab0ac', '#d37295', '#9d7660'];

const $ = (id) => document.getElementById(id);
let key = null;
let timers = [];
let lastId = null;          /* the stream's cursor, null before the first read */
let paused = false;
let lastStats = null, lastModel = null, modelError = null;

/* ---- the key ---- */

function storedKey() {
  try { return sessionStorage.getItem(KEY_STORE); } catch (_) { return null; }
}

function setStatus(text, kind) {
  const s = $('admin-status');
  s.textContent = text;
  s.className = kind === 'error' ? 'notice error' : kind === 'ok' ? 'muted' : 'notice';
}

function adminGet(path, params) {
  return get(path, params, { key });
}

async function signIn(k) {
  key = k;
  setStatus(t('admin.key.checking'));
  try {
    const stats = await adminGet('/v1/admin/stats', { minutes: MINUTES });
    try { sessionStorage.setItem(KEY_STORE, k); } catch (_) { /* storage off: this page only */ }
    $('key-forget').hidden = false;
    $('admin-key').value = '';
    $('dashboard').hidden = false;
    setStatus(t('admin.key.ok'), 'ok');
    drawStats(stats);
    startPolling();
  } catch (e) {
    signOut(false);
    if (e.status === 401) setStatus(t('admin.key.unknown'), 'error');
    else if (e.status === 403) setStatus(t('admin.key.scope'), 'error');
    else setStatus(describeError(e, t), 'error');
  }
}

function signOut(clearStatus) {
  stopPolling();
  key = null;
  lastId = null;
  try { sessionStorage.removeItem(KEY_STORE); } catch (_) { /* storage off */ }
  $('key-forget').hidden = true;
  $('dashboard').hidden = true;
  $('stream').textContent = '';
  if (clearStatus) setStatus(t('admin.need.key'));
}

/* A refused key mid-session (revoked): stop and say so. */
function refused(e) {
  if (e && (e.status === 401 || e.status === 403)) {
    signOut(false);
    setStatus(t(e.status === 401 ? 'admin.key.unknown' : 'admin.key.scope'), 'error');
    return true;
  }
  return false;
}

/* ---- polling ---- */

function every(ms, fn) {
  const run = async () => {
    if (!key || document.visibilityState === 'hidden') return;
    try { await fn(); } catch (e) { if (!refused(e)) console.warn('dashboard:', e.message); }
  };
  run();
  timers.push(setInterval(run, ms));
}

function startPolling() {
  stopPolling();
  every(STATS_MS, async () => drawStats(await adminGet('/v1/admin/stats', { minutes: MINUTES })));
  every(STREAM_MS, pollStream);
  every(MODEL_MS, loadModel);
}

function stopPolling() {
  for (const id of timers) clearInterval(id);
  timers = [];
}

/* ---- the chart ---- */

function svgEl(name, attrs, text) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function hhmm(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString(lang() === 'zh' ? 'zh-CN' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
}

/* A round upper bound for the y axis. */
function niceMax(v) {
  if (v <= 5) return 5;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawStats(s) {
  lastStats = s;
  const W = 760, H = 260, L = 44, R = 8, T = 12, B = 30;
  const per = s.per_minute || [];
  const totals = per.map((m) => Object.values(m.counts || {}).reduce((a, b) => a + b, 0));
  const peak = totals.reduce((a, b) => Math.max(a, b), 0);
  const ymax = niceMax(peak);
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-testid': 'chart-svg' });
  const label = s.total
    ? t('admin.chart.label', { m: s.minutes, n: s.total, peak })
    : t('admin.chart.empty', { m: s.minutes });
  svg.append(svgEl('title', {}, label));
  svg.setAttribute('aria-label', label);
  const plotW = W - L - R, plotH = H - T - B;
  for (const f of [0, 0.5, 1]) {
    const y = T + plotH * (1 - f);
    svg.append(svgEl('line', { x1: L, x2: W - R, y1: y, y2: y, class: f ? 'grid-line' : 'axis' }));
    svg.append(svgEl('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, String(Math.round(ymax * f))));
  }
  const slot = plotW / Math.max(per.length, 1);
  const bw = Math.max(1, slot * 0.8);
  per.forEach((m, i) => {
    const x = L + i * slot + (slot - bw) / 2;
    let y = T + plotH;
    for (let k = 0; k < TYPES.length; k++) {
      const n = (m.counts || {})[TYPES[k]] || 0;
      if (!n) continue;
      const h = plotH * n / ymax;
      y -= h;
      const r = svgEl('rect', { x: x.toFixed(2), y: y.toFixed(2), width: bw.toFixed(2), height: h.toFixed(2),
        fill: COLOURS[k], 'data-type': TYPES[k], 'data-count': n });
      r.append(svgEl('title', {}, `${hhmm(m.minute)} ${TYPES[k]}: ${n}`));
      svg.append(r);
    }
    if ((i % 10 === 0 || i === per.length - 1) && per.length > 1) {
      const anchor = i === per.length - 1 ? 'end' : i === 0 ? 'start' : 'middle';
      svg.append(svgEl('text', { x: (L + i * slot + slot / 2).toFixed(1), y: H - 10, 'text-anchor': anchor }, hhmm(m.minute)));
    }
  });
  const chart = $('chart');
  chart.textContent = '';
  chart.append(svg);
  if (s.truncated) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = t('admin.chart.truncated', { n: s.scanned });
    chart.append(p);
  }
  const legend = $('legend');
  legend.textContent = '';
  const tbody = $('totals');
  tbody.textContent = '';
  TYPES.forEach((ty, k) => {
    const n = (s.totals || {})[ty] || 0;
    if (n) {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = COLOURS[k];
      li.append(sw, document.createTextNode(`${ty} ${n}`));
      legend.append(li);
    }
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = ty;
    const td = document.createElement('td');
    td.className = 'num';
    td.textContent = String(n);
    tr.append(th, td);
    tbody.append(tr);
  });
}

/* ---- the live stream ---- */

function cell(text, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
}

function eventRow(e) {
  const tr = document.createElement('tr');
  tr.dataset.eventId = String(e.id);
  tr.dataset.type = e.type;
  const time = new Date(e.ts).toLocaleTimeString(lang() === 'zh' ? 'zh-CN' : 'en-GB');
  let item = '';
  if (e.item_id) {
    item = document.createElement('a');
    item.href = '/item.html?id=' + encodeURIComponent(e.item_id);
    item.textContent = e.item_id;
  }
  let ctx = '';
  if (e.context) {
    ctx = document.createElement('code');
    const s = JSON.stringify(e.context);
    ctx.textContent = s.length > 120 ? s.slice(0, 119) + '…' : s;
  }
  tr.append(cell(time), cell(e.type), cell(e.user_id), cell(item), cell(String(e.value), 'num'), cell(ctx));
  return tr;
}

function addEvents(evs) {
  const tbody = $('stream');
  for (const e of evs) tbody.prepend(eventRow(e));
  while (tbody.children.length > STREAM_KEEP) tbody.lastElementChild.remove();
  $('stream-count').textContent = t('admin.stream.count', { n: tbody.children.length });
}

async function pollStream() {
  if (paused) return;
  if (lastId === null) {
    const r = await adminGet('/v1/admin/events', { limit: 50 });
    lastId = r.last_id;
    addEvents(r.events);
    return;
  }
  for (let page = 0; page < STREAM_PAGES; page++) {
    const r = await adminGet('/v1/admin/events', { after_id: lastId, limit: 100 });
    if (!key) return;
    addEvents(r.events);
    lastId = r.last_id;
    if (!r.more) return;
  }
  /* Far behind (a burst): jump to the newest rather than replay it all. */
  const r = await adminGet('/v1/admin/events', { limit: 50 });
  $('stream').textContent = '';
  lastId = r.last_id;
  addEvents(r.events);
}

/* ---- the model ---- */

function fmt(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, '');
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/* Rows of a two-column table for an object's members (nested objects
 * flattened one level: "catalog.items"). */
function kvRows(body, obj, prefix) {
  const add = (k, v) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = k;
    tr.append(th, cell(fmt(v)));
    body.append(tr);
  };
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) add(`${prefix ? prefix + '.' : ''}${k}.${k2}`, v2);
    } else {
      add(`${prefix ? prefix + '.' : ''}${k}`, v);
    }
  }
}

function weightRow(group, name, w, scale) {
  const tr = document.createElement('tr');
  tr.dataset.feature = name;
  const bar = document.createElement('span');
  const frac = scale > 0 ? Math.min(1, Math.abs(w) / scale) : 0;
  bar.setAttribute('aria-hidden', 'true');
  bar.style.cssText = `display:inline-block;height:.6rem;vertical-align:middle;margin-left:.5rem;` +
    `width:${(frac * 6).toFixed(2)}rem;background:${w < 0 ? '#e15759' : '#4e79a7'}`;
  const val = document.createElement('span');
  val.textContent = fmt(w);
  const td = cell(val, 'num');
  td.append(bar);
  tr.append(cell(group), cell(name), td);
  return tr;
}

function drawWeights(rk) {
  const box = $('weights');
  box.textContent = '';
  if (!rk) return;
  const table = document.createElement('table');
  table.dataset.testid = 'weights-table';
  const head = document.createElement('thead');
  head.innerHTML = '<tr><th scope="col"></th><th scope="col"></th><th scope="col"></th></tr>';
  const ths = head.querySelectorAll('th');
  ths[0].textContent = t('admin.weights.group');
  ths[1].textContent = t('admin.weights.feature');
  ths[2].textContent = t('admin.weights.weight');
  const body = document.createElement('tbody');
  const all = [];
  for (const g of ['interest', 'ar']) for (const w of Object.values((rk[g] && rk[g].weights) || {})) all.push(w);
  const scale = all.reduce((a, w) => Math.max(a, Math.abs(w)), 0);
  for (const [g, label] of [['interest', t('admin.weights.interest')], ['ar', t('admin.weights.ar')]]) {
    const part = rk[g] || {};
    for (const [name, w] of Object.entries(part.weights || {})) body.append(weightRow(label, name, w, scale));
    if (typeof part.bias === 'number') body.append(weightRow(label, 'bias', part.bias, scale));
  }
  const comb = t('admin.weights.combine');
  for (const k of ['alpha', 'beta', 'bias']) if (typeof rk[k] === 'number') body.append(weightRow(comb, k, rk[k], scale));
  table.append(head, body);
  if (rk.form) {
    const cap = document.createElement('caption');
    const code = document.createElement('code');
    code.textContent = rk.form;
    cap.append(code);
    table.prepend(cap);
  }
  box.append(table);
}

function drawModel() {
  const box = $('model');
  box.textContent = '';
  if (modelError) {
    $('model-status').textContent = modelError;
    drawWeights(null);
    return;
  }
  const m = lastModel;
  if (!m) return;
  $('model-status').textContent = t('admin.model.updated', { time: new Date().toLocaleTimeString(lang() === 'zh' ? 'zh-CN' : 'en-GB') });
  const table = document.createElement('table');
  table.className = 'model-table';
  const body = document.createElement('tbody');
  kvRows(body, { ranker: (m.ranker && m.ranker.meta) || {} });
  if (m.snapshot) {
    kvRows(body, { snapshot: { version: m.snapshot.version } });
    kvRows(body, m.snapshot.catalog, 'catalog');
    kvRows(body, m.snapshot.behaviour, 'behaviour');
  }
  if (m.live) kvRows(body, { live: m.live });
  if (m.schedule) kvRows(body, { schedule: m.schedule });
  table.append(body);
  box.append(table);
  drawWeights(m.ranker);
}

async function loadModel() {
  try {
    lastModel = await adminGet('/v1/model');
    modelError = null;
  } catch (e) {
    if (refused(e)) return;
    lastModel = null;
    modelError = e.unavailable ? t('admin.model.unavailable') : describeError(e, t);
  }
  drawModel();
}

async function retrain() {
  const s = $('retrain-status');
  $('retrain').disabled = true;
  try {
    await request('POST', '/v1/admin/retrain', { key });
    s.textContent = t('admin.retrain.queued');
    setTimeout(loadModel, 5000);
  } catch (e) {
    if (!refused(e)) s.textContent = e.status === 409 ? t('admin.retrain.busy') : describeError(e, t);
  } finally {
    $('retrain').disabled = false;
  }
}

/* ---- start ---- */

function start() {
  initPage();
  for (const img of document.querySelectorAll('.plots img')) {
    const fig = img.closest('figure');
    img.alt = fig.querySelector('figcaption').textContent;
    img.addEventListener('error', () => {
      const p = document.createElement('p');
      p.className = 'notice';
      p.textContent = t('admin.eval.missing');
      img.replaceWith(p);
    });
  }
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const k = $('admin-key').value.trim();
    if (k) signIn(k);
  });
  $('key-forget').addEventListener('click', () => signOut(true));
  $('stream-pause').addEventListener('click', (e) => {
    paused = !paused;
    e.currentTarget.setAttribute('aria-pressed', String(paused));
  });
  $('retrain').addEventListener('click', retrain);
  document.addEventListener('vt:lang', () => {
    if (lastStats) drawStats(lastStats);
    drawModel();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && key) startPolling();
  });
  const k = storedKey();
  if (k) signIn(k);
}

start();
