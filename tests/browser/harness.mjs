/*
 * harness.mjs - what every browser test (tests/browser/test_*.mjs) shares:
 * a real ./vitrine server on a free loopback port with a demo catalog, API
 * keys, Debian's Chromium driven by playwright-core and kept off the
 * network, screenshots, pixel checks and a tiny test runner.
 *
 * Isolation: each test file gets its own work folder under
 * build/browser/<file>/ with a copy of the cached demo database, so tests
 * never see each other's events. The demo database itself (items and their
 * text embeddings) is built once by scripts/fetch-demo (--limit N) into
 * build/browser/cache/ and reused while ./vitrine is not newer than it.
 *
 * Network: every page's requests are watched; anything not addressed to
 * 127.0.0.1/localhost/[::1] (or data:/blob:) is aborted and recorded, and
 * offLoopback() lists them so a test can assert that none left the machine.
 * Chromium also runs with background networking, component updates, sync
 * and QUIC disabled.
 *
 * Output: test(name, fn) registers a case; run() runs them in order, prints
 * "ok - name" / "FAIL - name: reason", the screenshots written, and a last
 * line "<suite>: N passed, N failed". The exit code is 0 only when nothing failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.VITRINE_BIN || path.join(ROOT, 'vitrine');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');
export const CHROMIUM = process.env.VITRINE_CHROMIUM || '/usr/bin/chromium';
const CACHE = path.join(ROOT, 'build', 'browser', 'cache');

/* ---- preconditions: missing tools fail loudly, never skip ---- */

