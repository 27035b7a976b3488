/*
 * test_storefront.mjs - the storefront pages (home, search, product,
 * privacy) in real Chromium against a real server holding the 820-piece
 * demo catalog (built once by scripts/fetch-demo, cached under
 * build/browser/cache/).
 *
 * What a shopper would notice: sofas come first for "沙发" and "sofa";
 * removing a filter chip re-queries without it; a product page draws its 3D
 * model (screenshot pixels, not just a "load" event) with the right
 * dimensions and AR attributes; nothing is sent before consent; an AR
 * placement reaches the server as an ar_place event and moves "Recommended
 * for you" toward that piece; the fit check answers right both ways;
 * Chinese renders; the pages fit a phone; and no request leaves loopback.
 */
import * as h from './harness.mjs';

const SOFA = 'scopia-simple-sofa';       // "Sofa" / "沙发", 179.8 x 67.3 x 95 cm, Living room
const WINDOW = 'kator-legaz-window-01';   // a door_or_window piece: AR on the wall
const PHONE = { width: 390, height: 844 };
const SOFA_RE = /sofa|couch|settee|沙发/i;

const S = {};

async function readKey() {
  if (!S.readKey) S.readKey = h.createKey(S.db, 'read', S.work);
  return S.readKey;
}

async function userEvents(user) {
  const r = await S.srv.fetchJson(`/v1/users/${encodeURIComponent(user)}/events?limit=200`, { key: await readKey() });
  if (r.status === 404) return [];
  h.eq(r.status, 200, 'GET /v1/users/{id}/events');
  return r.json.events;
}

async function titleOf(id) {
  const r = await S.srv.fetchJson(`/v1/items/${encodeURIComponent(id)}`, { key: S.publicKey });
  return r.json ? r.json.title : null;
}

/* Pages should never leave loopback, whatever else a test checks. */
function noOffLoopback(page) {
  h.eq(page.offLoopback, [], 'requests that tried to leave loopback');
}

/* Wait for the product page's title. Polls on a timer: a page drawing a 3D
 * model in software starves requestAnimationFrame-based waits. */
async function itemReady(page) {
  await page.waitForFunction(() => {
    const el = document.querySelector('[data-testid="item-title"]');
    return el && el.textContent.trim().length > 0;
  }, null, { polling: 100, timeout: 60000 });
}

async function acceptConsent(page) {
  await page.getByTestId('consent-accept').click();
  return h.waitFor(() => page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('vt_session') || 'null');
    return s && s.user_id;
  }), 'a session after consent');
}

async function recItems(page) {
  await page.waitForSelector('[data-testid="rec-item"], [data-testid="rec-status"].notice', { timeout: 20000 });
  return page.$$eval('[data-testid="rec-item"]', (as) => as.map((a) => ({
    id: a.dataset.itemId,
    reason: (a.querySelector('[data-testid="rec-reason"]') || {}).dataset?.code || null,
  })));
}

h.test('set-up: demo catalog, server, browser', async () => {
  const db = h.demoDb(0);
  const { work, db: copy } = h.workCopy('storefront', db);
  S.work = work;
  S.db = copy;
  S.srv = await h.startServer({ db: copy, work });
  const sf = await S.srv.fetchJson('/v1/storefront');
  h.eq(sf.status, 200, 'GET /v1/storefront');
  S.publicKey = sf.json.public_key;
  // The engine builds its first snapshot before the server listens; its
  // routes answer 503 only while a part is not implemented or failed.
  const cats = await S.srv.fetchJson('/v1/categories', { key: S.publicKey });
  h.assert(cats.status === 200, `GET /v1/categories answered ${cats.status}: ${cats.text.slice(0, 200)}`);
  S.browser = await h.launchBrowser();
});

