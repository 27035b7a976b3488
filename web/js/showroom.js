/*
 * showroom.js - the virtual showroom: a room furnished with the shopper's
 * recommendations (GET /v1/recommend?context=showroom), every piece at its
 * true size, walkable with mouse, keyboard and touch, and in VR through
 * WebXR where the browser offers immersive-vr.
 *
 * Invariants:
 *   - True scale: each piece's GLB is measured (exact bounding box of its
 *     vertices, +Y up, X = width, Z = depth) and scaled per axis so that
 *     its box is dims_cm / 100 metres. The GLBs are converted at true scale
 *     already, so the correction is normally 1; a model off by more than 1%
 *     is corrected and reported in state().
 *   - No overlaps: pieces stand unrotated in rows (tallest at the back),
 *     with a gap inside a row and an aisle between rows; the room is sized
 *     around them.
 *   - One piece per recommendation: a piece without a model (or whose
 *     model fails to load) stands as a plain box of its dimensions, so the
 *     room always holds what the list says.
 *   - Telemetry (showroom_view, click) goes through telemetry.js, which
 *     sends nothing before the shopper agreed. A click on a piece in the
 *     room is a click on its link in the list, so it is tracked (with the
 *     list's rec_id) exactly like a click on the link.
 *   - Rendering is on demand (after a change or while moving), except in VR
 *     where the headset drives every frame.
 *
 * window.vtShowroom exposes refresh() (re-furnish now), state() (what the
 * room holds, world-space sizes measured now), screenPoint(id) and
 * lookAt(id), for the storefront and the browser tests.
 */
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { get, describeError } from './api.js';
import { t, addStrings, initPage, itemTitle, formatPrice, formatDims } from './i18n.js';
import { initTelemetry, onConsentChange, activeSession, allowed, track as send } from './telemetry.js';

addStrings({
  en: {
    'showroom.title': 'Your showroom',
    'showroom.intro': 'Walk through a room furnished with pieces picked for you, each at its real size.',
    'showroom.skip': 'Skip to the list of pieces',
    'showroom.stage': '3D room',
    'showroom.canvas': '3D showroom. The list of pieces follows the room.',
    'showroom.pad': 'Walk',
    'showroom.forward': 'Walk forward',
    'showroom.back': 'Walk back',
    'showroom.left': 'Step left',
    'showroom.right': 'Step right',
    'showroom.turnleft': 'Turn left',
    'showroom.turnright': 'Turn right',
    'showroom.help': 'Drag to look around. Click the room, then walk with W A S D or the arrow keys (or the buttons; on a touch screen drag with two fingers to walk). Click a piece to open its page.',
    'showroom.loading': 'Furnishing the room…',
    'showroom.ready': '{n} pieces picked for you are in the room.',
    'showroom.ready.catalog': 'Personal recommendations are not available right now, so the room shows {n} pieces from the catalogue.',
    'showroom.empty': 'There is nothing to show in the room yet.',
    'showroom.failed': 'The room could not be furnished.',
    'showroom.nowebgl': 'This browser cannot draw the 3D room (WebGL is off). The pieces are listed below.',
    'showroom.pieces': 'Pieces in this room',
    'showroom.open': 'Open',
    'showroom.goto': 'Walk to it',
    'showroom.refresh': 'Refurnish',
    'showroom.nomodel': 'no 3D model: shown as a box',
    'showroom.vr': 'Enter VR',
    'showroom.vr.exit': 'Exit VR',
    'showroom.vr.none': 'VR needs a headset and a browser with WebXR; this one has none.',
    'showroom.vr.unsupported': 'No VR headset is available to this browser.',
    'showroom.vr.failed': 'VR could not start: {why}',
    'showroom.vr.ready': 'A VR headset is available.',
  },
  zh: {
    'showroom.title': '你的展厅',
    'showroom.intro': '在为你挑选的家具之间走一走，每件都是真实尺寸。',
    'showroom.skip': '跳到家具列表',
    'showroom.stage': '3D 展厅',
    'showroom.canvas': '3D 展厅。展厅后面是家具列表。',
    'showroom.pad': '行走',
    'showroom.forward': '向前走',
    'showroom.back': '向后走',
    'showroom.left': '向左走',
    'showroom.right': '向右走',
    'showroom.turnleft': '向左转',
    'showroom.turnright': '向右转',
    'showroom.help': '拖动即可环顾四周。点击房间后，用 W A S D 或方向键行走（也可用按钮；触摸屏上用两根手指拖动行走）。点击家具打开它的页面。',
    'showroom.loading': '正在布置展厅…',
    'showroom.ready': '展厅里有 {n} 件为你挑选的家具。',
    'showroom.ready.catalog': '暂时无法提供个性化推荐，展厅展示目录中的 {n} 件家具。',
    'showroom.empty': '展厅里暂时还没有东西。',
    'showroom.failed': '展厅布置失败。',
    'showroom.nowebgl': '此浏览器无法绘制 3D 展厅（WebGL 已关闭）。家具列在下面。',
    'showroom.pieces': '展厅里的家具',
    'showroom.open': '打开',
    'showroom.goto': '走过去',
    'showroom.refresh': '重新布置',
    'showroom.nomodel': '没有 3D 模型：以方块显示',
    'showroom.vr': '进入 VR',
    'showroom.vr.exit': '退出 VR',
    'showroom.vr.none': 'VR 需要头显和支持 WebXR 的浏览器；此浏览器不支持。',
    'showroom.vr.unsupported': '此浏览器没有可用的 VR 头显。',
    'showroom.vr.failed': '无法启动 VR：{why}',
    'showroom.vr.ready': '有可用的 VR 头显。',
  },
});

