// The full journey of issue 4, in three real Chromium browsers with fake microphones fed from WAV files:
// the admin signs up from the invite URL `stoa serve` printed, invites two friends, starts a room with a
// 440 Hz microphone; the second user hears 440 Hz (analysed with WebAudio in the page), raises a hand, is
// invited up and accepts; the third user hears their 660 Hz; the admin moves them back to the audience and
// the 660 Hz stops; the admin blocks the third user, who no longer sees the admin's rooms. Every screen gets
// an axe-core check, and the hallway and a room are saved as screenshots at phone and desktop sizes.
//
// Usage: node journey.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hearsWith, launch, spectrum, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-journey-'));
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const step = (s) => process.stderr.write(`journey: ${s}\n`);

const { server, bootstrap, base } = await startServer(work);
step(`server at ${base}`);

const browsers = [];
const pages = [];
async function browserWith(hz, viewport) {
  const b = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, `tone-${hz}.wav`), hz)}`, '--autoplay-policy=no-user-gesture-required']);
  browsers.push(b);
  // bypassCSP only so that axe-core can be injected; the app itself runs under its real policy.
  const page = await (await b.newContext({ viewport, bypassCSP: true })).newPage();
  page.on('dialog', (d) => d.accept());
  pages.push(page);
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`[console] ${m.text()}\n`); });
  return page;
}

const axe = (page, screen) => axeClean(page, screen, step);

const hears = (page, hz, what) => hearsWith(page, hz, what, step);

try {
  const admin = await browserWith(440, DESKTOP);
  const second = await browserWith(660, PHONE);
  const third = await browserWith(880, DESKTOP);

  // 1. The admin signs up from the printed invite URL, and creates two invites.
  await admin.goto(bootstrap);
  await axe(admin, 'sign-up');
  await admin.getByLabel('Username').fill('admin');
  await admin.getByLabel('Display name').fill('Ada Admin');
  await admin.getByLabel('Password').fill('correct horse');
  await admin.getByRole('button', { name: 'Sign up', exact: true }).click();
  await admin.getByRole('heading', { name: 'Hallway' }).waitFor();
  await axe(admin, 'hallway (empty)');
  await admin.getByRole('link', { name: 'Invites', exact: true }).click();
  await admin.getByRole('button', { name: 'Create invite', exact: true }).click();
  await admin.locator('.invite-link').first().waitFor();
  await admin.getByRole('button', { name: 'Create invite', exact: true }).click();
  await admin.locator('.invite-link').nth(1).waitFor();
  await admin.getByText('You have 0 of 2 invites left.').waitFor();
  await axe(admin, 'invites');
  const links = await admin.locator('.invite-link').allTextContents();
  assert.equal(links.length, 2);

  // Friendly errors: a used invite, then (below) a taken username and a wrong password.
  await second.goto(bootstrap);
  await second.getByLabel('Username').fill('bea');
  await second.getByLabel('Display name').fill('Bea Second');
  await second.getByLabel('Password').fill('bea-password');
  await second.getByRole('button', { name: 'Sign up', exact: true }).click();
  await second.getByRole('alert').getByText('This invite is not valid or has already been used.').waitFor();
  await second.goto(links[0]);
  await second.getByLabel('Username').fill('admin');
  await second.getByLabel('Display name').fill('Bea Second');
  await second.getByLabel('Password').fill('bea-password');
  await second.getByRole('button', { name: 'Sign up', exact: true }).click();
  await second.getByRole('alert').getByText('That username is taken; pick another.').waitFor();
  step('friendly errors for a used invite and a taken username');

  // 2. Two friends sign up through those links.
  for (const [page, user, name, link] of [[second, 'bea', 'Bea Second', links[0]], [third, 'cyd', 'Cy Third', links[1]]]) {
    await page.goto(link);
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Display name').fill(name);
    await page.getByLabel('Password').fill(`${user}-password`);
    await page.getByRole('button', { name: 'Sign up', exact: true }).click();
    await page.getByRole('heading', { name: 'Hallway' }).waitFor();
  }
  step('friends signed up');

  // 3. The admin starts an open room, with a 440 Hz microphone.
  await admin.getByRole('link', { name: 'Hallway', exact: true }).click();
  await admin.getByRole('button', { name: 'Start a room', exact: true }).click();
  await axe(admin, 'start a room');
  await admin.getByLabel('Title').fill('Morning tones');
  await admin.getByRole('button', { name: "Let's go", exact: true }).click();
  await admin.getByRole('heading', { name: 'Morning tones' }).waitFor();
  await admin.getByRole('button', { name: /Ada Admin/ }).waitFor();
  step('room started');

  // The second user's room socket goes through Playwright, so the test can cut it like a dropped network.
  const secondSockets = [];
  let refuseSockets = false;
  await second.routeWebSocket(/\/api\/v1\/rooms\/[a-z0-9]+\/ws$/, (ws) => {
    if (refuseSockets) return ws.close({ code: 4000, reason: 'network down' });
    ws.connectToServer();
    secondSockets.push(ws);
  });

  // 4. The second user finds the room in the hallway (it appears on its own), joins, and hears 440 Hz.
  await second.getByRole('link', { name: /Morning tones/ }).click({ timeout: 15000 });
  await second.getByRole('heading', { name: 'Morning tones' }).waitFor();
  await hears(second, 440, 'second user');
  await axe(second, 'room (listener, phone)');

  // 5. The second user raises a hand, is invited to speak, accepts; the third user hears their 660 Hz.
  await third.getByRole('link', { name: /Morning tones/ }).click({ timeout: 15000 });
  await third.getByRole('heading', { name: 'Morning tones' }).waitFor();
  await second.getByRole('button', { name: 'Raise hand', exact: true }).click();
  await second.getByRole('button', { name: 'Lower hand', exact: true }).waitFor();
  await admin.getByRole('region', { name: 'Raised hands' }).getByRole('button', { name: 'Invite to speak', exact: true }).click();
  await second.getByRole('button', { name: 'Join as speaker', exact: true }).click();
  await second.getByRole('button', { name: 'Mute', exact: true }).waitFor();
  await hears(third, 660, 'third user');
  await axe(admin, 'room (moderator)');

  // 6. A moderator moves the second user back to the audience, and their 660 Hz stops.
  await admin.getByRole('button', { name: /Bea Second/ }).first().click();
  await axe(admin, 'person menu');
  await admin.getByRole('button', { name: 'Move to audience', exact: true }).click();
  await second.getByRole('button', { name: 'Raise hand', exact: true }).waitFor();
  await new Promise((r) => setTimeout(r, 800));
  const after = await spectrum(third, 2000);
  assert.ok(after.db660 < after.db440 - 25 && after.db660 < -80, `660 Hz stopped: ${JSON.stringify(after)}`);
  step(`660 Hz stopped (${after.db660.toFixed(1)} dB, 440 Hz at ${after.db440.toFixed(1)} dB)`);

  // A dropped network: the room shows "Reconnecting…", comes back by itself, and is audible again.
  refuseSockets = true;
  for (const ws of secondSockets.splice(0)) await ws.close({ code: 4000, reason: 'network down' });
  await second.getByText('Reconnecting…').waitFor({ timeout: 15000 });
  await second.waitForTimeout(2000);
  refuseSockets = false;
  await second.getByText('Reconnecting…').waitFor({ state: 'hidden', timeout: 30000 });
  await hears(second, 440, 'second user, reconnected');

  // Screenshots of the hallway and a room, at the phone size and the desktop size.
  for (const [label, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await admin.setViewportSize(size);
    await admin.screenshot({ path: join(OUT, `room-${label}.png`), fullPage: true });
    await axe(admin, `room at ${label} size`);
  }
  await second.getByRole('button', { name: 'Leave quietly', exact: true }).click();
  await second.getByRole('heading', { name: 'Hallway' }).waitFor();
  await second.getByRole('link', { name: /Morning tones/ }).waitFor();
  for (const [label, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await second.setViewportSize(size);
    await second.screenshot({ path: join(OUT, `hallway-${label}.png`), fullPage: true });
    await axe(second, `hallway at ${label} size`);
  }

  // 7. The admin blocks the third user, who no longer sees the admin's rooms.
  await admin.goto(`${base}/u/cyd`);
  await admin.getByRole('heading', { name: 'Cy Third' }).waitFor();
  await axe(admin, 'profile');
  await admin.getByRole('button', { name: 'Block', exact: true }).click();
  await admin.getByRole('button', { name: 'Unblock', exact: true }).waitFor();
  await third.getByRole('button', { name: 'Leave quietly', exact: true }).click();
  await third.getByRole('heading', { name: 'Hallway' }).waitFor();
  await third.getByText('No live rooms right now.', { exact: false }).waitFor({ timeout: 10000 });
  assert.equal(await third.getByRole('link', { name: /Morning tones/ }).count(), 0);
  step('the blocked user no longer sees the room');

  // Sign-in screen, signed out; a wrong password gets a friendly error, the right one gets in.
  await third.getByRole('button', { name: 'Sign out', exact: true }).click();
  await third.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
  await axe(third, 'sign-in');
  await third.getByLabel('Username').fill('cyd');
  await third.getByLabel('Password').fill('not the password');
  await third.getByRole('button', { name: 'Sign in', exact: true }).click();
  await third.getByRole('alert').getByText('Wrong username or password.').waitFor();
  await third.getByLabel('Password').fill('cyd-password');
  await third.getByRole('button', { name: 'Sign in', exact: true }).click();
  await third.getByRole('heading', { name: 'Hallway' }).waitFor();
  step('sign-in: friendly error, then in');
  console.log('journey: 1 passed, 0 failed');
} catch (err) {
  // Leave evidence: what each browser showed when the journey failed.
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: join(OUT, `failure-browser-${i + 1}.png`), fullPage: true }).catch(() => undefined);
    const text = await page.evaluate(() => document.body.innerText).catch(() => '?');
    process.stderr.write(`--- browser ${i + 1} at ${page.url()}:\n${text}\n`);
  }
  throw err;
} finally {
  for (const b of browsers) await b.close().catch(() => undefined);
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