h.test('home: trending for a new visitor, categories, interactive quickly; phone layout', async () => {
  h.assert(S.browser, 'no browser');
  const page = await h.newPage(S.browser);
  await page.goto(S.srv.base + '/');
  const items = await recItems(page);
  h.assert(items.length >= 4, `expected a list of recommendations, got ${items.length}: ` +
    await page.getByTestId('rec-status').textContent());
  h.eq(await page.locator('#rec-heading').textContent(), 'Trending now', 'a new visitor sees trending');
  await page.waitForSelector('[data-testid="category"]', { timeout: 10000 });
  const cats = await page.$$eval('[data-testid="category"]', (as) => as.map((a) => a.textContent.trim()));
  h.assert(cats.length >= 5 && cats.some((c) => c.startsWith('Living room')), `categories: ${cats}`);
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = performance.getEntriesByName('vt:rec-rendered')[0];
    return { interactive: nav.domInteractive, content: nav.domContentLoadedEventEnd, recs: mark ? mark.startTime : null };
  });
  console.log(`  home (820 items): DOM interactive ${t.interactive.toFixed(0)} ms, ` +
              `DOMContentLoaded ${t.content.toFixed(0)} ms, recommendations drawn ${t.recs.toFixed(0)} ms`);
  h.assert(t.recs !== null && t.recs < 10000, `recommendations drawn after ${t.recs} ms (bound 10 s; target 2 s)`);
  await h.screenshot(page, 'home-desktop', { fullPage: true });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  h.assert(overflow <= 1, `the home page is ${overflow}px wider than a phone screen`);
  await h.screenshot(page, 'home-phone', { fullPage: true });
  // Card pictures load lazily.
  const lazy = await page.$$eval('[data-testid="rec-item"] img', (imgs) => imgs.every((i) => i.loading === 'lazy'));
  h.assert(lazy, 'card images must be loading=lazy');
  noOffLoopback(page);
  await page.context().close();
});

h.test('nothing is sent before consent; consent by keyboard starts the session', async () => {
  const page = await h.newPage(S.browser, { blockModels: true });
  await page.goto(S.srv.base + '/');
  await recItems(page);
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  await page.getByTestId('add-to-cart').click();
  await page.goto(`${S.srv.base}/search.html?q=sofa`);
  await page.waitForSelector('[data-testid="result"], [data-testid="search-status"].notice');
  await page.waitForTimeout(2500); // longer than the telemetry batch delay
  const leaks = page.requests.filter((r) => /\/v1\/(events|session)\b/.test(r.url) || /user_id=/.test(r.url) ||
    (r.postData && /user_id/.test(r.postData)));
  h.eq(leaks.map((r) => `${r.method} ${r.url}`), [], 'requests with shopper data before consent');
  h.eq(await page.evaluate(() => localStorage.getItem('vt_session')), null, 'no session stored before consent');
  // Keyboard only: Tab until the banner's Allow button has focus, then Enter.
  let focused = '';
  for (let i = 0; i < 40 && focused !== 'consent-accept'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => (document.activeElement && document.activeElement.dataset.testid) || '');
  }
  h.eq(focused, 'consent-accept', 'the Allow button is reachable with Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  h.assert(outline !== 'none', 'focus is visible on the Allow button');
  await page.keyboard.press('Enter');
  const user = await h.waitFor(() => page.evaluate(() => (JSON.parse(localStorage.getItem('vt_session') || 'null') || {}).user_id),
    'a session after consent');
  h.assert(page.requests.some((r) => r.method === 'POST' && r.url.endsWith('/v1/session')), 'POST /v1/session after consent');
  // After consent a product view is recorded, and the time spent on the
  // page goes out with sendBeacon when the page is left (the only way the
  // dwell event is sent).
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  await page.waitForTimeout(2200);
  // The tab goes to the background (what a phone does when the shopper
  // switches apps): the page stays alive, so its beacon can be watched.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await h.waitFor(() => page.requests.some((r) => r.method === 'POST' && /\/v1\/events\?key=vt_[^&]+&session=anon_/.test(r.url)),
    'the queued events go with sendBeacon (key and session in the query)', 5000);
  await page.goto(S.srv.base + '/privacy.html');
  const evs = await h.waitFor(async () => {
    const e = await userEvents(user);
    return e.some((x) => x.type === 'view' && x.item_id === SOFA) && e.some((x) => x.type === 'dwell') && e;
  }, 'the view and dwell events after consent');
  const dwell = evs.find((x) => x.type === 'dwell');
  h.assert(dwell.item_id === SOFA && dwell.value >= 2, `dwell event ${JSON.stringify(dwell)}`);
  h.assert(!evs.some((x) => x.type === 'add_to_cart'), 'the cart click before consent was not sent later');
  await h.screenshot(page, 'privacy', { fullPage: true });
  noOffLoopback(page);
  await page.context().close();
});