/* ---- constants (metres, seconds) ---- */
const PIECES = 8;              /* recommendations asked for */
const EYE = 1.6;               /* eye height when not in VR */
const GAP = 0.6;               /* between pieces in a row */
const AISLE = 1.4;             /* between rows */
const MARGIN = 0.9;            /* between the pieces and the walls */
const ENTRY = 3.0;             /* free floor at the front, where one enters */
const WALL_H = 2.8;
const WALK_SPEED = 1.8;        /* m/s */
const TURN_SPEED = 1.6;        /* rad/s */
const BODY = 0.3;              /* the visitor's radius, for collisions */
const SCALE_TOLERANCE = 0.01;  /* a model within 1% of its dimensions is left as it is */
const VIEW_DISTANCE = 3.5;     /* a piece this close and ahead counts as seen */
const VIEW_ANGLE = 0.5;        /* rad */
const POLL_MS = 60000;         /* re-ask the recommendations this often */
const AFTER_EVENT_MS = 4000;   /* and this long after the shopper did something */
const LOAD_PARALLEL = 3;

/* ---- page state ---- */
const el = {};
let renderer = null, scene = null, camera = null, rig = null;
let piecesGroup = null, roomGroup = null;
let loader = null;
const raycaster = new THREE.Raycaster();
let needsRender = true;
let pieces = [];               /* {item, group, size:{w,d,h}, x, z, glb, scale:[sx,sy,sz]} */
let room = { width: 6, depth: 8 };
let yaw = 0, pitch = -0.08;
const keys = new Set();
const held = new Set();        /* walk-pad buttons pressed */
let lastFrame = 0;
let current = { ids: '', recId: null, source: null, status: 'loading', error: null };
let furnishing = null;         /* the refresh in progress */
let refreshTimer = 0;
const seen = new Set();        /* pieces counted as viewed on this page */
let xrSession = null;

/* ---- the scene ---- */

function initScene() {
  const canvas = el.canvas;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
  } catch (e) {
    renderer = null;
    return false;
  }
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  renderer.outputColorSpace = THREE.SRGBColorSpace;
  scene = new THREE.Scene();
  scene.background = new THREE.Color(0xdfe3e8);
  camera = new THREE.PerspectiveCamera(60, 1, 0.05, 200);
  rig = new THREE.Group();
  rig.add(camera);
  camera.position.set(0, EYE, 0);
  scene.add(rig);
  scene.add(new THREE.HemisphereLight(0xffffff, 0xb8b0a2, 2.0));
  const sun = new THREE.DirectionalLight(0xffffff, 1.6);
  sun.position.set(3, 6, 4);
  scene.add(sun);
  const fill = new THREE.DirectionalLight(0xffffff, 0.6);
  fill.position.set(-4, 3, -2);
  scene.add(fill);
  roomGroup = new THREE.Group();
  piecesGroup = new THREE.Group();
  scene.add(roomGroup, piecesGroup);
  const draco = new DRACOLoader();
  draco.setDecoderPath('/vendor/draco/');
  loader = new GLTFLoader();
  loader.setDRACOLoader(draco);
  resize();
  new ResizeObserver(resize).observe(el.stage);
  renderer.setAnimationLoop(frame);
  return true;
}

function resize() {
  if (!renderer) return;
  const w = el.stage.clientWidth || 640, h = el.stage.clientHeight || 400;
  renderer.setSize(w, h, false);
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
  needsRender = true;
}

function disposeTree(obj) {
  obj.traverse((o) => {
    if (o.geometry) o.geometry.dispose();
    const mats = o.material ? (Array.isArray(o.material) ? o.material : [o.material]) : [];
    for (const m of mats) {
      for (const v of Object.values(m)) if (v && v.isTexture) v.dispose();
      m.dispose();
    }
  });
}

