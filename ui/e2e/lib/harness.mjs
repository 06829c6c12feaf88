// The harness of the end-to-end tests: real binaries on loopback, Debian's
// Chromium driven by playwright-core, screenshots kept as artifacts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '../../..');
export const bin = (name) => join(root, 'bin', name);
export const artifacts = join(here, '..', 'artifacts');
mkdirSync(artifacts, { recursive: true }); // `npm test` empties it first

const temps = [];
export function tempDir(prefix = 'do-e2e-') {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
export function removeTemps() {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}

// Proc is a child process whose output lines can be waited for.
export class Proc {
  constructor(name, argv, env = {}) {
    this.name = name;
    this.lines = [];
    this.waiters = [];
    this.exited = new Promise((res) => { this.onExit = res; });
    this.child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const feed = (stream, tag) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          this.lines.push(`${tag} ${line}`);
          for (const w of [...this.waiters]) {
            const m = line.match(w.re);
            if (m) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(m); }
          }
        }
      });
    };
    feed(this.child.stdout, 'out');
    feed(this.child.stderr, 'err');
    this.child.on('exit', (code, signal) => {
      this.exitCode = code ?? signal;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name} exited (${this.exitCode}) waiting for ${w.re}\n${this.tail()}`));
      this.onExit(this.exitCode);
    });
  }

  // waitFor resolves with the match of the first line (seen or to come) matching re.
  waitFor(re, ms = 60000) {
    for (const l of this.lines) {
      const m = l.slice(4).match(re);
      if (m) return Promise.resolve(m);
    }
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited (${this.exitCode})\n${this.tail()}`));
    return new Promise((resolve, reject) => {
      const w = { re, resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) { this.waiters.splice(i, 1); reject(new Error(`${this.name}: no line matching ${re} within ${ms} ms\n${this.tail()}`)); }
      }, ms).unref();
    });
  }

  tail(n = 30) { return this.lines.slice(-n).map((l) => `  ${this.name} ${l}`).join('\n'); }

  async stop(signal = 'SIGTERM') {
    if (this.exitCode !== undefined) return this.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

// bootstrap starts a discordopusd on loopback and returns it with its address.
export async function startBootstrap() {
  const dir = tempDir();
  const p = new Proc('bootstrap', [bin('discordopusd'), '--data-dir', join(dir, 'data'), '--listen', '/ip4/127.0.0.1/tcp/0',
    '--private-addrs', '--metrics', 'off'], { XDG_CONFIG_HOME: join(dir, 'config') });
  const [, addr] = await p.waitFor(/^address: (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/);
  return { proc: p, addr };
}

// App is one desktop app in browser mode with its own profile.
export class App {
  constructor(name, bootAddr) {
    this.name = name;
    this.bootAddr = bootAddr;
    this.home = tempDir(`do-e2e-${name}-`);
    this.uiAddr = '127.0.0.1:0';
    this.token = undefined;
  }

  // start runs the app and resolves with the login link it printed.
  // keepAddress restarts it on the same port with the same session token,
  // as a launcher that keeps its page open would. The session token is
  // ours (the harness calls the API with it); the link's login code is the
  // app's, good for one visit.
  async start({ keepAddress = false } = {}) {
    if (!keepAddress) this.token = randomBytes(32).toString('base64url');
    const env = {
      XDG_CONFIG_HOME: join(this.home, 'config'),
      XDG_DATA_HOME: join(this.home, 'data'),
      DISCORDOPUS_UI_TOKEN: this.token,
    };
    this.proc = new Proc(this.name, [bin('discordopus'), '--no-open', '--ui-addr', keepAddress ? this.uiAddr : '127.0.0.1:0',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--private-addrs', '--mdns=false', '--bootstrap-peer', this.bootAddr], env);
    const [, url] = await this.proc.waitFor(/^DiscordOpus is at (http:\/\/\S+)/);
    this.url = url;
    this.uiAddr = new URL(url).host;
    return url;
  }

  // open shows the app in page without spending the login link: it hands
  // the page's browser context the session cookie the link would buy.
  async open(page) {
    const u = new URL(this.url);
    await page.context().addCookies([{ name: `discordopus_${u.port}`, value: this.token, url: u.origin }]);
    await page.goto(`${u.origin}/`);
  }

  stop() { return this.proc.stop(); }
}

export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

let shot = 0;
const suite = basename(process.argv[1] || 'run').replace(/\.[^.]*$/, '').replace(/\.test$/, '');
// screenshot keeps a picture of page as a test artifact, named after the
// test file and numbered in order.
export async function screenshot(page, name) {
  shot++;
  await page.screenshot({ path: join(artifacts, `${suite}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: false });
}

// api calls an app's API as its page would, with the session token.
export async function api(app, method, path, body) {
  const u = new URL(app.url);
  const res = await fetch(`${u.origin}${path}`, {
    method, body: body && JSON.stringify(body),
    headers: { Authorization: `Bearer ${app.token}`, Origin: u.origin, 'Content-Type': 'application/json' },
  });
  const out = await res.json();
  if (!res.ok) throw new Error(`${app.name}: ${method} ${path}: ${res.status} ${out.error}`);
  return out;
}

// until polls f (async, returning a truthy value when done) for up to ms.
export async function until(what, f, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await f();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}