h.test('saying no keeps everything local; the choice can be changed later', async () => {
  const page = await h.newPage(S.browser, { blockModels: true });
  await page.goto(S.srv.base + '/');
  await recItems(page);
  await page.getByTestId('consent-decline').click();
  h.eq(await page.$('[data-testid="consent-banner"]'), null, 'the banner goes away');
  await page.reload();
  await recItems(page);
  h.eq(await page.$('[data-testid="consent-banner"]'), null, 'and stays away after a reload');
  await page.locator('[data-testid="rec-item"]').first().click();
  await itemReady(page);
  await page.getByTestId('buy').click();
  await page.waitForTimeout(2000);
  await page.goto(S.srv.base + '/privacy.html');
  const sent = page.requests.filter((r) => /\/v1\/(events|session)\b/.test(r.url) || /user_id=/.test(r.url));
  h.eq(sent.map((r) => `${r.method} ${r.url}`), [], 'requests with shopper data after saying no');
  // The footer's "Privacy choices" brings the question back.
  await page.locator('footer [data-consent-change]').click();
  h.assert(await page.getByTestId('consent-accept').isVisible(), 'the banner is back');
  noOffLoopback(page);
  await page.context().close();
});

async function searchFor(page, text) {
  const box = page.getByTestId('search-input');
  await box.fill(text);
  await box.press('Enter');
  await page.waitForURL(/search\.html/);
  await page.waitForSelector('[data-testid="result"], [data-testid="search-status"].notice', { timeout: 20000 });
  return page.$$eval('[data-testid="result"]', (as) => as.map((a) => ({ id: a.dataset.itemId, title: a.querySelector('.title').textContent })));
}

h.test('search: "沙发" and "sofa" show sofas first; a filter chip can be removed', async () => {
  const page = await h.newPage(S.browser);
  await page.goto(S.srv.base + '/');
  for (const q of ['sofa', '沙发']) {
    const res = await searchFor(page, q);
    h.assert(res.length >= 3, `"${q}": ${res.length} results: ` + await page.getByTestId('search-status').textContent());
    // Titles show in the interface language (English); check the item's
    // every title so a zh-only name counts too.
    for (const r of res.slice(0, 3)) {
      const ti = await titleOf(r.id);
      const all = ti && typeof ti === 'object' ? Object.values(ti).join(' ') : String(ti);
      h.assert(SOFA_RE.test(all), `"${q}": result ${r.id} (${all}) in the top 3 is not a sofa; top 5: ${res.slice(0, 5).map((x) => x.title)}`);
    }
    await h.screenshot(page, q === 'sofa' ? 'search-sofa' : 'search-shafa', { fullPage: true });
  }
  // "sofa under 5000": the price filter is a chip; removing it re-queries
  // with ignore=price_max and shows the dearer sofas again.
  await searchFor(page, 'sofa under 5000');
  const chips = await page.$$eval('[data-testid="chip"]', (cs) => cs.map((c) => c.dataset.kind));
  h.assert(chips.includes('price_max'), `a price_max chip for "under 5000", got ${JSON.stringify(chips)}`);
  const before = page.requests.length;
  await page.locator('[data-testid="chip"][data-kind="price_max"] button').click();
  await h.waitFor(() => page.requests.slice(before).some((r) => r.url.includes('/v1/search') && /ignore=price_max/.test(r.url)),
    'a search request with ignore=price_max');
  await h.waitFor(async () => !(await page.$('[data-testid="chip"][data-kind="price_max"]')), 'the chip disappears');
  h.assert(/ignore=price_max/.test(page.url()), 'the page URL says which filter is off: ' + page.url());
  await h.screenshot(page, 'search-chip-removed', { fullPage: true });
  noOffLoopback(page);
  await page.context().close();
});

