// Real-browser test of the cross-origin rules and the tracking script, against
// the real shoppulse binary and Chromium.
//
//   SHOPPULSE_BINARY=path/to/shoppulse node e2e/security.e2e.mjs
//
// Two pages on other origins (other ports of 127.0.0.1, which the browser
// treats as other sites' origins): "shop", listed in a public key, and
// "evil", listed nowhere. The server runs with its loopback defaults (no key
// required), so what stops "evil" is the Origin check alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startShoppulse, stopShoppulse } from './server.mjs';

const binary = process.env.SHOPPULSE_BINARY;
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server, base, dataDir, profileDir, browser, shop, evil, shopOrigin, evilOrigin, publicKey;

async function until(what, check, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(50);
  }
}

async function api(path, init = {}) {
  const res = await fetch(base + path, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** A one-page site on its own port: GET / answers html. */
function site(html) {
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html());
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

before(async () => {
  assert.ok(binary && existsSync(binary), 'set SHOPPULSE_BINARY to the shoppulse executable');
  assert.ok(existsSync(chromiumPath), `no browser at ${chromiumPath}`);
  dataDir = mkdtempSync(join(tmpdir(), 'shoppulse-sec-data-'));
  profileDir = mkdtempSync(join(tmpdir(), 'shoppulse-sec-chromium-'));
  shop = await site(() => `<!doctype html><title>shop</title>
<script defer src="${base}/js/shoppulse.js" data-key="${publicKey}" data-product="p-42" data-category="c-7"></script>`);
  evil = await site(() => '<!doctype html><title>evil</title>');
  shopOrigin = `http://127.0.0.1:${shop.address().port}`;
  evilOrigin = `http://127.0.0.1:${evil.address().port}`;
  const created = spawnSync(binary, ['keys', 'create', '--public', '--origin', shopOrigin, '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(created.status, 0, created.stderr);
  publicKey = created.stdout.trim();
  const srv = await startShoppulse(binary, ['--port', '0', '--data-dir', dataDir, '--generator', 'off']);
  server = srv.proc;
  base = srv.url;
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopShoppulse(server);
  shop?.close();
  evil?.close();
  for (const d of [dataDir, profileDir]) if (d) rmSync(d, { recursive: true, force: true });
});

test('a page on another origin can neither read nor write', async () => {
  const page = await browser.newPage();
  // Every request the foreign page sends to the server, until it has its
  // answer or its failure: the beacon is not awaited by the page itself.
  const inFlight = new Set();
  const seen = [];
  const settle = (r) => inFlight.delete(r);
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) return;
    inFlight.add(r);
    seen.push(r.method() + ' ' + new URL(r.url()).pathname);
  });
  page.on('requestfinished', settle);
  page.on('requestfailed', settle);
  await page.goto(evilOrigin + '/');
  const outcome = await page.evaluate(async (base) => {
    const r = {};
    try {
      await (await fetch(base + '/api/analytics/real-time')).json();
      r.read = 'read';
    } catch {
      r.read = 'blocked';
    }
    // Writes a page can make without a preflight: an opaque no-cors POST with a simple content type ...
    await fetch(base + '/api/events', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{"user_id":"evil-1","event_type":"purchase"}' }).catch(() => {});
    await fetch(base + '/api/system/stop-component/stream_processor', { method: 'POST', mode: 'no-cors' }).catch(() => {});
    // ... a beacon ...
    r.beacon = navigator.sendBeacon(base + '/api/events', '{"user_id":"evil-2","event_type":"purchase"}');
    // ... and a JSON POST, which needs a preflight the server refuses.
    try {
      await fetch(base + '/api/events', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"user_id":"evil-3","event_type":"purchase"}' });
      r.json = 'sent';
    } catch {
      r.json = 'blocked';
    }
    r.ws = await new Promise((resolve) => {
      const ws = new WebSocket(base.replace('http', 'ws') + '/ws/real-time');
      ws.onmessage = () => resolve('message');
      ws.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 5000);
    });
    return r;
  }, base);
  assert.equal(outcome.read, 'blocked');
  assert.equal(outcome.json, 'blocked');
  assert.equal(outcome.ws, 'refused');
  // A form post navigates the page itself; the server answers it with an error.
  const form = await browser.newPage();
  await form.goto(evilOrigin + '/');
  const [nav] = await Promise.all([
    form.waitForNavigation(),
    form.evaluate((base) => {
      const f = document.createElement('form');
      f.method = 'POST';
      f.action = base + '/api/system/stop-component/stream_processor';
      document.body.append(f);
      f.submit();
    }, base),
  ]);
  assert.ok([403, 415].includes(nav.status()), 'form post status ' + nav.status());
  // Nothing arrived and nothing stopped.
  await until('the foreign page\'s requests to be answered', () => inFlight.size === 0);
  // The beacon was among them (so the wait above covered it).
  assert.ok(seen.filter((r) => r === 'POST /api/events').length >= 2, 'requests seen: ' + seen.join(', '));
  for (const u of ['evil-1', 'evil-2', 'evil-3']) assert.equal((await api('/api/analytics/user/' + u)).status, 404, u);
  assert.equal((await api('/api/system/status')).json.components.stream_processor.state, 'running');
  await page.close();
  await form.close();
});

test('a page on an allowed origin sends events through /js/shoppulse.js', async () => {
  const page = await browser.newPage();
  const posts = [];
  page.on('request', (r) => r.url().endsWith('/api/events') && r.method() === 'POST' && posts.push(r));
  await page.goto(shopOrigin + '/');
  await page.waitForFunction(() => window.shoppulse && window.shoppulse.visitor);
  const visitor = await page.evaluate(() => {
    window.shoppulse.track('add_to_cart', { product_id: 'p-42', category_id: 'c-7', price: 19.99, quantity: 2 });
    window.shoppulse.track('rate', { product_id: 'p-42' }); // not a browser event: dropped by the script
    window.shoppulse.flush();
    return window.shoppulse.visitor;
  });
  let profile;
  await until('the visitor profile', async () => {
    const r = await api('/api/analytics/user/' + encodeURIComponent(visitor));
    profile = r.json;
    return r.status === 200 && profile.total_events >= 2;
  });
  assert.equal(profile.events.view, 1);
  assert.equal(profile.events.add_to_cart, 1);
  assert.equal(profile.events.rate, 0);
  const cart = profile.recent_events.find((e) => e.event_type === 'add_to_cart');
  assert.equal(cart.product_id, 'p-42');
  assert.equal(cart.category_id, 'c-7');
  assert.equal(cart.price, 19.99);
  assert.equal(cart.quantity, 2);
  const view = profile.recent_events.find((e) => e.event_type === 'view');
  assert.equal(view.product_id, 'p-42');
  assert.ok(posts.length >= 1);
  assert.equal(posts[0].headers()['content-type'], 'application/x-ndjson');
  // The same visitor id on the next page view (localStorage).
  await page.reload();
  await page.waitForFunction(() => window.shoppulse && window.shoppulse.visitor);
  assert.equal(await page.evaluate(() => window.shoppulse.visitor), visitor);
  await page.close();
});

test('the tracking script sends nothing when Do Not Track is on', async () => {
  const page = await browser.newPage();
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }));
  const posts = [];
  page.on('request', (r) => r.url().includes('/api/events') && posts.push(r));
  await page.goto(shopOrigin + '/');
  await page.waitForFunction(() => window.shoppulse);
  const sent = await page.evaluate(() => {
    const ok = window.shoppulse.track('purchase', { product_id: 'p-1', price: 5 });
    window.shoppulse.flush();
    return ok;
  });
  assert.equal(sent, false);
  await page.close();
  assert.equal(posts.length, 0);
});
