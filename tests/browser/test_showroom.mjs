/*
 * test_showroom.mjs - the virtual showroom (web/showroom.html) in real
 * Chromium (software WebGL) against a real server with the demo catalog.
 *
 * Checks what a shopper would notice: the room is drawn (canvas pixels
 * vary), it holds exactly the pieces /v1/recommend returned to the page,
 * each at its catalogue size (world-space box within 2% of dims_cm) and
 * none overlapping; the keyboard walks; clicking a piece opens its page;
 * the room re-furnishes when the recommendations change; nothing is sent
 * before consent and showroom_view events reach the server after it; no
 * request leaves the machine.
 */
import {
  test, run, assert, eq, waitFor, demoDb, workCopy, createKey, startServer, launchBrowser,
  newPage, screenshot, pixelStats,
} from './harness.mjs';

const S = {};

async function setup() {
  if (S.srv) return;
  const { work, db } = workCopy('showroom', demoDb(60));
  S.admin = createKey(db, 'admin', work);
  S.srv = await startServer({ db, work });
  S.browser = await launchBrowser();
}

/* Open the showroom; resolves with the page and the /v1/recommend answers
 * it received (in order). */
async function openShowroom(consent) {
  const page = await newPage(S.browser, { viewport: { width: 1280, height: 900 } });
  const recs = [];
  page.on('response', async (res) => {
    if (new URL(res.url()).pathname === '/v1/recommend') {
      try { recs.push({ status: res.status(), body: await res.json() }); } catch (_) { /* aborted */ }
    }
  });
  if (consent) {
    await page.addInitScript((c) => localStorage.setItem('vt_consent', c), consent);
  }
  await page.goto(S.srv.base + '/showroom.html');
  await page.waitForFunction(() => window.vtShowroom && window.vtShowroom.state().status === 'ready',
    null, { timeout: 90000 });
  S.recs = recs;
  return { page, recs };
}

function state(page) {
  return page.evaluate(() => window.vtShowroom.state());
}

test('the room holds the recommended pieces at true size, without overlaps', async () => {
  await setup();
  const { page, recs } = await openShowroom(null);
  S.page = page;
  const st = await state(page);
  assert(st.webgl, 'WebGL is available');
  assert(recs.length >= 1, 'the page asked /v1/recommend');
  const answer = recs[recs.length - 1];
  eq(answer.status, 200, '/v1/recommend answered');
  eq(st.source, 'recommend', 'the room shows recommendations, not the catalogue fallback');
  const want = answer.body.items.map((i) => i.id);
  assert(want.length >= 3, `enough recommendations to furnish a room (${want.length})`);
  eq(st.pieces.map((p) => p.id), want, 'one piece per recommendation, same order');
  eq(st.recId, answer.body.rec_id, 'rec_id kept');
  for (const p of st.pieces) {
    assert(p.glb, `${p.id}: its GLB loaded (${p.error || 'no model_url'})`);
    const d = p.dims_cm, w = p.world_cm;
    for (const [axis, a, b] of [['w', w.w, d.w], ['d', w.d, d.d], ['h', w.h, d.h]]) {
      assert(Math.abs(a - b) <= 0.02 * b, `${p.id}: world ${axis} ${a.toFixed(2)} cm vs dims_cm ${b} cm`);
    }
    assert(Math.abs(w.min[1]) < 0.005, `${p.id} stands on the floor (min y ${w.min[1]})`);
    assert(w.min[0] >= -st.room.width / 2 && w.max[0] <= st.room.width / 2 &&
           w.min[2] >= -st.room.depth && w.max[2] <= 0, `${p.id} is inside the room`);
  }
  for (let i = 0; i < st.pieces.length; i++) {
    for (let j = i + 1; j < st.pieces.length; j++) {
      const a = st.pieces[i].world_cm, b = st.pieces[j].world_cm;
      const apart = a.max[0] <= b.min[0] || b.max[0] <= a.min[0] || a.max[2] <= b.min[2] || b.max[2] <= a.min[2];
      assert(apart, `${st.pieces[i].id} and ${st.pieces[j].id} overlap on the floor`);
    }
  }
  // The list beside the canvas names every piece, with a link to its page.
  const links = await page.$$eval('[data-testid=piece-list] a[data-item-id]', (as) => as.map((a) => [a.dataset.itemId, a.getAttribute('href')]));
  eq(links, want.map((id) => [id, '/item.html?id=' + encodeURIComponent(id)]), 'the list of pieces');
  // Drawn: the canvas is not blank.
  await page.waitForTimeout(300);
  const png = await screenshot(page.locator('[data-testid=showroom-canvas]'), 'showroom-canvas');
  const px = pixelStats(png);
  assert(px.stddev > 10 && px.distinct > 40, `the canvas shows a room (stddev ${px.stddev.toFixed(1)}, ${px.distinct} colours)`);
  await screenshot(page, 'showroom');
  eq(page.offLoopback, [], 'no request left the machine');
  eq(page.consoleErrors, [], 'no console errors');
});