h.test('product page: 3D model drawn, dimensions, demo price, licence, AR attributes', async () => {
  const page = await h.newPage(S.browser, { viewport: { width: 960, height: 720 } });
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  const api = (await S.srv.fetchJson(`/v1/items/${SOFA}`, { key: S.publicKey })).json;
  const dims = await page.getByTestId('item-dims').textContent();
  const r1 = (v) => String(Math.round(v * 10) / 10);
  h.eq(dims, `W ${r1(api.dims_cm.w)} × D ${r1(api.dims_cm.d)} × H ${r1(api.dims_cm.h)} cm`, 'dimensions shown');
  h.assert(/demo/.test(await page.getByTestId('item-price').textContent()), 'the price is marked demo');
  const credit = await page.getByTestId('item-credit').textContent();
  h.assert(credit.includes(api.assets.license), `licence ${api.assets.license} shown: ${credit}`);
  const mv = page.getByTestId('model-viewer');
  const attrs = await mv.evaluate((el) => ({ ar: el.hasAttribute('ar'), modes: el.getAttribute('ar-modes'),
    scale: el.getAttribute('ar-scale'), placement: el.getAttribute('ar-placement'), src: el.getAttribute('src') }));
  h.eq(attrs, { ar: true, modes: 'webxr scene-viewer quick-look', scale: 'fixed', placement: 'floor', src: api.model_url }, 'model-viewer attributes');
  await h.waitFor(() => mv.evaluate((el) => el.loaded === true), 'model-viewer loaded', 60000);
  await page.waitForTimeout(1500); // let it draw a few frames after the load
  const png = await h.screenshot(mv, 'item-model', { timeout: 60000 });
  const st = h.pixelStats(png);
  console.log(`  model-viewer canvas: luminance stddev ${st.stddev.toFixed(1)}, ${st.distinct} colours`);
  h.assert(st.stddev > 4 && st.distinct > 30, `the 3D view looks blank (stddev ${st.stddev.toFixed(2)}, ${st.distinct} colours)`);
  const bad = page.consoleErrors.filter((e) => /texture|GLTFLoader|WebGL|model-viewer/i.test(e));
  h.eq(bad, [], 'console errors about the model');
  // Turning the model by hand is a rotate event (once consent is given).
  const user = await acceptConsent(page);
  const box = await mv.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(box.x + box.width / 2 + i * 25, box.y + box.height / 2, { steps: 2 });
  await page.mouse.up();
  await h.waitFor(async () => (await userEvents(user)).some((x) => x.type === 'rotate' && x.item_id === SOFA),
    'a rotate event after dragging the model', 20000);
  // Similar pieces (another engineer's route): listed, never the piece itself.
  await page.waitForSelector('[data-testid="similar-item"], [data-testid="similar-status"].notice', { timeout: 20000 });
  const sim = await page.$$eval('[data-testid="similar-item"]', (as) => as.map((a) => a.dataset.itemId));
  h.assert(sim.length > 0 && !sim.includes(SOFA), `similar pieces: ${sim}`);
  await h.screenshot(page, 'item-desktop', { fullPage: true, timeout: 60000 });
  noOffLoopback(page);
  await page.context().close();
});

