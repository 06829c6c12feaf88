// Two people use DiscordOpus the way a person does, in Chromium: they
// onboard, swap invites, talk, see ticks, typing and reactions, verify each
// other, restart and unlock, and keep a page open while the app restarts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { App, startBootstrap, launchChromium, screenshot, removeTemps } from '../lib/harness.mjs';

const PASS = { alice: 'alice correct horse battery', bob: 'bob staple tuna orbit' };
const T = 30000; // generous: a loaded 2-core machine

let browser, boot;
const apps = [];
after(async () => {
  await browser?.close();
  await Promise.all(apps.map((a) => a.proc?.stop()));
  await boot?.proc.stop();
  removeTemps();
});

const tid = (page, id) => page.getByTestId(id);

async function onboard(page, name) {
  await tid(page, 'setup-name').fill(name);
  await tid(page, 'setup-passphrase').fill(PASS[name.toLowerCase()]);
  await tid(page, 'setup-passphrase-confirm').fill(PASS[name.toLowerCase()]);
  await tid(page, 'setup-submit').click();
  await tid(page, 'conversation-list').waitFor({ timeout: T });
}

async function myInvite(page) {
  await tid(page, 'add-contact-button').click();
  const inv = tid(page, 'my-invite');
  await inv.waitFor();
  await tid(page, 'my-invite-qr').waitFor();
  const text = (await inv.textContent()).trim();
  assert.match(text, /^DO1/);
  return text;
}

// addContact adds from invite; with name null the name the invite
// suggests is taken, and expect is the name to wait for.
async function addContact(page, invite, name, expect = name) {
  // The add-contact dialog is open (myInvite opened it).
  await tid(page, 'invite-input').fill(invite);
  if (name !== null) await tid(page, 'contact-name-input').fill(name);
  await tid(page, 'add-contact-submit').click();
  await page.locator(`[data-testid="conversation-item"][data-contact-name="${expect}"]`).waitFor({ timeout: T });
  if (await tid(page, 'dialog-close').isVisible()) await tid(page, 'dialog-close').click();
}

async function openConversation(page, name) {
  await page.locator(`[data-testid="conversation-item"][data-contact-name="${name}"]`).click();
  await tid(page, 'composer').waitFor();
}

async function send(page, text) {
  const box = tid(page, 'composer');
  await box.fill(text);
  await box.press('Enter');
  await expectText(page, text);
}

function message(page, text) {
  return page.locator('[data-testid="message"]', { has: page.locator('[data-testid="message-text"]', { hasText: text }) });
}

async function expectText(page, text, timeout = T) {
  await message(page, text).first().waitFor({ timeout });
}

async function safetyNumber(page) {
  await tid(page, 'verify-button').click();
  const sn = tid(page, 'safety-number');
  await sn.waitFor();
  await tid(page, 'safety-qr').waitFor();
  return (await sn.textContent()).replace(/\s+/g, ' ').trim();
}