test('VR is offered only where WebXR supports immersive-vr', async () => {
  const page = S.page;
  const supported = await page.evaluate(async () => !!(navigator.xr && await navigator.xr.isSessionSupported('immersive-vr').catch(() => false)));
  const disabled = await page.locator('[data-testid=vr-button]').isDisabled();
  const note = (await page.locator('[data-testid=vr-note]').textContent()).trim();
  eq(disabled, !supported, 'the Enter VR button is enabled exactly when immersive-vr is supported');
  assert(note.length > 10, `a message says why (${note})`);
});

test('the keyboard walks and turns; pieces block the way', async () => {
  const page = S.page;
  const before = (await state(page)).camera;
  await page.locator('[data-testid=showroom-canvas]').focus();
  await page.keyboard.down('KeyW');
  await page.waitForTimeout(600);
  await page.keyboard.up('KeyW');
  const after = (await state(page)).camera;
  assert(after.z < before.z - 0.2, `W walks forward (z ${before.z.toFixed(2)} -> ${after.z.toFixed(2)})`);
  await page.keyboard.down('ArrowLeft');
  await page.waitForTimeout(400);
  await page.keyboard.up('ArrowLeft');
  const turned = (await state(page)).camera;
  assert(turned.yaw > after.yaw + 0.2, `the left arrow turns left (yaw ${after.yaw.toFixed(2)} -> ${turned.yaw.toFixed(2)})`);
  // Walking a long way straight ahead ends at a piece or a wall, never inside one.
  await page.evaluate(() => window.vtShowroom.lookAt(window.vtShowroom.state().pieces[0].id));
  await page.keyboard.down('KeyW');
  await page.waitForTimeout(2500);
  await page.keyboard.up('KeyW');
  const st = await state(page);
  for (const p of st.pieces) {
    const w = p.world_cm;
    const inside = st.camera.x > w.min[0] && st.camera.x < w.max[0] && st.camera.z > w.min[2] && st.camera.z < w.max[2];
    assert(!inside, `the visitor does not walk into ${p.id}`);
  }
});

/* The screen point of piece id, walking to it again first when the room
 * re-furnished meanwhile (it does after events and catalog rebuilds, and
 * under load that can fall between the walk and the look); when the piece
 * left the room, the one now at the same place in the list stands in.
 * Resolves {id, x, y}, or null while nothing is in view. */
function walkedTo(page, id, index) {
  return page.evaluate(([pid, at]) => {
    const sr = window.vtShowroom;
    const st = sr.state();
    if (!st.pieces.some((p) => p.id === pid) && st.pieces.length) {
      pid = st.pieces[Math.min(at, st.pieces.length - 1)].id;
    }
    const pt = sr.screenPoint(pid);
    if (pt) return { id: pid, x: pt.x, y: pt.y };
    if (!st.busy) sr.lookAt(pid);
    return null;
  }, [id, index]);
}

test('clicking a piece in the room opens its page', async () => {
  const page = S.page;
  const st = await state(page);
  const target = st.pieces[Math.min(1, st.pieces.length - 1)].id;
  // Walk to it with the keyboard-accessible list, then click it in the room.
  await page.locator(`[data-testid=piece-list] li[data-item-id="${target}"] [data-testid=piece-goto]`).click();
  const pt = await waitFor(() => walkedTo(page, target, 1),
    'the piece is visible after walking to it', 20000);
  await screenshot(page.locator('[data-testid=showroom-canvas]'), 'showroom-walked-to-piece');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/item.html' && u.searchParams.get('id') === pt.id, { timeout: 30000 }),
    page.mouse.click(pt.x, pt.y),
  ]);
  // A drag is a look, not a click: back in the room, dragging across a piece opens nothing.
  await page.goto(S.srv.base + '/showroom.html');
  await page.waitForFunction(() => window.vtShowroom && window.vtShowroom.state().status === 'ready', null, { timeout: 90000 });
  // (The list may differ from the first visit's: take the same position.)
  const again = (await state(page)).pieces;
  const target2 = again[Math.min(1, again.length - 1)].id;
  assert(await page.evaluate((id) => window.vtShowroom.lookAt(id), target2), 'walked to the piece');
  const p2 = await waitFor(() => walkedTo(page, target2, 1), 'visible again', 20000);
  const yaw0 = (await state(page)).camera.yaw;
  await page.mouse.move(p2.x, p2.y);
  await page.mouse.down();
  await page.mouse.move(p2.x + 80, p2.y, { steps: 5 });
  await page.mouse.up();
  await page.waitForTimeout(300);
  eq(new URL(page.url()).pathname, '/showroom.html', 'a drag does not navigate');
  assert((await state(page)).camera.yaw < yaw0 - 0.2, 'dragging right turns the view');
});

