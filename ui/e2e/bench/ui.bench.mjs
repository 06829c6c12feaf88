// UI benchmarks (issue 5), each against a baseline measured in the same
// run, printed in Go's benchmark format so `make bench` collects them:
//
//   cold start     process start to the conversation list rendered in
//                  Chromium (unlock included), against process start to
//                  the unlocked node of `discordopus run`;
//   send→rendered  a message sent through Alice's API until it is in Bob's
//                  DOM, against the same message's transport alone (sent
//                  until Bob's API streams it as an event);
//   scrolling      frame times while scrolling a 10,000-message
//                  conversation from newest to oldest, against a 100-message
//                  one; and the page's JS heap and the app's RSS.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { App, Proc, api, startBootstrap, launchChromium, removeTemps, bin, tempDir, artifacts } from '../lib/harness.mjs';

const PASS = 'benchmark passphrase, long enough';
const SENDS = Number(process.env.BENCH_SENDS || 200);
const LONG = Number(process.env.BENCH_MESSAGES || 10000);
const now = () => performance.timeOrigin + performance.now(); // ms since the epoch, sub-ms

const results = [];
function report(name, value, unit, extra = {}) {
  results.push(name);
  const parts = [`Benchmark${name}`, '1', `${value.toFixed(3)} ${unit}`];
  for (const [k, v] of Object.entries(extra)) parts.push(`${typeof v === 'number' ? v.toFixed(3) : v} ${k}`);
  console.log(parts.join('\t'));
}
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const rss = (pid) => {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
};

// setupPair makes Alice and Bob, set up and in each other's contacts.
async function setupPair(boot) {
  const alice = new App('alice', boot.addr);
  const bob = new App('bob', boot.addr);
  await Promise.all([alice.start(), bob.start()]);
  await api(alice, 'POST', '/api/setup', { passphrase: PASS, display_name: 'Alice' });
  await api(bob, 'POST', '/api/setup', { passphrase: PASS, display_name: 'Bob' });
  const invA = (await api(alice, 'GET', '/api/me')).invite;
  const invB = (await api(bob, 'GET', '/api/me')).invite;
  const bobC = (await api(alice, 'POST', '/api/contacts', { invite: invB, name: 'Bob' })).contact;
  const aliceC = (await api(bob, 'POST', '/api/contacts', { invite: invA, name: 'Alice' })).contact;
  return { alice, bob, bobC, aliceC };
}

async function coldStart(boot, browser) {
  // Baseline: the headless node, from exec to unlocked and listening.
  const dir = tempDir();
  const env = { DISCORDOPUS_PASSPHRASE: PASS, XDG_CONFIG_HOME: join(dir, 'c'), XDG_DATA_HOME: join(dir, 'd') };
  let t0 = now();
  const init = new Proc('init', [bin('discordopus'), 'init', '--data-dir', join(dir, 'node')], env);
  await init.exited;
  t0 = now();
  const node = new Proc('node', [bin('discordopus'), 'run', '--data-dir', join(dir, 'node'), '--listen', '/ip4/127.0.0.1/tcp/0',
    '--private-addrs', '--mdns=false', '--bootstrap-peer', boot.addr], env);
  await node.waitFor(/^address: /);
  const base = now() - t0;
  await node.stop();

  // The app: an existing profile, started, unlocked in Chromium, until
  // the conversation list is on screen.
  const app = new App('cold', boot.addr);
  await app.start();
  await api(app, 'POST', '/api/setup', { passphrase: PASS });
  await app.stop();
  const page = await browser.newPage();
  t0 = now();
  await app.start();
  const served = now() - t0;
  await page.goto(app.url); // the login link, as a person opens it
  await page.getByTestId('unlock-passphrase').fill(PASS);
  const shown = now() - t0;
  await page.getByTestId('unlock-submit').click();
  await page.getByTestId('conversation-list').waitFor({ timeout: 60000 });
  const cold = now() - t0;
  await page.close();
  await app.stop();
  report('ColdStartToConversationList', cold, 'ms', {
    'baseline-ms': base, ratio: cold / base, 'ui-served-ms': served, 'unlock-shown-ms': shown, 'unlock-to-list-ms': cold - shown,
  });
}

async function sendToRendered(pair, browser) {
  const { alice, bob, bobC, aliceC } = pair;
  const page = await browser.newPage();
  await bob.open(page);
  await page.getByTestId('unlock-passphrase').or(page.getByTestId('conversation-list')).first().waitFor({ timeout: 60000 });
  await page.locator(`[data-testid="conversation-item"][data-contact-name="Alice"]`).click();
  await page.getByTestId('composer').waitFor();
  // In the page: when each message arrives on the event stream (the
  // transport is done) and when it is in the DOM (rendered).
  await page.evaluate(() => {
    const w = window;
    w.__arrived = {};
    w.__rendered = {};
    const clock = () => performance.timeOrigin + performance.now();
    const ws = new WebSocket(`ws://${location.host}/api/events`);
    ws.onmessage = (e) => {
      const ev = JSON.parse(e.data);
      if (ev.type === 'chat' && ev.kind === 'message' && ev.message && !ev.message.outgoing) {
        const m = ev.message.text.match(/^bench (\d+)/);
        if (m && !w.__arrived[m[1]]) w.__arrived[m[1]] = clock();
      }
    };
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-testid="message-text"]')) {
        const m = el.textContent.match(/^bench (\d+)/);
        if (m && !w.__rendered[m[1]]) w.__rendered[m[1]] = clock();
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
    return new Promise((r) => { ws.onopen = r; });
  });
  const sentAt = {};
  for (let i = 0; i < SENDS; i++) {
    sentAt[i] = now();
    await api(alice, 'POST', `/api/conversations/${bobC.id}/messages`, { text: `bench ${i}` });
    await page.waitForFunction((i) => window.__rendered[i] && window.__arrived[i], i, { timeout: 30000 });
    await new Promise((r) => setTimeout(r, 20));
  }
  const { arrived, rendered } = await page.evaluate(() => ({ arrived: window.__arrived, rendered: window.__rendered }));
  const total = [], transport = [];
  for (let i = 0; i < SENDS; i++) {
    total.push(rendered[i] - sentAt[i]);
    transport.push(arrived[i] - sentAt[i]);
  }
  const p50 = pct(total, 0.5), p99 = pct(total, 0.99), t50 = pct(transport, 0.5), t99 = pct(transport, 0.99);
  report('SendToRendered', p50, 'ms-p50', { 'ms-p99': p99, 'transport-ms-p50': t50, 'transport-ms-p99': t99, 'ratio-p50': p50 / t50, 'ratio-p99': p99 / t99 });
  await page.close();
  void aliceC;
}