/* Floor, walls and ceiling around the layout. */
function buildRoom() {
  for (const c of [...roomGroup.children]) { roomGroup.remove(c); disposeTree(c); }
  const { width, depth } = room;
  const floor = new THREE.Mesh(new THREE.PlaneGeometry(width, depth),
    new THREE.MeshStandardMaterial({ color: 0xc8a57a, roughness: 0.85 }));
  floor.rotation.x = -Math.PI / 2;
  floor.position.set(0, 0, -depth / 2);
  floor.name = 'floor';
  const shell = new THREE.Mesh(new THREE.BoxGeometry(width, WALL_H, depth),
    new THREE.MeshStandardMaterial({ color: 0xf1efe9, roughness: 0.95, side: THREE.BackSide }));
  shell.position.set(0, WALL_H / 2 - 0.002, -depth / 2);
  shell.name = 'walls';
  /* A skirting line where walls meet the floor helps judge distances. */
  const skirt = new THREE.LineSegments(
    new THREE.EdgesGeometry(new THREE.BoxGeometry(width - 0.01, 0.08, depth - 0.01)),
    new THREE.LineBasicMaterial({ color: 0x9c9384 }));
  skirt.position.set(0, 0.04, -depth / 2);
  roomGroup.add(floor, shell, skirt);
}

/* ---- layout: rows from the back wall, no overlaps ---- */

/* sizes: [{w, d, h}] metres. Returns {positions: [{x, z}], width, depth};
 * the room spans x in [-width/2, width/2], z in [-depth, 0]. */
export function layoutPieces(sizes) {
  const area = sizes.reduce((a, s) => a + (s.w + GAP) * (s.d + AISLE), 0);
  const widest = sizes.reduce((a, s) => Math.max(a, s.w), 0);
  const rowMax = Math.max(4.5, widest, Math.sqrt(area) * 1.4);
  const order = sizes.map((s, i) => i).sort((a, b) => sizes[b].h - sizes[a].h || a - b);
  const rows = [];
  let row = null;
  for (const i of order) {
    const s = sizes[i];
    const extra = row && row.items.length ? GAP : 0;
    if (!row || row.width + extra + s.w > rowMax) {
      row = { items: [], width: 0, depth: 0 };
      rows.push(row);
    }
    row.width += (row.items.length ? GAP : 0) + s.w;
    row.depth = Math.max(row.depth, s.d);
    row.items.push(i);
  }
  const inner = rows.reduce((a, r) => Math.max(a, r.width), 3);
  const width = inner + 2 * MARGIN;
  const positions = new Array(sizes.length);
  let z = MARGIN; /* distance from the back wall */
  const backs = [];
  for (const r of rows) {
    let x = -r.width / 2;
    for (const i of r.items) {
      const s = sizes[i];
      positions[i] = { x: x + s.w / 2, back: z + s.d / 2 };
      x += s.w + GAP;
    }
    backs.push(z);
    z += r.depth + AISLE;
  }
  const depth = z - AISLE + ENTRY;
  for (const p of positions) { p.z = -depth + p.back; delete p.back; }
  return { positions, width, depth };
}

/* ---- pieces ---- */

function dimsMetres(item) {
  const d = item && item.dims_cm;
  const ok = (v) => typeof v === 'number' && isFinite(v) && v > 0;
  if (d && ok(d.w) && ok(d.d) && ok(d.h)) return { w: d.w / 100, d: d.d / 100, h: d.h / 100 };
  return null;
}

function loadGlb(url) {
  return new Promise((resolve, reject) => loader.load(url, resolve, undefined, reject));
}

/* Wrap a model so that its box is `want` metres (or its own size when
 * want is null), standing on y = 0, centred on x and z. */
function fitModel(model, want) {
  model.updateMatrixWorld(true);
  const box = new THREE.Box3().setFromObject(model, true);
  const size = box.getSize(new THREE.Vector3());
  const centre = box.getCenter(new THREE.Vector3());
  model.position.sub(new THREE.Vector3(centre.x, box.min.y, centre.z));
  const scaler = new THREE.Group();
  scaler.add(model);
  const scale = [1, 1, 1];
  if (want) {
    const target = [want.w, want.h, want.d], got = [size.x, size.y, size.z];
    for (let a = 0; a < 3; a++) {
      if (got[a] > 1e-5 && Math.abs(got[a] / target[a] - 1) > SCALE_TOLERANCE) scale[a] = target[a] / got[a];
    }
    scaler.scale.set(scale[0], scale[1], scale[2]);
  }
  const final = want || { w: size.x, d: size.z, h: size.y };
  return { object: scaler, scale, size: final };
}

function placeholderBox(size) {
  const m = new THREE.Mesh(new THREE.BoxGeometry(size.w, size.h, size.d),
    new THREE.MeshStandardMaterial({ color: 0x9db4c8, roughness: 0.7 }));
  m.position.y = size.h / 2;
  return m;
}

