/*
 * test_admin.mjs - the operator's dashboard (web/admin.html) in real
 * Chromium against a real server with the demo catalog.
 *
 * Checks: without an admin key nothing is shown (a read key is refused by
 * name); with one, the events chart draws exactly the counts the server
 * gives for events this test posted, the live stream grows when an event
 * is posted, the ranker's weights table lists every weight of GET
 * /v1/model, the offline evaluation plots load, and the key lives in
 * sessionStorage until the operator forgets it.
 */
import {
  test, run, assert, eq, waitFor, demoDb, workCopy, createKey, startServer, launchBrowser,
  newPage, screenshot,
} from './harness.mjs';

const S = {};

async function setup() {
  if (S.srv) return;
  const { work, db } = workCopy('admin', demoDb(60));
  S.admin = createKey(db, 'admin', work);
  S.read = createKey(db, 'read', work);
  S.srv = await startServer({ db, work });
  S.browser = await launchBrowser();
  const items = await S.srv.fetchJson('/v1/items?limit=3', { key: S.admin });
  eq(items.status, 200, 'catalog listed');
  S.items = items.json.items.map((i) => i.id);
  assert(S.items.length === 3, 'three demo items');
}

async function postEvents(evs) {
  const r = await S.srv.fetchJson('/v1/events', { method: 'POST', key: S.admin, body: evs });
  eq(r.status, 200, `events accepted (${r.text})`);
}

const unexpectedErrors = (page) => page.consoleErrors.filter((e) => !/Failed to load resource/.test(e));

test('no dashboard without an admin key', async () => {
  await setup();
  const page = await newPage(S.browser);
  await page.goto(S.srv.base + '/admin.html');
  assert(await page.locator('[data-testid=dashboard]').isHidden(), 'hidden before a key');
  await page.fill('[data-testid=admin-key]', S.read);
  await page.click('[data-testid=key-submit]');
  await waitFor(async () => /not an admin key/.test(await page.locator('[data-testid=admin-status]').textContent()),
    'a read key is refused as not admin');
  assert(await page.locator('[data-testid=dashboard]').isHidden(), 'still hidden with a read key');
  await page.fill('[data-testid=admin-key]', 'vt_000000000000_nonsense');
  await page.click('[data-testid=key-submit]');
  await waitFor(async () => /does not know/.test(await page.locator('[data-testid=admin-status]').textContent()),
    'an unknown key is refused');
  eq(await page.evaluate(() => sessionStorage.getItem('vt_admin_key')), null, 'a refused key is not kept');
  eq(unexpectedErrors(page), [], 'no console errors besides the refused requests');
  await page.close();
});

test('with an admin key: chart, live stream, ranker weights, plots', async () => {
  const now = Date.now();
  // Known events a few minutes ago: 5 views, 3 clicks, 2 AR placements.
  const at = new Date(now - 3 * 60000).toISOString();
  const evs = [];
  for (let i = 0; i < 5; i++) evs.push({ user_id: 'dash-a', item_id: S.items[i % 3], type: 'view', ts: at });
  for (let i = 0; i < 3; i++) evs.push({ user_id: 'dash-b', item_id: S.items[0], type: 'click', ts: at });
  for (let i = 0; i < 2; i++) evs.push({ user_id: 'dash-b', item_id: S.items[1], type: 'ar_place', ts: at, context: { surface: 'floor' } });
  await postEvents(evs);
  const stats = (await S.srv.fetchJson('/v1/admin/stats?minutes=60', { key: S.admin })).json;
  assert(stats.totals.view >= 5 && stats.totals.click >= 3 && stats.totals.ar_place >= 2, 'the server counted them');

  const page = await newPage(S.browser, { viewport: { width: 1400, height: 1100 } });
  S.page = page;
  await page.goto(S.srv.base + '/admin.html');
  await page.fill('[data-testid=admin-key]', S.admin);
  await page.click('[data-testid=key-submit]');
  await page.waitForSelector('[data-testid=chart-svg]');
  assert(await page.locator('[data-testid=dashboard]').isVisible(), 'the dashboard is shown');
  // The chart draws the server's counts: summed per type over its bars.
  const drawn = await page.$$eval('[data-testid=chart-svg] rect[data-type]', (rs) => {
    const o = {};
    for (const r of rs) o[r.dataset.type] = (o[r.dataset.type] || 0) + Number(r.dataset.count);
    return o;
  });
  const want = Object.fromEntries(Object.entries(stats.totals).filter(([, v]) => v));
  eq(drawn, want, 'bars per type sum to the server totals');
  const label = await page.locator('[data-testid=chart-svg]').getAttribute('aria-label');
  assert(label.includes(String(stats.total)), `the chart's text names the total (${label})`);

  // The live stream shows the newest events and grows with new ones.
  await waitFor(async () => (await page.locator('[data-testid=event-stream] tr').count()) >= 10, 'the stream shows the posted events');
  const before = await page.locator('[data-testid=event-stream] tr').count();
  await postEvents([{ user_id: 'dash-live', item_id: S.items[2], type: 'tryon' }]);
  const row = page.locator('[data-testid=event-stream] tr[data-type=tryon]');
  await waitFor(async () => (await row.count()) === 1, 'the new event appears in the stream', 10000);
  assert((await row.textContent()).includes('dash-live'), 'the row names its user');
  eq(await page.locator('[data-testid=event-stream] tr').count(), before + 1, 'one row more');
  eq(await page.locator('[data-testid=event-stream] tr').first().getAttribute('data-type'), 'tryon', 'newest on top');

  // The ranker's weights: every weight of GET /v1/model, with its value.
  const model = await S.srv.fetchJson('/v1/model', { key: S.admin });
  eq(model.status, 200, 'GET /v1/model answers');
  await page.waitForSelector('[data-testid=weights-table]');
  const rows = await page.$$eval('[data-testid=weights-table] tbody tr', (trs) => trs.map((tr) => [tr.dataset.feature, tr.children[2].textContent.trim()]));
  const shown = new Map(rows);
  for (const g of ['interest', 'ar']) {
    for (const [name, w] of Object.entries(model.json.ranker[g].weights)) {
      assert(shown.has(name), `weight ${g}.${name} is listed`);
      assert(Math.abs(Number(shown.get(name)) - w) <= 1e-3 * Math.max(1, Math.abs(w)), `weight ${name}: ${shown.get(name)} vs ${w}`);
    }
  }
  // The offline evaluation plots are served and drawn.
  const plots = await page.$$eval('[data-testid=eval-plots] img', (imgs) => imgs.map((i) => [i.complete, i.naturalWidth]));
  eq(plots.length, 2, 'two plots');
  for (const [done, w] of plots) assert(done && w > 0, 'a plot loaded');
  await screenshot(page, 'admin', { fullPage: true });
  eq(page.offLoopback, [], 'no request left the machine');
  eq(unexpectedErrors(page), [], 'no console errors');
});

test('the key stays for the tab until forgotten', async () => {
  const page = S.page;
  await page.reload();
  await page.waitForSelector('[data-testid=chart-svg]');
  assert(await page.locator('[data-testid=dashboard]').isVisible(), 'signed in again from sessionStorage');
  await page.click('[data-testid=key-forget]');
  assert(await page.locator('[data-testid=dashboard]').isHidden(), 'hidden after forgetting');
  eq(await page.evaluate(() => sessionStorage.getItem('vt_admin_key')), null, 'the key is gone');
  await page.reload();
  assert(await page.locator('[data-testid=dashboard]').isHidden(), 'not signed in after a reload');
});

run('test_admin.mjs');