// scrollConversation opens name's conversation and scrolls it from the
// newest message to the oldest, measuring frame times.
async function scrollConversation(app, browser, name, count) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await app.open(page);
  await page.getByTestId('conversation-list').waitFor({ timeout: 60000 });
  await page.locator(`[data-testid="conversation-item"][data-contact-name="${name}"]`).click();
  await page.getByTestId('message').first().waitFor();
  const list = page.getByTestId('message-list');
  const box = await list.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.evaluate(() => {
    const w = window;
    w.__frames = [];
    let last = performance.now();
    const tick = (t) => { w.__frames.push(t - last); last = t; if (!w.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  // Scroll up until the oldest message is loaded and shown.
  const deadline = Date.now() + 180000;
  let seenOldest = false;
  while (!seenOldest && Date.now() < deadline) {
    for (let i = 0; i < 10; i++) await page.mouse.wheel(0, -1200);
    seenOldest = await page.evaluate((oldest) => [...document.querySelectorAll('[data-testid="message-text"]')].some((e) => e.textContent === oldest), `history ${name} 0`);
  }
  if (!seenOldest) await page.screenshot({ path: join(artifacts, `bench-scroll-${name}.png`) });
  const frames = await page.evaluate(() => { window.__stop = true; return window.__frames.slice(1); });
  const rows = await page.locator('[data-testid="message"]').count(); // what the virtual list keeps in the DOM
  const { metrics } = await cdp.send('Performance.getMetrics');
  const heap = metrics.find((m) => m.name === 'JSHeapUsedSize').value / (1 << 20);
  await page.close();
  if (!seenOldest) throw new Error(`scrolling ${count} messages did not reach the oldest within 3 minutes`);
  return { p50: pct(frames, 0.5), p99: pct(frames, 0.99), heap, rows, frames: frames.length };
}

async function scrolling(boot, browser) {
  const { alice, bob, bobC, aliceC } = await setupPair(boot);
  // Alice writes history: a short conversation with a second contact is the
  // baseline; Bob gets LONG messages.
  const carol = new App('carol', boot.addr);
  await carol.start();
  await api(carol, 'POST', '/api/setup', { passphrase: PASS, display_name: 'Carol' });
  const carolC = (await api(alice, 'POST', '/api/contacts', { invite: (await api(carol, 'GET', '/api/me')).invite, name: 'Carol' })).contact;
  for (let i = 0; i < 100; i++) await api(alice, 'POST', `/api/conversations/${carolC.id}/messages`, { text: `history Carol ${i}` });
  const t0 = now();
  for (let i = 0; i < LONG; i++) await api(alice, 'POST', `/api/conversations/${bobC.id}/messages`, { text: `history Bob ${i}` });
  console.error(`# wrote ${LONG} messages in ${((now() - t0) / 1000).toFixed(1)} s`);
  void aliceC;
  const base = await scrollConversation(alice, browser, 'Carol', 100);
  const long = await scrollConversation(alice, browser, 'Bob', LONG);
  const appRSS = rss(alice.proc.child.pid);
  report('Scroll10000Messages', long.p50, 'ms-frame-p50', {
    'ms-frame-p99': long.p99, 'baseline-ms-frame-p50': base.p50, 'baseline-ms-frame-p99': base.p99,
    'ratio-p99': long.p99 / base.p99, 'heap-MB': long.heap, 'baseline-heap-MB': base.heap,
    'rendered-rows': long.rows, 'baseline-rendered-rows': base.rows, frames: long.frames, 'app-rss-MB': appRSS,
  });
  await Promise.all([alice.stop(), bob.stop(), carol.stop()]);
}

async function main() {
  const boot = await startBootstrap();
  const browser = await launchChromium();
  try {
    const only = process.env.BENCH_ONLY; // cold, send or scroll: one of them
    if (!only || only === 'cold') await coldStart(boot, browser);
    if (!only || only === 'send') {
      const pair = await setupPair(boot);
      await sendToRendered(pair, browser);
      await Promise.all([pair.alice.stop(), pair.bob.stop()]);
    }
    if (!only || only === 'scroll') await scrolling(boot, browser);
  } finally {
    await browser.close();
    await boot.proc.stop();
    removeTemps();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