function labelSprite(item, width) {
  const c = document.createElement('canvas');
  c.width = 512; c.height = 128;
  const g = c.getContext('2d');
  g.fillStyle = 'rgba(255,255,255,0.92)';
  g.strokeStyle = 'rgba(0,0,0,0.15)';
  g.lineWidth = 4;
  g.beginPath();
  if (g.roundRect) g.roundRect(4, 4, 504, 120, 24); else g.rect(4, 4, 504, 120);
  g.fill(); g.stroke();
  g.fillStyle = '#1d1d1f';
  g.font = '600 44px system-ui, "Noto Sans CJK SC", sans-serif';
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  let title = itemTitle(item);
  while (title.length > 4 && g.measureText(title).width > 480) title = title.slice(0, -2) + '…';
  g.fillText(title, 256, 46);
  g.font = '36px system-ui, sans-serif';
  g.fillStyle = '#5f6368';
  g.fillText(formatPrice(item.price, item.currency) || '', 256, 96);
  const tex = new THREE.CanvasTexture(c);
  tex.colorSpace = THREE.SRGBColorSpace;
  const s = new THREE.Sprite(new THREE.SpriteMaterial({ map: tex, depthWrite: false }));
  const w = Math.min(Math.max(width, 0.6), 1.2);
  s.scale.set(w, w / 4, 1);
  return s;
}

/* Build one piece (model or box), not yet positioned. */
async function buildPiece(item) {
  const want = dimsMetres(item);
  let fitted = null, glb = false, error = null;
  if (item.model_url) {
    try {
      const gltf = await loadGlb(item.model_url);
      fitted = fitModel(gltf.scene, want);
      glb = true;
    } catch (e) {
      error = String(e && e.message ? e.message : e);
      console.warn('showroom: model of', item.id, 'did not load:', error);
    }
  }
  if (!fitted) {
    const size = want || { w: 0.5, d: 0.5, h: 0.5 };
    fitted = { object: placeholderBox(size), scale: [1, 1, 1], size };
  }
  const group = new THREE.Group();
  group.name = 'piece:' + item.id;
  group.add(fitted.object);
  const label = labelSprite(item, fitted.size.w);
  label.position.set(0, fitted.size.h + 0.3, 0);
  label.name = 'label';
  group.add(label);
  group.userData.itemId = item.id;
  if (fitted.scale.some((v) => v !== 1)) {
    console.warn('showroom: model of', item.id, 'corrected by', fitted.scale.map((v) => v.toFixed(3)).join(' × '));
  }
  return { item, group, size: fitted.size, glb, scale: fitted.scale, error, x: 0, z: 0 };
}