test('no events before consent; showroom_view reaches the server after it', async () => {
  const page = S.page;
  const posted = () => page.requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/v1/events');
  eq(posted().length, 0, 'nothing was sent without consent');
  const asked = S.recs.length;
  await page.locator('[data-testid=consent-accept]').click();
  // Consent makes a session: the room asks again, now for that shopper.
  await waitFor(() => S.recs.length > asked, 'the recommendations were asked again after consent', 10000);
  const st = await waitFor(async () => {
    const s = await state(page);
    return !s.busy && s.status === 'ready' ? s : null;
  }, 'the room settled', 30000);
  const target = st.pieces[st.pieces.length - 1].id;
  await page.locator(`[data-testid=piece-list] li[data-item-id="${target}"] [data-testid=piece-goto]`).click();
  const sent = await waitFor(() => posted().find((r) => (r.postData || '').includes('showroom_view') &&
    (r.postData || '').includes(target)), 'a showroom_view event was posted', 10000);
  const batch = JSON.parse(sent.postData);
  const ev = batch.find((e) => e.type === 'showroom_view' && e.item_id === target);
  assert(ev && ev.user_id, 'the event names the session user');
  eq(ev.context && ev.context.rec_id, st.recId, 'the event carries the list it came from');
  const stored = await waitFor(async () => {
    const r = await S.srv.fetchJson('/v1/admin/events?limit=50', { key: S.admin });
    return r.json.events.find((e) => e.type === 'showroom_view' && e.item_id === target && e.user_id === ev.user_id);
  }, 'the server stored the showroom_view event', 10000);
  assert(stored.id > 0, 'stored with an id');
});

test('the room re-furnishes when the recommendations change', async () => {
  const page = S.page;
  const before = (await state(page)).pieces.length;
  assert(before > 3, 'more than three pieces to start with');
  // From now on the answer holds its first three items only (a changed list).
  let served = null;
  const isRec = (u) => u.pathname === '/v1/recommend';
  await page.route(isRec, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.items = body.items.slice(0, 3);
    served = body.items.map((i) => i.id);
    await route.fulfill({ response: res, json: body });
  });
  await page.evaluate(() => window.vtShowroom.refresh());
  let last = null;
  await waitFor(async () => {
    last = await state(page);
    return served && !last.busy && last.pieces.length === 3;
  }, 'the room now holds three pieces', 30000).catch((e) => {
    throw new Error(`${e.message}; state: ${JSON.stringify({ status: last && last.status, busy: last && last.busy, error: last && last.error, n: last && last.pieces.length })}`);
  });
  eq(last.pieces.map((p) => p.id), served, 'the pieces of the new list');
  eq(await page.locator('[data-testid=piece-list] li').count(), 3, 'the list follows');
  await page.unroute(isRec);
  eq(page.offLoopback, [], 'no request left the machine');
});

test('a model whose size differs from its catalogue dimensions is scaled to them', async () => {
  const page = S.page;
  // The same GLB, announced 1.5 times as wide and half as tall.
  let changed = null;
  const isRec = (u) => u.pathname === '/v1/recommend';
  await page.route(isRec, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.items = body.items.slice(0, 2);
    const it = body.items[0];
    it.dims_cm = { w: it.dims_cm.w * 1.5, d: it.dims_cm.d, h: it.dims_cm.h * 0.5 };
    changed = { id: it.id, dims: it.dims_cm };
    await route.fulfill({ response: res, json: body });
  });
  await page.evaluate(() => window.vtShowroom.refresh());
  const st = await waitFor(async () => {
    const s = await state(page);
    return changed && !s.busy && s.pieces.length === 2 && s.pieces[0].id === changed.id ? s : null;
  }, 'the room holds the changed piece', 30000);
  const p = st.pieces[0];
  assert(p.glb, 'still its GLB');
  assert(Math.abs(p.scale[0] - 1.5) < 0.03 && Math.abs(p.scale[1] - 0.5) < 0.01 && Math.abs(p.scale[2] - 1) < 0.02,
    `corrected by 1.5 x 0.5 x 1 (got ${p.scale.map((v) => v.toFixed(3)).join(' x ')})`);
  for (const [a, b] of [[p.world_cm.w, changed.dims.w], [p.world_cm.d, changed.dims.d], [p.world_cm.h, changed.dims.h]]) {
    assert(Math.abs(a - b) <= 0.02 * b, `world ${a.toFixed(1)} cm vs announced ${b.toFixed(1)} cm`);
  }
  await page.unroute(isRec);
});

