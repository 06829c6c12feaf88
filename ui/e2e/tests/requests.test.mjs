// Message requests and settings, the way a person meets them: someone who
// is not a contact writes; the request is accepted (or blocked) from its
// banner; read receipts turned on in the settings screen show as read
// ticks on the other side.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { App, api, until, startBootstrap, launchChromium, screenshot, removeTemps } from '../lib/harness.mjs';

const PASS = 'requests test passphrase';
const T = 30000;
let browser, boot;
const apps = [];
after(async () => {
  await browser?.close();
  await Promise.all(apps.map((a) => a.proc?.stop()));
  await boot?.proc.stop();
  removeTemps();
});

async function user(name) {
  const a = new App(name.toLowerCase(), boot.addr);
  apps.push(a);
  await a.start();
  a.peer = (await api(a, 'POST', '/api/setup', { passphrase: PASS, display_name: name })).peer_id;
  return a;
}

const item = (page, text) => page.locator('[data-testid="conversation-item"]', { hasText: text });

test('message requests and read receipts', async () => {
  boot = await startBootstrap();
  browser = await launchChromium();
  const [carol, dave, erin] = await Promise.all([user('Carol'), user('Dave'), user('Erin')]);
  const carolInvite = (await api(carol, 'GET', '/api/me')).invite;
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await carol.open(page);
  await page.getByTestId('conversation-list').waitFor({ timeout: T });

  // Dave, whom Carol has not added, writes: a request.
  const carolAtDave = (await api(dave, 'POST', '/api/contacts', { invite: carolInvite })).contact;
  await api(dave, 'POST', `/api/conversations/${carolAtDave.id}/messages`, { text: "Hi Carol, it's Dave" });
  await item(page, "it's Dave").waitFor({ timeout: T });
  await item(page, "it's Dave").click();
  await page.getByTestId('request-banner').waitFor();
  // The request shows what was written, and who wrote it by the end of
  // their PeerID (they have no name here yet).
  await page.locator('[data-testid="message-text"]', { hasText: "Hi Carol, it's Dave" }).waitFor({ timeout: T });
  assert.match(await page.getByTestId('request-banner').textContent(), new RegExp(`…${dave.peer.slice(-8)}`));
  await screenshot(page, 'request');
  await page.getByTestId('accept-request').click();
  await page.getByTestId('request-banner').waitFor({ state: 'hidden', timeout: T });
  await page.getByTestId('composer').fill('Hello Dave!');
  await page.getByTestId('composer').press('Enter');
  await until("Dave gets Carol's answer", async () => {
    const { messages } = await api(dave, 'GET', `/api/conversations/${carolAtDave.id}/messages?limit=10`);
    return messages.some((m) => !m.outgoing && m.text === 'Hello Dave!');
  });

  // Carol turns read receipts on in the settings screen; Dave turns them
  // on too; what Dave sends next shows as read once Carol has it open.
  await page.getByTestId('settings-button').click();
  await page.getByTestId('settings-panel').waitFor();
  const receipts = page.getByTestId('settings-read-receipts');
  assert.equal(await receipts.isChecked(), false, 'read receipts are off by default');
  await receipts.check();
  await page.getByTestId('settings-save').click();
  await page.getByTestId('settings-saved').waitFor({ timeout: T });
  await screenshot(page, 'settings');
  await page.keyboard.press('Escape');
  assert.equal((await api(carol, 'GET', '/api/settings')).read_receipts, true);
  const daveSettings = await api(dave, 'GET', '/api/settings');
  await api(dave, 'PUT', '/api/settings', { ...daveSettings, read_receipts: true });
  await item(page, 'Dave').click();
  await page.getByTestId('composer').waitFor();
  const sent = (await api(dave, 'POST', `/api/conversations/${carolAtDave.id}/messages`, { text: 'Did you read this?' })).message;
  await until('Dave sees his message read', async () => {
    const { messages } = await api(dave, 'GET', `/api/conversations/${carolAtDave.id}/messages?limit=10`);
    return messages.find((m) => m.id === sent.id)?.state === 'read';
  });

  // Erin's request is blocked from its banner.
  const carolAtErin = (await api(erin, 'POST', '/api/contacts', { invite: carolInvite })).contact;
  await api(erin, 'POST', `/api/conversations/${carolAtErin.id}/messages`, { text: 'buy my crypto course' });
  await item(page, 'crypto course').waitFor({ timeout: T });
  await item(page, 'crypto course').click();
  await page.getByTestId('block-request').click();
  await until('Erin blocked', async () => {
    const { contacts } = await api(carol, 'GET', '/api/contacts');
    return contacts.some((c) => c.state === 'blocked');
  });
  await page.getByTestId('request-banner').waitFor({ state: 'hidden', timeout: T });
  await screenshot(page, 'blocked');
});