async function mapLimit(list, limit, fn) {
  const out = new Array(list.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, list.length) }, async () => {
    while (next < list.length) {
      const i = next++;
      out[i] = await fn(list[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

/* A piece can stay as it is when its model and dimensions did not change. */
function sameShape(a, b) {
  const da = a.dims_cm || {}, db = b.dims_cm || {};
  return a.model_url === b.model_url && da.w === db.w && da.d === db.d && da.h === db.h;
}

/* Furnish the room with items (replacing what stands there). */
async function furnish(items) {
  const old = new Map(pieces.map((p) => [p.item.id, p]));
  const built = await mapLimit(items, LOAD_PARALLEL, async (it) => {
    const keep = old.get(it.id);
    if (keep && sameShape(keep.item, it)) { old.delete(it.id); keep.item = it; return keep; }
    return buildPiece(it);
  });
  for (const p of old.values()) { piecesGroup.remove(p.group); disposeTree(p.group); }
  const plan = layoutPieces(built.map((p) => p.size));
  room = { width: plan.width, depth: plan.depth };
  built.forEach((p, i) => {
    p.x = plan.positions[i].x;
    p.z = plan.positions[i].z;
    p.group.position.set(p.x, 0, p.z);
    if (p.group.parent !== piecesGroup) piecesGroup.add(p.group);
  });
  pieces = built;
  buildRoom();
  /* A new piece may stand where the visitor was: back to the entrance. */
  if (!current.walked || blocked(rig.position.x, rig.position.z)) placeAtEntry();
  clampPosition();
  needsRender = true;
}

function placeAtEntry() {
  rig.position.set(0, 0, -0.5);
  yaw = 0;
  pitch = -0.18;
  applyView();
}

/* ---- the list beside the canvas ---- */

function renderList(items) {
  const ol = el.list;
  ol.textContent = '';
  /* telemetry.js tracks clicks on a[data-item-id] with the list's rec_id. */
  ol.dataset.list = 'showroom';
  if (current.recId) ol.dataset.recId = current.recId; else delete ol.dataset.recId;
  for (const it of items) {
    const li = document.createElement('li');
    li.dataset.itemId = it.id;
    li.dataset.testid = 'piece';
    const a = document.createElement('a');
    a.href = '/item.html?id=' + encodeURIComponent(it.id);
    a.className = 'piece-title';
    a.dataset.itemId = it.id;
    a.dataset.position = String(items.indexOf(it));
    a.textContent = itemTitle(it);
    const meta = document.createElement('span');
    meta.className = 'piece-meta';
    const bits = [formatPrice(it.price, it.currency), formatDims(it.dims_cm)];
    const p = pieces.find((x) => x.item.id === it.id);
    if (p && !p.glb) bits.push(t('showroom.nomodel'));
    meta.textContent = bits.filter(Boolean).join(' · ');
    li.append(a, meta);
    if (it.reason && it.reason.text) {
      const r = document.createElement('span');
      r.className = 'piece-reason';
      r.textContent = it.reason.text;
      li.append(r);
    }
    const actions = document.createElement('span');
    actions.className = 'piece-actions';
    const go = document.createElement('button');
    go.type = 'button';
    go.className = 'secondary';
    go.textContent = t('showroom.goto');
    go.setAttribute('aria-label', t('showroom.goto') + ': ' + itemTitle(it));
    go.dataset.testid = 'piece-goto';
    go.addEventListener('click', () => { lookAt(it.id); el.canvas.focus({ preventScroll: true }); });
    if (!renderer) go.disabled = true;
    actions.append(go);
    li.append(actions);
    ol.append(li);
  }
}

function setStatus(text, kind) {
  el.status.textContent = text;
  el.status.className = kind === 'error' ? 'notice error' : kind === 'ok' ? 'muted' : 'notice';
}

/* ---- fetching what to show ---- */

async function fetchItems() {
  /* The shopper is the one of the session token, once they allowed it;
   * before that the room shows what an anonymous visitor gets. */
  let headers;
  if (allowed()) {
    try {
      const s = await activeSession();
      if (s) headers = { 'X-Vitrine-Session': s.session_token };
    } catch (_) { headers = undefined; }
  }
  try {
    const r = await get('/v1/recommend', { context: 'showroom', n: PIECES }, { headers });
    return { items: r.items || [], recId: r.rec_id || null, source: 'recommend' };
  } catch (e) {
    /* The engine may not be up (503) or may fail: the catalogue still
     * furnishes a room, and the status line says so. */
    if (e && e.name === 'AbortError') throw e;
    console.warn('showroom: recommendations unavailable:', e && e.message);
    const r = await get('/v1/items', { limit: PIECES });
    return { items: r.items || [], recId: null, source: 'catalog', why: e };
  }
}

/* Re-ask what to show; re-furnish when it changed (or when forced). */
async function refresh(force) {
  if (furnishing) return furnishing.then(() => refresh(force));
  furnishing = (async () => {
    try {
      const got = await fetchItems();
      const ids = got.items.map((i) => i.id).join('\n');
      current.recId = got.recId;
      if (!force && ids === current.ids && current.status === 'ready') return false;
      if (renderer) await furnish(got.items);
      else pieces = got.items.map((item) => ({ item, glb: false, size: dimsMetres(item), scale: [1, 1, 1] }));
      current.ids = ids;
      current.source = got.source;
      current.items = got.items;
      current.status = 'ready';
      current.error = null;
      renderList(got.items);
      if (!got.items.length) setStatus(t('showroom.empty'), 'notice');
      else if (!renderer) setStatus(t('showroom.nowebgl'), 'error');
      else if (got.source === 'catalog') setStatus(t('showroom.ready.catalog', { n: got.items.length }), 'notice');
      else setStatus(t('showroom.ready', { n: got.items.length }), 'ok');
      document.dispatchEvent(new CustomEvent('vt:showroom', { detail: { pieces: got.items.length } }));
      return true;
    } catch (e) {
      current.status = current.status === 'ready' ? 'ready' : 'error';
      current.error = String(e && e.message ? e.message : e);
      setStatus(t('showroom.failed') + ' ' + describeError(e, t), 'error');
      return false;
    } finally {
      furnishing = null;
    }
  })();
  return furnishing;
}

function refreshSoon(ms) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh(false), ms);
}

/* ---- telemetry ---- */

/* One event about a piece; nothing leaves without consent (telemetry.js).
 * What the shopper does may change their recommendations, so the room asks
 * again a little later. */
function track(type, itemId) {
  if (!allowed()) return;
  const context = {};
  if (current.recId) context.rec_id = current.recId;
  send(type, { item_id: itemId, context });
  refreshSoon(AFTER_EVENT_MS);
}

/* A piece counts as seen once per page, and only once it could be sent. */
function markSeen(id) {
  markLooking(id);
  if (seen.has(id) || !allowed()) return;
  seen.add(id);
  track('showroom_view', id);
}

/* A piece close ahead counts as seen. */
function checkSeen() {
  if (!pieces.length) return;
  const pos = new THREE.Vector3();
  camera.getWorldPosition(pos);
  const dir = new THREE.Vector3();
  camera.getWorldDirection(dir);
  dir.y = 0;
  dir.normalize();
  for (const p of pieces) {
    if (!p.group || seen.has(p.item.id)) continue;
    const to = new THREE.Vector3(p.x - pos.x, 0, p.z - pos.z);
    const dist = Math.max(0, to.length() - Math.max(p.size.w, p.size.d) / 2);
    if (dist > VIEW_DISTANCE) continue;
    if (to.lengthSq() > 1e-6 && to.normalize().angleTo(dir) > VIEW_ANGLE) continue;
    markSeen(p.item.id);
  }
}

function markLooking(id) {
  for (const li of el.list.children) li.classList.toggle('looking', li.dataset.itemId === id);
}

/* ---- walking ---- */

function applyView() {
  rig.rotation.set(0, yaw, 0);
  if (!xrSession) camera.rotation.set(pitch, 0, 0, 'YXZ');
  needsRender = true;
}

function blocked(x, z) {
  for (const p of pieces) {
    if (!p.size) continue;
    if (Math.abs(x - p.x) < p.size.w / 2 + BODY && Math.abs(z - p.z) < p.size.d / 2 + BODY) return true;
  }
  return false;
}

function clampPosition() {
  const hw = room.width / 2 - BODY;
  rig.position.x = Math.min(hw, Math.max(-hw, rig.position.x));
  rig.position.z = Math.min(-BODY, Math.max(-room.depth + BODY, rig.position.z));
}

/* Move by (forward, right) metres relative to where one looks. */
function walk(forward, right) {
  const sx = -Math.sin(yaw), sz = -Math.cos(yaw);
  const dx = sx * forward + Math.cos(yaw) * right;
  const dz = sz * forward - Math.sin(yaw) * right;
  const p = rig.position;
  if (!blocked(p.x + dx, p.z)) p.x += dx;
  if (!blocked(p.x, p.z + dz)) p.z += dz;
  clampPosition();
  current.walked = true;
  needsRender = true;
}

function turn(rad) {
  yaw += rad;
  applyView();
}

function look(dx, dy) {
  yaw -= dx * 0.005;
  pitch = Math.max(-1.2, Math.min(1.2, pitch - dy * 0.005));
  applyView();
}

/* Stand in front of a piece, facing it. */
export function lookAt(id) {
  const p = pieces.find((x) => x.item.id === id);
  if (!p || !rig) return false;
  const dist = Math.max(p.size.w, p.size.h) * 0.9 + p.size.d / 2 + 0.9;
  rig.position.set(p.x, 0, p.z + dist);
  clampPosition();
  const dx = p.x - rig.position.x, dz = p.z - rig.position.z;
  yaw = Math.atan2(-dx, -dz);
  const horiz = Math.hypot(dx, dz);
  pitch = Math.atan2(p.size.h / 2 - EYE, Math.max(horiz, 0.3));
  current.walked = true;
  applyView();
  markSeen(id);
  return true;
}

const KEYMAP = {
  KeyW: 'forward', ArrowUp: 'forward', KeyS: 'back', ArrowDown: 'back',
  KeyA: 'left', KeyD: 'right', ArrowLeft: 'turn-left', ArrowRight: 'turn-right',
  KeyQ: 'turn-left', KeyE: 'turn-right',
};

function activeMoves() {
  const m = new Set(held);
  for (const k of keys) if (KEYMAP[k]) m.add(KEYMAP[k]);
  return m;
}

function step(dt) {
  const m = activeMoves();
  if (!m.size) return false;
  const f = (m.has('forward') ? 1 : 0) - (m.has('back') ? 1 : 0);
  const r = (m.has('right') ? 1 : 0) - (m.has('left') ? 1 : 0);
  const tr = (m.has('turn-left') ? 1 : 0) - (m.has('turn-right') ? 1 : 0);
  if (f || r) walk(f * WALK_SPEED * dt, r * WALK_SPEED * dt);
  if (tr) turn(tr * TURN_SPEED * dt);
  return true;
}

/* Thumbsticks in VR: forward/back on one axis, snap turns on the other. */
let snapReady = true;
function xrStep(dt) {
  if (!xrSession) return;
  for (const src of xrSession.inputSources) {
    const gp = src.gamepad;
    if (!gp || gp.axes.length < 4) continue;
    const ax = gp.axes[2], ay = gp.axes[3];
    if (Math.abs(ay) > 0.2) {
      const head = new THREE.Vector3();
      renderer.xr.getCamera().getWorldDirection(head);
      const heading = Math.atan2(-head.x, -head.z);
      const d = -ay * WALK_SPEED * dt;
      const nx = rig.position.x - Math.sin(heading) * d, nz = rig.position.z - Math.cos(heading) * d;
      if (!blocked(nx, nz)) rig.position.set(nx, 0, nz);
      clampPosition();
    }
    if (Math.abs(ax) > 0.7 && snapReady) { turn(ax > 0 ? -Math.PI / 6 : Math.PI / 6); snapReady = false; }
    if (Math.abs(ax) < 0.3) snapReady = true;
  }
}

/* Seconds since the last movement step (capped: a stalled tab does not
 * teleport the visitor), and restart the count. Software rendering can
 * take a good part of a second per frame, so movement follows the time a
 * key was held, not the number of frames drawn. */
function elapsed(now) {
  const dt = lastFrame ? Math.min(0.5, Math.max(0, (now - lastFrame) / 1000)) : 0;
  lastFrame = now;
  return dt;
}

function frame(time) {
  const dt = elapsed(time);
  const moving = step(dt);
  xrStep(dt);
  if (needsRender || moving || xrSession) {
    renderer.render(scene, camera);
    needsRender = false;
    if (!frame.nextSeen || time > frame.nextSeen) { checkSeen(); frame.nextSeen = time + 500; }
  }
}

/* ---- picking ---- */

function pieceAt(clientX, clientY) {
  const r = el.canvas.getBoundingClientRect();
  const ndc = new THREE.Vector2(((clientX - r.left) / r.width) * 2 - 1, -((clientY - r.top) / r.height) * 2 + 1);
  raycaster.setFromCamera(ndc, camera);
  return pickWith(raycaster);
}

function pickWith(ray) {
  const hits = ray.intersectObjects(piecesGroup.children, true);
  for (const h of hits) {
    let o = h.object;
    while (o && !o.userData.itemId) o = o.parent;
    if (o) return o.userData.itemId;
  }
  return null;
}

/* Open a piece's page through its link in the list (tracked there). */
function openItem(id) {
  const go = () => {
    const a = [...el.list.querySelectorAll('a[data-item-id]')].find((x) => x.dataset.itemId === id);
    if (a) a.click();
    else location.href = '/item.html?id=' + encodeURIComponent(id);
  };
  if (xrSession) xrSession.end().then(go, go); else go();
}

/* Client coordinates of a visible point of a piece (for tests and tools):
 * the centre of its box if a ray there hits it, else the first of a few
 * points on the box that does; null when none is visible. */
export function screenPoint(id) {
  const p = pieces.find((x) => x.item.id === id);
  if (!p || !p.group) return null;
  scene.updateMatrixWorld(true); /* the view may have moved since the last frame */
  const box = new THREE.Box3().setFromObject(p.group.children[0], true);
  const r = el.canvas.getBoundingClientRect();
  const c = box.getCenter(new THREE.Vector3());
  const tries = [c];
  for (const fy of [0.3, 0.7]) for (const fx of [0.3, 0.5, 0.7]) {
    tries.push(new THREE.Vector3(box.min.x + (box.max.x - box.min.x) * fx,
      box.min.y + (box.max.y - box.min.y) * fy, c.z));
  }
  for (const v of tries) {
    const s = v.clone().project(camera);
    if (s.z > 1 || Math.abs(s.x) > 1 || Math.abs(s.y) > 1) continue;
    const x = r.left + (s.x + 1) / 2 * r.width, y = r.top + (1 - s.y) / 2 * r.height;
    if (pieceAt(x, y) === id) return { x, y };
  }
  return null;
}

function wireInput() {
  const c = el.canvas;
  const pointers = new Map();
  let down = null;
  c.addEventListener('pointerdown', (e) => {
    c.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    down = pointers.size === 1 ? { x: e.clientX, y: e.clientY, t: performance.now(), moved: 0 } : null;
  });
  c.addEventListener('pointermove', (e) => {
    const prev = pointers.get(e.pointerId);
    if (!prev) {
      if (e.pointerType === 'mouse' && !hoverQueued) {
        hoverQueued = true;
        requestAnimationFrame(() => {
          hoverQueued = false;
          if (renderer) c.classList.toggle('over-piece', !!pieceAt(e.clientX, e.clientY));
        });
      }
      return;
    }
    const dx = e.clientX - prev.x, dy = e.clientY - prev.y;
    prev.x = e.clientX; prev.y = e.clientY;
    if (down) down.moved += Math.abs(dx) + Math.abs(dy);
    if (pointers.size >= 2) {
      /* Two fingers: walk (each finger's share of the move). */
      walk(dy * 0.01 / pointers.size, -dx * 0.01 / pointers.size);
    } else {
      look(dx, dy);
    }
  });
  const up = (e) => {
    const was = pointers.has(e.pointerId);
    pointers.delete(e.pointerId);
    if (was && e.type === 'pointerup' && down && down.moved < 6 && performance.now() - down.t < 800) {
      const id = pieceAt(e.clientX, e.clientY);
      if (id) openItem(id);
    }
    if (!pointers.size) down = null;
  };
  c.addEventListener('pointerup', up);
  c.addEventListener('pointercancel', up);
  c.addEventListener('keydown', (e) => {
    if (KEYMAP[e.code]) { keys.add(e.code); e.preventDefault(); }
  });
  c.addEventListener('keyup', (e) => {
    if (keys.has(e.code)) step(elapsed(performance.now())); /* the time since the last frame */
    keys.delete(e.code);
  });
  c.addEventListener('blur', () => keys.clear());
  for (const b of document.querySelectorAll('[data-walk]')) {
    const action = b.dataset.walk;
    const release = () => {
      if (held.has(action)) step(elapsed(performance.now()));
      held.delete(action);
    };
    b.addEventListener('pointerdown', (e) => { b.setPointerCapture(e.pointerId); held.add(action); e.preventDefault(); });
    b.addEventListener('pointerup', release);
    b.addEventListener('pointercancel', release);
    b.addEventListener('lostpointercapture', release);
    /* Keyboard (Enter/Space) gives one step or one turn. */
    b.addEventListener('click', (e) => {
      if (e.detail !== 0) return; /* a pointer click already moved */
      if (action === 'forward') walk(0.5, 0);
      else if (action === 'back') walk(-0.5, 0);
      else if (action === 'left') walk(0, -0.5);
      else if (action === 'right') walk(0, 0.5);
      else turn(action === 'turn-left' ? Math.PI / 12 : -Math.PI / 12);
    });
  }
}
let hoverQueued = false;

/* ---- WebXR ---- */

async function setupVR() {
  const btn = el.vr, note = el.vrNote;
  btn.disabled = true;
  if (!renderer || !('xr' in navigator)) { note.textContent = t('showroom.vr.none'); return; }
  let ok = false;
  try { ok = await navigator.xr.isSessionSupported('immersive-vr'); } catch (_) { ok = false; }
  if (!ok) { note.textContent = t('showroom.vr.unsupported'); return; }
  note.textContent = t('showroom.vr.ready');
  btn.disabled = false;
  btn.addEventListener('click', () => (xrSession ? xrSession.end() : startVR()));
  for (let i = 0; i < 2; i++) {
    const ctl = renderer.xr.getController(i);
    ctl.addEventListener('select', () => {
      raycaster.setFromXRController(ctl);
      const id = pickWith(raycaster);
      if (id) openItem(id);
    });
    rig.add(ctl);
  }
}

async function startVR() {
  try {
    const session = await navigator.xr.requestSession('immersive-vr',
      { optionalFeatures: ['local-floor', 'bounded-floor'] });
    renderer.xr.enabled = true;
    renderer.xr.setReferenceSpaceType('local-floor');
    await renderer.xr.setSession(session);
    xrSession = session;
    el.vr.textContent = t('showroom.vr.exit');
    session.addEventListener('end', () => {
      xrSession = null;
      renderer.xr.enabled = false;
      camera.position.set(0, EYE, 0);
      el.vr.textContent = t('showroom.vr');
      applyView();
      resize();
    });
  } catch (e) {
    el.vrNote.textContent = t('showroom.vr.failed', { why: e && e.message ? e.message : String(e) });
  }
}

/* ---- what tests and tools can read ---- */

function state() {
  return {
    status: current.status,
    busy: !!furnishing,
    error: current.error,
    source: current.source,
    recId: current.recId,
    webgl: !!renderer,
    room: { width: room.width, depth: room.depth },
    camera: rig ? { x: rig.position.x, z: rig.position.z, yaw, pitch } : null,
    pieces: pieces.map((p) => {
      let world = null;
      if (p.group) {
        p.group.updateMatrixWorld(true);
        const b = new THREE.Box3().setFromObject(p.group.children[0], true);
        const s = b.getSize(new THREE.Vector3());
        world = { w: s.x * 100, d: s.z * 100, h: s.y * 100,
          min: [b.min.x, b.min.y, b.min.z], max: [b.max.x, b.max.y, b.max.z] };
      }
      return { id: p.item.id, dims_cm: p.item.dims_cm || null, glb: p.glb, scale: p.scale,
        world_cm: world, error: p.error || null };
    }),
    seen: [...seen],
  };
}

/* ---- start ---- */

function start() {
  initPage();
  initTelemetry();
  el.canvas = document.getElementById('room');
  el.stage = document.getElementById('stage');
  el.status = document.getElementById('showroom-status');
  el.list = document.getElementById('piece-list');
  el.vr = document.getElementById('vr-button');
  el.vrNote = document.getElementById('vr-note');
  const hasGL = initScene();
  window.vtShowroom = { refresh: () => refresh(true), state, screenPoint, lookAt, ready: null };
  if (hasGL) wireInput();
  setupVR();
  document.getElementById('refresh').addEventListener('click', () => refresh(true));
  document.addEventListener('vt:lang', () => {
    if (current.items) renderList(current.items);
    for (const p of pieces) {
      if (!p.group) continue;
      const old = p.group.getObjectByName('label');
      const label = labelSprite(p.item, p.size.w);
      label.position.copy(old.position);
      label.name = 'label';
      p.group.remove(old);
      disposeTree(old);
      p.group.add(label);
    }
    needsRender = true;
  });
  onConsentChange(() => refresh(false));
  window.vtShowroom.ready = refresh(true);
  setInterval(() => { if (document.visibilityState === 'visible' && !xrSession) refresh(false); }, POLL_MS);
}

start();