export function requirements() {
  const missing = [];
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium, or run scripts/bootstrap)`);
  if (!fs.existsSync(path.join(ROOT, 'node_modules', 'playwright-core'))) missing.push('node_modules/playwright-core (npm ci, or run scripts/bootstrap)');
  if (!fs.existsSync(path.join(ROOT, 'web', 'vendor', 'model-viewer', 'model-viewer.min.js'))) missing.push('web/vendor/ (make vendor)');
  if (!fs.existsSync(BIN)) missing.push(`${BIN} (make)`);
  return missing;
}

/* ---- the test runner ---- */

const cases = [];
const shots = [];
const cleanups = [];

export function test(name, fn) { cases.push({ name, fn }); }
export function onCleanup(fn) { cleanups.push(fn); }

export class AssertionError extends Error {}

export function assert(cond, msg) {
  if (!cond) throw new AssertionError(msg || 'assertion failed');
}

export function eq(got, want, msg) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new AssertionError(`${msg || 'values differ'}: got ${g}, want ${w}`);
}

/* Poll fn (may be async) until it returns a truthy value; returns it.
 * Throws with msg after timeoutMs. */
export async function waitFor(fn, msg, timeoutMs = 15000, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new AssertionError(`timed out: ${msg}${last ? ' (' + last.message + ')' : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/* Run every registered case; prints the summary line and exits. A file
 * that wants setup failures counted calls fail(reason) instead. */
export async function run(suite) {
  let pass = 0, fail = 0;
  const missing = requirements();
  if (missing.length) {
    console.log(`${suite}: cannot run the browser tests, missing: ${missing.join('; ')}`);
    console.log(`${suite}: 0 passed, ${Math.max(cases.length, 1)} failed`);
    process.exitCode = 1;
    return;
  }
  for (const c of cases) {
    const t0 = Date.now();
    try {
      await c.fn();
      pass++;
      console.log(`ok - ${c.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      fail++;
      console.log(`FAIL - ${c.name}: ${e && e.stack && !(e instanceof AssertionError) ? e.stack : e.message}`);
    }
  }
  for (const fn of cleanups.reverse()) {
    try { await fn(); } catch (e) { console.log(`cleanup: ${e.message}`); }
  }
  for (const s of shots) console.log(`screenshot: ${path.relative(ROOT, s)}`);
  console.log(`${suite}: ${pass} passed, ${fail} failed`);
  process.exitCode = fail ? 1 : 0;
}

/* ---- the demo database and the server ---- */

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function serverEnv(work, extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITRINE_')) env[k] = v;
  Object.assign(env, {
    VITRINE_WEB_DIR: path.join(ROOT, 'web'),
    VITRINE_DATA_DIR: path.join(ROOT, 'data'),
    VITRINE_MODEL: path.join(ROOT, 'data', 'models', 'use-lite'),
    VITRINE_TEXT_DIR: path.join(ROOT, 'data', 'text'),
    VITRINE_LOG_LEVEL: 'info',
    VITRINE_RATE_PUBLIC_RPS: '1000',
    VITRINE_RATE_PUBLIC_BURST: '1000',
  }, extra || {});
  return env;
}

/* The demo catalog (limit pieces; 0 = all 820) as a database cached under
 * build/browser/cache/, rebuilt when ./vitrine is newer. Returns its path. */
export function demoDb(limit) {
  fs.mkdirSync(CACHE, { recursive: true });
  const db = path.join(CACHE, `demo-${limit || 'all'}.db`);
  const fresh = fs.existsSync(db) && fs.statSync(db).mtimeMs >= fs.statSync(BIN).mtimeMs;
  if (fresh) return db;
  // Built under a name of this process's own and renamed into place, so
  // two test files starting together never see half a database.
  const tmp = `${db}.${process.pid}.part`;
  for (const f of [tmp, tmp + '-wal', tmp + '-shm']) fs.rmSync(f, { force: true });
  const args = ['--db', tmp, '--data-dir', path.join(ROOT, 'data')];
  if (limit) args.push('--limit', String(limit));
  // Embedded at import (about 5 s for 820 pieces), so a server started on a
  // copy has nothing to embed and the browser gets the machine's CPUs.
  const env = serverEnv(CACHE);
  const r = spawnSync(path.join(ROOT, 'scripts', 'fetch-demo'), args,
    { cwd: ROOT, env, encoding: 'utf8', timeout: 15 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`scripts/fetch-demo failed (${r.status}): ${(r.stderr || '').slice(-2000)}`);
  // Fold the log into the file, so a plain copy is a complete database.
  const ck = spawnSync('python3', ['-c',
    'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()', tmp]);
  if (ck.status !== 0) throw new Error(`checkpointing the demo database failed: ${ck.stderr}`);
  fs.renameSync(tmp, db);
  for (const f of [tmp + '-wal', tmp + '-shm']) fs.rmSync(f, { force: true });
  return db;
}

/* A fresh work folder build/browser/<name>/ holding a copy of db. */
export function workCopy(name, db) {
  const work = path.join(ROOT, 'build', 'browser', name);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const copy = path.join(work, 'shop.db');
  fs.copyFileSync(db, copy);
  return { work, db: copy };
}

export function createKey(db, scope, work) {
  const r = spawnSync(BIN, ['key', 'create', '--scope', scope, '--db', db],
    { cwd: work, env: serverEnv(work), encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`key create failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop().trim();
}

/* Start ./vitrine serve on a free loopback port. Resolves once /healthz
 * answers; the returned object has base (the URL), port, log (path),
 * fetchJson(path, {method, key, body}) and stop(). */
export async function startServer({ db, work, env, timeoutMs = 60000 }) {
  const port = await freePort();
  const log = path.join(work, `server-${port}.log`);
  const fd = fs.openSync(log, 'a');
  const proc = spawn(BIN, ['serve', '--db', db, '--listen', `127.0.0.1:${port}`],
    { cwd: work, env: serverEnv(work, env), stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  let exited = null;
  proc.on('exit', (code, sig) => { exited = code === null ? sig : code; });
  const base = `http://127.0.0.1:${port}`;
  const srv = {
    base, port, log, proc,
    async fetchJson(p, opts = {}) {
      const headers = { Accept: 'application/json' };
      if (opts.key) headers.Authorization = `Bearer ${opts.key}`;
      if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(base + p, { method: opts.method || 'GET', headers,
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined });
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
      return { status: res.status, json, text };
    },
    async stop() {
      if (exited !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(); }, 15000); proc.once('exit', () => { clearTimeout(t); r(); }); });
    },
  };
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`server exited (${exited}); log ${log}:\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
    try {
      const r = await fetch(base + '/healthz');
      if (r.status === 200) break;
    } catch (_) { /* not listening yet */ }
    if (Date.now() > end) { await srv.stop(); throw new Error(`server did not start; log ${log}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  onCleanup(() => srv.stop());
  return srv;
}

/* ---- the browser ---- */

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-gpu', '--enable-unsafe-swiftshader',
  '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider',
  '--disable-domain-reliability', '--no-pings', '--metrics-recording-only',
];

let pwPromise = null;
async function playwright() {
  if (!pwPromise) pwPromise = import(path.join(ROOT, 'node_modules', 'playwright-core', 'index.mjs'));
  return pwPromise;
}

export async function launchBrowser() {
  const { chromium } = await playwright();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  onCleanup(() => browser.close());
  return browser;
}

function loopback(url) {
  if (url.startsWith('data:') || url.startsWith('blob:') || url.startsWith('about:')) return true;
  try {
    const h = new URL(url).hostname;
    return h === '127.0.0.1' || h === 'localhost' || h === '[::1]' || h === '::1';
  } catch (_) {
    return false;
  }
}

/* A new context and page. opts: viewport {width, height}, locale,
 * blockModels (abort .glb/.gltf loads: drawing a model in software WebGL
 * costs seconds of CPU, which tests that do not look at it skip). The
 * page gets .requests (every request: {url, method, postData, t}),
 * .offLoopback (URLs that tried to leave the machine, aborted) and
 * .consoleErrors (console errors and page errors). */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({
    viewport: opts.viewport || { width: 1280, height: 900 },
    locale: opts.locale || 'en-GB',
    serviceWorkers: 'block',
  });
  const page = await context.newPage();
  page.requests = [];
  page.offLoopback = [];
  page.consoleErrors = [];
  page.blockedModels = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (!loopback(u)) {
      page.offLoopback.push(u);
      return route.abort('blockedbyclient');
    }
    if (opts.blockModels && /\.(glb|gltf)(\?|$)/.test(u)) {
      page.blockedModels.push(u);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  // On the context, not the page: sendBeacon requests sent while a page
  // unloads are not always reported as the page's.
  context.on('request', (req) => {
    page.requests.push({ url: req.url(), method: req.method(), postData: req.postData(), t: Date.now() });
  });
  page.on('console', (m) => { if (m.type() === 'error') page.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  return page;
}

/* Screenshot of the page (or of a locator) to test-artifacts/<name>.png. */
export async function screenshot(target, name, opts = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  const buf = await target.screenshot(Object.assign({ path: file }, opts));
  shots.push(file);
  return buf;
}

/* ---- pixels ---- */

/* Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) into
 * {width, height, channels, data}. Throws on anything else. */
export function decodePng(buf) {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  for (let i = 0; i < 8; i++) if (buf[i] !== sig[i]) throw new Error('not a PNG');
  let off = 8, width = 0, height = 0, ctype = 0, depth = 0, interlace = 0;
  const idat = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0); height = body.readUInt32BE(4);
      depth = body[8]; ctype = body[9]; interlace = body[12];
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  if (depth !== 8 || (ctype !== 2 && ctype !== 6) || interlace !== 0) throw new Error(`unsupported PNG (depth ${depth}, colour type ${ctype}, interlace ${interlace})`);
  const ch = ctype === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * ch;
  if (raw.length < height * (stride + 1)) throw new Error('PNG data too short');
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const prev = y ? out.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x >= ch ? row[x - ch] : 0;
      const b = prev ? prev[x] : 0;
      const c = prev && x >= ch ? prev[x - ch] : 0;
      let v;
      switch (f) {
        case 0: v = src[x]; break;
        case 1: v = src[x] + a; break;
        case 2: v = src[x] + b; break;
        case 3: v = src[x] + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v = src[x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: throw new Error(`bad PNG filter ${f}`);
      }
      row[x] = v & 255;
    }
  }
  return { width, height, channels: ch, data: out };
}

/* Luminance statistics of a PNG: {mean, stddev, distinct} (distinct = how
 * many different 4-bit-quantised colours). A blank canvas has stddev 0. */
export function pixelStats(png) {
  const img = decodePng(png);
  const n = img.width * img.height;
  let sum = 0, sum2 = 0;
  const seen = new Set();
  for (let i = 0; i < n; i++) {
    const r = img.data[i * img.channels], g = img.data[i * img.channels + 1], b = img.data[i * img.channels + 2];
    const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    sum += l; sum2 += l * l;
    seen.add(((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4));
  }
  const mean = sum / n;
  return { mean, stddev: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), distinct: seen.size };
}