test('touch: one finger looks, two fingers walk; the walk pad walks', async () => {
  const context = await S.browser.newContext({ viewport: { width: 412, height: 860 }, hasTouch: true, isMobile: true });
  const off = [];
  await context.route('**/*', (route) => {
    const h = new URL(route.request().url()).hostname;
    if (h !== '127.0.0.1') { off.push(route.request().url()); return route.abort(); }
    return route.continue();
  });
  const page = await context.newPage();
  await page.goto(S.srv.base + '/showroom.html');
  await page.waitForFunction(() => window.vtShowroom && window.vtShowroom.state().status === 'ready', null, { timeout: 90000 });
  const box = await page.locator('[data-testid=showroom-canvas]').boundingBox();
  const cdp = await context.newCDPSession(page);
  const touch = (type, pts) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: pts });
  const cx = box.x + box.width / 2, cy = box.y + box.height / 3;
  const c0 = (await state(page)).camera;
  // One finger dragged to the right turns the view.
  await touch('touchStart', [{ x: cx, y: cy, id: 1 }]);
  for (let i = 1; i <= 5; i++) await touch('touchMove', [{ x: cx + i * 16, y: cy, id: 1 }]);
  await touch('touchEnd', []);
  const c1 = (await state(page)).camera;
  assert(c1.yaw < c0.yaw - 0.2, `one finger turns (yaw ${c0.yaw.toFixed(2)} -> ${c1.yaw.toFixed(2)})`);
  eq([c1.x, c1.z], [c0.x, c0.z], 'one finger does not walk');
  // Two fingers dragged down walk forward.
  await touch('touchStart', [{ x: cx - 40, y: cy, id: 1 }, { x: cx + 40, y: cy, id: 2 }]);
  for (let i = 1; i <= 6; i++) await touch('touchMove', [{ x: cx - 40, y: cy + i * 15, id: 1 }, { x: cx + 40, y: cy + i * 15, id: 2 }]);
  await touch('touchEnd', []);
  const c2 = (await state(page)).camera;
  const moved = Math.hypot(c2.x - c1.x, c2.z - c1.z);
  assert(moved > 0.3, `two fingers walk (${moved.toFixed(2)} m)`);
  // Holding the forward button walks too.
  const fwd = page.locator('[data-walk=forward]');
  const fb = await fwd.boundingBox();
  await touch('touchStart', [{ x: fb.x + fb.width / 2, y: fb.y + fb.height / 2, id: 3 }]);
  await page.waitForTimeout(700);
  await touch('touchEnd', []);
  const c3 = (await state(page)).camera;
  assert(Math.hypot(c3.x - c2.x, c3.z - c2.z) > 0.3, 'the forward button walks');
  await screenshot(page, 'showroom-mobile');
  eq(off, [], 'no request left the machine');
  await context.close();
});

test('Enter VR is enabled where immersive-vr is supported, and says why it fails', async () => {
  const page = await newPage(S.browser);
  // A browser that reports a headset but cannot open the session.
  await page.addInitScript(() => {
    Object.defineProperty(navigator, 'xr', { configurable: true, value: {
      isSessionSupported: (mode) => Promise.resolve(mode === 'immersive-vr'),
      requestSession: () => Promise.reject(new Error('no headset connected')),
      addEventListener() {}, removeEventListener() {},
    } });
  });
  await page.goto(S.srv.base + '/showroom.html');
  await page.waitForFunction(() => window.vtShowroom && window.vtShowroom.state().status === 'ready', null, { timeout: 90000 });
  const btn = page.locator('[data-testid=vr-button]');
  await waitFor(async () => !(await btn.isDisabled()), 'the button is enabled', 5000);
  await btn.click();
  await waitFor(async () => /no headset connected/.test(await page.locator('[data-testid=vr-note]').textContent()),
    'the failure is shown', 5000);
  await page.close();
});

run('test_showroom.mjs');