test('two people, end to end', async () => {
  boot = await startBootstrap();
  browser = await launchChromium();
  const alice = new App('alice', boot.addr);
  const bob = new App('bob', boot.addr);
  apps.push(alice, bob);
  await Promise.all([alice.start(), bob.start()]);
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const pa = await ctxA.newPage();
  const pb = await ctxB.newPage();
  const consoleErrors = [];
  for (const [who, p] of [['alice', pa], ['bob', pb]]) {
    p.on('pageerror', (e) => consoleErrors.push(`${who}: ${e.message}`));
  }
  await pa.goto(alice.url);
  await pb.goto(bob.url);
  assert.ok(!pa.url().includes('token='), 'the token left the address bar');

  // Onboarding.
  await tid(pa, 'setup-name').waitFor({ timeout: T });
  await screenshot(pa, 'onboarding');
  await onboard(pa, 'Alice');
  await onboard(pb, 'Bob');
  await screenshot(pa, 'empty-app');

  // Invites, both ways, through the UI.
  const invA = await myInvite(pa);
  const invB = await myInvite(pb);
  await screenshot(pa, 'add-contact');
  // A typo in the invite: a clear error, and what was typed stays.
  const typo = invB.slice(0, 20) + '#' + invB.slice(21);
  await tid(pa, 'invite-input').fill(typo);
  await tid(pa, 'contact-name-input').fill('Bob');
  await tid(pa, 'add-contact-submit').click();
  await tid(pa, 'add-contact-error').waitFor({ timeout: T });
  assert.match(await tid(pa, 'add-contact-error').textContent(), /not valid/i);
  assert.equal(await tid(pa, 'invite-input').inputValue(), typo, 'the typed invite is kept');
  await screenshot(pa, 'bad-invite');
  await addContact(pa, invB, 'Bob');
  await addContact(pb, invA, null, 'Alice'); // the name Alice's invite suggests

  // Bob's window is in the background: an incoming message notifies him
  // through the desktop shell's hook (recorded here).
  await pb.evaluate(() => {
    window.__notes = [];
    window.discordopusNotify = (title, body) => window.__notes.push([title, body]);
    document.hasFocus = () => false;
  });

  // Messages both ways, with delivery ticks.
  await openConversation(pa, 'Bob');
  await send(pa, 'Hello Bob, this is Alice');
  await message(pa, 'Hello Bob, this is Alice').locator('[data-testid="delivery-tick"][data-state="delivered"], [data-testid="delivery-tick"][data-state="read"]')
    .waitFor({ timeout: T });
  await pb.waitForFunction(() => window.__notes.length > 0, null, { timeout: T });
  assert.deepEqual(await pb.evaluate(() => window.__notes), [['Alice', 'Hello Bob, this is Alice']]);
  await pb.evaluate(() => { document.hasFocus = Document.prototype.hasFocus; });
  await openConversation(pb, 'Alice');
  await expectText(pb, 'Hello Bob, this is Alice');

  // Typing indicator: Bob types, Alice sees it.
  await tid(pb, 'composer').pressSequentially('Hi Ali', { delay: 30 });
  await tid(pa, 'typing-indicator').waitFor({ timeout: T });
  await screenshot(pa, 'typing');
  await tid(pb, 'composer').pressSequentially('ce!', { delay: 30 });
  await tid(pb, 'composer').press('Enter');
  await expectText(pa, 'Hi Alice!');
  await message(pb, 'Hi Alice!').locator('[data-testid="delivery-tick"][data-state="delivered"], [data-testid="delivery-tick"][data-state="read"]')
    .waitFor({ timeout: T });

  // A message over 8 KiB is refused before it is sent, and kept.
  const long = 'x'.repeat(8193);
  await tid(pa, 'composer').fill(long);
  await tid(pa, 'composer').press('Enter');
  await tid(pa, 'composer-error').waitFor({ timeout: T });
  assert.match(await tid(pa, 'composer-error').textContent(), /too long/i);
  assert.equal(await tid(pa, 'composer').inputValue(), long, 'the long message stays in the composer');
  await screenshot(pa, 'too-long');
  await tid(pa, 'composer').fill('');

  // A reaction from Bob appears on Alice's side.
  const target = message(pb, 'Hello Bob, this is Alice').first();
  await target.hover();
  await target.getByTestId('react-button').click();
  await tid(pb, 'emoji-picker').waitFor();
  await pb.locator('[data-testid="emoji-option"][data-emoji="👍"]').first().click();
  await message(pa, 'Hello Bob, this is Alice').locator('[data-testid="reaction"][data-emoji="👍"]').waitFor({ timeout: T });
  await screenshot(pa, 'conversation');
  await screenshot(pb, 'conversation-bob');

  // Safety numbers match; Alice marks Bob verified.
  const snA = await safetyNumber(pa);
  const snB = await safetyNumber(pb);
  assert.equal(snA.replace(/ /g, '').length, 60);
  assert.equal(snA, snB, 'both sides show the same safety number');
  await screenshot(pa, 'verify');
  await tid(pa, 'mark-verified').click();
  await tid(pa, 'contact-verified-badge').first().waitFor({ timeout: T });
  await pa.keyboard.press('Escape');
  await pb.keyboard.press('Escape');

  // Network status shows us and our peers.
  await tid(pa, 'network-button').click();
  await tid(pa, 'network-panel').waitFor();
  const peerID = (await tid(pa, 'network-peer-id').textContent()).trim();
  assert.match(peerID, /^12D3Koo/);
  // Doctor's view: on loopback Alice and Bob are connected directly.
  const path = pa.locator('[data-testid="network-contact-path"]', { hasText: 'Bob' });
  await path.waitFor({ timeout: T });
  assert.equal(await path.getAttribute('data-path'), 'direct');
  assert.match(await path.textContent(), /connected directly/);
  await screenshot(pa, 'network');
  await pa.keyboard.press('Escape');

  // Alice restarts: a new run, a new link; she unlocks (a wrong
  // passphrase first) and her history is there.
  await alice.stop();
  await alice.start();
  await pa.goto(alice.url);
  await tid(pa, 'unlock-passphrase').waitFor({ timeout: T });
  await tid(pa, 'unlock-passphrase').fill('not my passphrase');
  await tid(pa, 'unlock-submit').click();
  await tid(pa, 'unlock-error').waitFor({ timeout: T });
  assert.match(await tid(pa, 'unlock-error').textContent(), /wrong passphrase/i);
  await screenshot(pa, 'wrong-passphrase');
  await tid(pa, 'unlock-passphrase').fill(PASS.alice);
  await tid(pa, 'unlock-submit').click();
  await tid(pa, 'conversation-list').waitFor({ timeout: T });
  await openConversation(pa, 'Bob');
  await expectText(pa, 'Hello Bob, this is Alice');
  await expectText(pa, 'Hi Alice!');
  await message(pa, 'Hello Bob, this is Alice').locator('[data-testid="reaction"][data-emoji="👍"]').waitFor({ timeout: T });
  await screenshot(pa, 'after-restart');

  // Bob's app restarts under his open page, on the same address: the page
  // says it lost the connection, keeps his draft, reconnects, and after he
  // unlocks it catches up with what Alice sent meanwhile.
  await tid(pb, 'composer').fill('a draft Bob has not sent');
  await bob.stop();
  await tid(pb, 'connection-banner').waitFor({ timeout: T });
  await screenshot(pb, 'connection-lost');
  await send(pa, 'Sent while your app was down');
  await bob.start({ keepAddress: true });
  await tid(pb, 'unlock-passphrase').waitFor({ timeout: T });
  await tid(pb, 'unlock-passphrase').fill(PASS.bob);
  await tid(pb, 'unlock-submit').click();
  await tid(pb, 'conversation-list').waitFor({ timeout: T });
  await openConversation(pb, 'Alice');
  await expectText(pb, 'Sent while your app was down', 90000);
  assert.equal(await tid(pb, 'composer').inputValue(), 'a draft Bob has not sent', 'the draft survived');
  await tid(pb, 'connection-banner').waitFor({ state: 'hidden', timeout: T });
  await screenshot(pb, 'caught-up');

  // Alice's node loses the network (Bob and the bootstrap node go): her
  // page says she is offline, and what she sends waits, shown as sending.
  await bob.stop();
  await boot.proc.stop();
  await tid(pa, 'offline-banner').waitFor({ timeout: 60000 });
  await send(pa, 'Written while offline');
  await message(pa, 'Written while offline').locator('[data-testid="delivery-tick"][data-state="sending"], [data-testid="delivery-tick"][data-state="sent"]')
    .waitFor({ timeout: T });
  await screenshot(pa, 'offline');

  assert.deepEqual(consoleErrors, [], 'no uncaught errors in the pages');
});