h.test('product page on a phone; a window is placed on the wall in AR', async () => {
  // The model itself is checked above; here it is not loaded (software
  // WebGL would redraw it at every size).
  const page = await h.newPage(S.browser, { viewport: PHONE, blockModels: true });
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  await page.waitForSelector('[data-testid="similar-item"], [data-testid="similar-status"].notice', { timeout: 20000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  h.assert(overflow <= 1, `the product page is ${overflow}px wider than a phone screen`);
  h.assert(await page.getByTestId('model-viewer').isVisible(), 'the 3D viewer is on the phone layout');
  await h.screenshot(page, 'item-phone', { fullPage: true });
  await page.goto(`${S.srv.base}/item.html?id=${WINDOW}`);
  await itemReady(page);
  h.eq(await page.getByTestId('model-viewer').getAttribute('ar-placement'), 'wall', 'ar-placement of a window');
  noOffLoopback(page);
  await page.context().close();
});

h.test('AR placement reaches the server as ar_place and moves "Recommended for you"', async () => {
  const page = await h.newPage(S.browser, { blockModels: true });
  await page.goto(S.srv.base + '/');
  const user = await acceptConsent(page);
  const before = await h.waitFor(async () => {
    const items = await recItems(page);
    const personal = await page.getByTestId('rec-panel').getAttribute('data-user-id');
    return personal === user && items;
  }, 'the personal list after consent');
  // Open the sofa from a list when it is in one (checks rec_id), else directly.
  const recId = await page.getByTestId('rec-list').getAttribute('data-rec-id');
  const first = before[0];
  await page.locator(`[data-testid="rec-item"][data-item-id="${first.id}"]`).click();
  await itemReady(page);
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  // What <model-viewer> fires when the shopper places the piece in AR.
  await page.getByTestId('model-viewer').evaluate((el) => {
    el.dispatchEvent(new CustomEvent('ar-status', { detail: { status: 'session-started' } }));
    el.dispatchEvent(new CustomEvent('ar-status', { detail: { status: 'object-placed' } }));
  });
  const evs = await h.waitFor(async () => {
    const e = await userEvents(user);
    return e.some((x) => x.type === 'ar_place' && x.item_id === SOFA) && e;
  }, 'an ar_place event for the sofa on the server', 15000);
  const place = evs.find((x) => x.type === 'ar_place');
  h.eq(place.context, { surface: 'floor' }, 'ar_place context');
  h.assert(evs.some((x) => x.type === 'ar_session' && x.item_id === SOFA), 'an ar_session event');
  const click = evs.find((x) => x.type === 'click' && x.item_id === first.id);
  h.assert(click && click.context && click.context.rec_id === recId, `the click carries the list's rec_id ${recId}: ${JSON.stringify(click)}`);
  const view = evs.find((x) => x.type === 'view' && x.item_id === first.id);
  h.assert(view && view.context && view.context.rec_id === recId, 'the view after the click carries rec_id');
  // Back home: the list now leans toward the sofa.
  await page.goto(S.srv.base + '/');
  const after = await h.waitFor(async () => {
    const items = await recItems(page);
    return (await page.getByTestId('rec-panel').getAttribute('data-user-id')) === user && items;
  }, 'the personal list after the placement');
  const sim = (await S.srv.fetchJson(`/v1/items/${SOFA}/similar?n=20`, { key: S.publicKey })).json;
  const near = new Set([SOFA, ...((sim && sim.items) || []).map((i) => i.id)]);
  const ids = after.map((i) => i.id);
  const cited = after.filter((i) => i.reason === 'ar_place').length;
  const nearBefore = before.filter((i) => near.has(i.id)).length;
  const nearAfter = after.filter((i) => near.has(i.id)).length;
  console.log(`  after ar_place: ${cited} items give ar_place as the reason; pieces like the sofa ${nearBefore} -> ${nearAfter} of ${ids.length}`);
  h.assert(cited > 0 || nearAfter > nearBefore, `the list did not move toward the sofa: before ${before.map((i) => i.id)}, after ${ids}`);
  const reasonText = await page.locator('[data-testid="rec-reason"][data-code="ar_place"]').first().textContent().catch(() => '');
  if (cited) h.assert(/placed/i.test(reasonText), `the ar_place reason reads "${reasonText}"`);
  await h.screenshot(page, 'home-after-ar-place', { fullPage: true });
  noOffLoopback(page);
  await page.context().close();
});

h.test('will it fit: yes for a roomy space, no for a narrow one, with alternatives that fit', async () => {
  const page = await h.newPage(S.browser, { blockModels: true });
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  const d = (await S.srv.fetchJson(`/v1/items/${SOFA}`, { key: S.publicKey })).json.dims_cm;
  const form = page.getByTestId('fit-form');
  async function check(w, dep, hh) {
    await form.getByLabel('Width (cm)').fill(String(w));
    await form.getByLabel('Depth (cm)').fill(String(dep));
    await form.getByLabel('Height (cm)').fill(String(hh));
    await form.getByRole('button', { name: 'Check' }).click();
    const res = page.getByTestId('fit-result');
    await h.waitFor(async () => (await res.getAttribute('data-fits')) !== null || /notice/.test(await res.getAttribute('class')),
      'a fit answer');
    return res;
  }
  // Roomy: 50 cm spare on every side.
  let res = await check(Math.ceil(d.w + 50), Math.ceil(d.d + 50), Math.ceil(d.h + 50));
  h.eq(await res.getAttribute('data-fits'), 'true', 'fits a roomy space: ' + await res.textContent());
  h.assert(/It fits/.test(await res.textContent()), 'says it fits');
  h.assert(/Space left/.test(await res.textContent()), 'shows the margins');
  await h.screenshot(page.getByTestId('fit-result'), 'fit-yes');
  // Narrow: half the width and half the depth, so turning it does not help.
  const W = Math.floor(d.w / 2), D = Math.floor(d.d / 2), H = Math.ceil(d.h + 20);
  res = await check(W, D, H);
  h.eq(await res.getAttribute('data-fits'), 'false', 'does not fit a narrow space: ' + await res.textContent());
  h.assert(/does not fit/.test(await res.textContent()), 'says it does not fit');
  await page.waitForSelector('[data-testid="fit-alt"], [data-testid="fit-alt-list"] li.muted');
  const alts = await page.$$eval('[data-testid="fit-alt"]', (as) => as.map((a) => a.dataset.itemId));
  for (const id of alts) {
    const a = (await S.srv.fetchJson(`/v1/items/${encodeURIComponent(id)}`, { key: S.publicKey })).json.dims_cm;
    const straight = a.w <= W && a.d <= D, turned = a.d <= W && a.w <= D;
    h.assert((straight || turned) && a.h <= H, `alternative ${id} (${a.w}×${a.d}×${a.h}) does not fit ${W}×${D}×${H}`);
  }
  console.log(`  fit: ${alts.length} alternatives for ${W}×${D}×${H} cm, all checked`);
  await h.screenshot(page, 'fit-no-alternatives', { fullPage: true });
  noOffLoopback(page);
  await page.context().close();
});

h.test('Chinese: the language switch turns the interface and item names to Chinese, with CJK fonts', async () => {
  const page = await h.newPage(S.browser, { blockModels: true });
  await page.goto(`${S.srv.base}/item.html?id=${SOFA}`);
  await itemReady(page);
  h.eq(await page.getByTestId('item-title').textContent(), 'Sofa', 'English name first');
  await page.getByTestId('lang-switch').click();
  h.eq(await page.getByTestId('item-title').textContent(), '沙发', 'Chinese name after the switch');
  h.eq(await page.evaluate(() => document.documentElement.lang), 'zh-CN', 'html lang');
  h.eq(await page.locator('#fit-heading').textContent(), '放得下吗？', 'interface in Chinese');
  const fonts = await page.evaluate(async () => {
    await document.fonts.ready;
    return document.fonts.check('16px "Noto Sans CJK SC"', '沙发');
  });
  h.assert(fonts, 'the Noto Sans CJK SC font is available (fonts-noto-cjk)');
  // The text is drawn with real glyphs (not tofu boxes): the title's
  // pixels vary more than a row of identical boxes would.
  const st = h.pixelStats(await h.screenshot(page.getByTestId('item-title'), 'zh-title'));
  h.assert(st.stddev > 10, 'the Chinese title is drawn');
  await page.goto(S.srv.base + '/');
  await recItems(page);
  h.eq(await page.locator('#rec-heading').textContent(), '热门', 'the choice is remembered across pages');
  await h.screenshot(page, 'home-zh', { fullPage: true });
  noOffLoopback(page);
  await page.context().close();
});

await h.run('test_storefront.mjs');
