// The community's tools in real Chromium: an admin hosts a room; a listener on a phone reports a spammer
// from the chat (blocking them in the same step) and gets an acknowledgement; the admin deletes the spam,
// reads the room's moderation log, finds the report in the admin console with the chat around it, resolves
// it, and suspends the spammer, who is thrown out of the room at once, told why, and cannot sign in again.
// The listener changes their password and sees their sessions; a non-admin finds nothing at /admin. Every
// new screen gets an axe-core check, at desktop and phone sizes.
//
// Usage: node community.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { axeClean, launch, signUp, startServer } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-community-'));
const step = (s) => process.stderr.write(`community: ${s}\n`);
const axe = (page, screen) => axeClean(page, screen, step);

const { server, bootstrap, base } = await startServer(work);
step(`server at ${base}`);
const browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required']);
const pages = [];

async function person(viewport) {
  const context = await browser.newContext({ viewport, bypassCSP: true });
  await context.grantPermissions(['microphone'], { origin: base });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  pages.push(page);
  return page;
}

async function invite(page) {
  // Through the page's own session (the Invites screen is covered by the other journeys).
  return page.evaluate(async () => (await (await fetch('/api/v1/invites', { method: 'POST' })).json()).url);
}

try {
  const admin = await person({ width: 1280, height: 900 });
  const fan = await person({ width: 390, height: 844 });
  const troll = await person({ width: 1280, height: 900 });
  await signUp(admin, bootstrap, 'ada', 'Ada Admin');
  await signUp(fan, await invite(admin), 'fan', 'Fran Fan');
  await signUp(troll, await invite(admin), 'troll', 'Troll Toll');
  step('an admin and two members signed up');

  // The admin hosts a room; both members listen.
  await admin.goto(base);
  await admin.getByRole('button', { name: 'Start a room', exact: true }).click();
  await admin.getByLabel('Title').fill('Community night');
  await admin.getByRole('button', { name: "Let's go", exact: true }).click();
  await admin.getByRole('heading', { name: 'Community night' }).waitFor();
  const roomUrl = admin.url();
  for (const p of [fan, troll]) {
    await p.goto(roomUrl);
    await p.getByRole('heading', { name: 'Community night' }).waitFor();
  }
  step('both members are in the room');

  // The spammer posts; the fan reports them from the chat, blocking them in the same step.
  await troll.getByRole('button', { name: /^Chat/ }).click();
  await troll.getByLabel('Message').fill('Cheap pills at spam.example, buy now');
  await troll.getByRole('button', { name: 'Send', exact: true }).click();
  await fan.getByRole('button', { name: /^Chat/ }).click();
  await fan.getByRole('region', { name: 'Chat' }).getByText('Cheap pills').waitFor();
  await fan.getByRole('button', { name: 'Report Troll Toll', exact: true }).click();
  await fan.getByRole('dialog', { name: 'Report Troll Toll' }).waitFor();
  await fan.getByLabel('Spam or scams').check();
  await fan.getByLabel('More for the admins (optional)').fill('Posts the same ad in every room.');
  await fan.getByLabel('Also block Troll Toll').check();
  await axe(fan, 'report dialog (phone)');
  await fan.screenshot({ path: join(OUT, 'report-phone.png') });
  await fan.getByRole('button', { name: 'Send report', exact: true }).click();
  await fan.getByRole('dialog', { name: 'Report sent' }).getByText(/admins will look at it, and you have blocked/).waitFor();
  await fan.getByRole('button', { name: 'Done', exact: true }).click();
  step('the fan reported the spammer, blocked them, and was thanked');

  // The admin, as the room's moderator, deletes the spam and reads the room's moderation log.
  await admin.getByRole('button', { name: /^Chat/ }).click();
  await admin.getByRole('button', { name: "Delete Troll Toll's message" }).click();
  await fan.getByRole('region', { name: 'Chat' }).getByText('Cheap pills').waitFor({ state: 'detached' });
  await admin.getByRole('button', { name: 'Close', exact: true }).first().click();
  await admin.getByRole('button', { name: 'More', exact: true }).click();
  await admin.getByRole('button', { name: 'Moderation log', exact: true }).click();
  const log = admin.getByRole('dialog', { name: 'Moderation log' });
  await log.getByText(/deleted a message by/).waitFor();
  await log.getByText('Cheap pills at spam.example, buy now').waitFor();
  await axe(admin, 'moderation log');
  await log.getByRole('button', { name: 'Close', exact: true }).click();
  step('the deletion is in the moderation log, with the message');

  // The admin console: the report with its context; resolved with a note.
  await admin.getByRole('link', { name: 'Admin', exact: true }).click();
  await admin.getByRole('heading', { name: 'Open reports' }).waitFor();
  await admin.getByRole('button', { name: /#1 Troll Toll/ }).click();
  await admin.getByRole('heading', { name: 'Report #1' }).waitFor();
  await admin.getByText('Posts the same ad in every room.').waitFor();
  await admin.locator('li.deleted', { hasText: 'Cheap pills at spam.example' }).getByText('(deleted by Ada Admin)').waitFor();
  await axe(admin, 'admin: a report with its context');
  await admin.screenshot({ path: join(OUT, 'admin-report.png'), fullPage: true });
  await admin.getByLabel('Resolution note').fill('Spam account: suspended.');
  await admin.getByRole('button', { name: 'Resolve', exact: true }).click();
  await admin.getByText(/Spam account: suspended\./).waitFor();
  step('the admin read the report with its context and resolved it');

  // Suspension: from the report to the person, with a reason; the spammer is out at once.
  await admin.getByRole('button', { name: 'Troll Toll (@troll)' }).first().click();
  await admin.getByRole('heading', { name: /Troll Toll/ }).waitFor();
  await admin.getByText('Invited by').waitFor();
  await admin.getByRole('button', { name: 'Ada Admin (@ada)' }).waitFor();
  await admin.getByLabel('Reason for suspension').fill('Spam in every room.');
  await admin.getByRole('button', { name: 'Suspend Troll Toll', exact: true }).click();
  await admin.getByText('Suspended: Spam in every room.').waitFor();
  await troll.getByRole('heading', { name: 'Your account is suspended' }).waitFor({ timeout: 10000 });
  await troll.getByText(/Spam in every room\./).waitFor();
  await troll.getByRole('button', { name: 'OK', exact: true }).click();
  await troll.getByRole('heading', { name: 'Welcome back' }).waitFor();
  await troll.getByLabel('Username').fill('troll');
  await troll.getByLabel('Password').fill('troll-password');
  await troll.getByRole('button', { name: 'Sign in', exact: true }).click();
  await troll.getByRole('alert').getByText(/suspended: Spam in every room\./).waitFor();
  step('the spammer was thrown out of the room, told why, and cannot sign in');

  // The console at phone size, every tab.
  await admin.setViewportSize({ width: 390, height: 844 });
  for (const tab of ['Reports', 'People', 'Live rooms', 'Clubs', 'Settings', 'Admin log']) {
    await admin.getByRole('tab', { name: tab, exact: true }).click();
    await admin.getByRole('tabpanel').waitFor();
    await axe(admin, `admin: ${tab} (phone)`);
  }
  await admin.getByRole('tab', { name: 'Admin log', exact: true }).click();
  await admin.getByText(/resolve report/).waitFor();
  // The room's menus at phone size too.
  await admin.goto(roomUrl);
  await admin.getByRole('button', { name: 'More', exact: true }).click();
  await axe(admin, 'room: more menu (phone)');
  await admin.getByRole('button', { name: 'Moderation log', exact: true }).click();
  await admin.getByRole('dialog', { name: 'Moderation log' }).getByText(/deleted a message by/).waitFor();
  await axe(admin, 'moderation log (phone)');
  await admin.getByRole('dialog', { name: 'Moderation log' }).getByRole('button', { name: 'Close', exact: true }).click();
  await admin.setViewportSize({ width: 1280, height: 900 });
  await admin.getByRole('button', { name: 'More', exact: true }).click();
  await admin.getByRole('button', { name: 'Report this room', exact: true }).click();
  await admin.getByRole('dialog', { name: 'Report this room' }).waitFor();
  await axe(admin, 'report dialog (desktop)');
  await admin.keyboard.press('Escape');
  await admin.getByRole('dialog', { name: 'Report this room' }).waitFor({ state: 'detached' });
  await admin.goto(`${base}/settings`);
  await admin.getByRole('heading', { name: 'Where you’re signed in' }).waitFor();
  await axe(admin, 'account settings (desktop)');
  step('the console, the room menus and settings are clean at both sizes; Escape closes a dialog');

  // Account settings: sessions, and a new password that signs the others out.
  await fan.goto(`${base}/settings`);
  await fan.getByRole('heading', { name: 'Where you’re signed in' }).waitFor();
  await fan.getByText('This device').waitFor();
  await fan.getByLabel('Current password').fill('fan-password');
  await fan.getByLabel('New password').fill('a-new-fan-password');
  await fan.getByRole('button', { name: 'Change password', exact: true }).click();
  await fan.getByText('Password changed. Every other session was signed out.').waitFor();
  await fan.getByRole('link', { name: 'Download my data', exact: true }).waitFor();
  // An access token for a listening bot: shown once, listed, revoked.
  await fan.getByLabel('Token name').fill('Radio bot');
  await fan.getByLabel(/Read rooms/).check();
  await fan.getByRole('button', { name: 'Make token', exact: true }).click();
  const secret = await fan.locator('.note code').textContent();
  if (!secret.startsWith('stoa_pat_')) throw new Error(`not a token: ${secret}`);
  const me = await fan.evaluate(async (t) => (await fetch('/api/v1/me', { headers: { authorization: `Bearer ${t}` }, credentials: 'omit' })).status, secret);
  if (me !== 200) throw new Error(`the token does not work: ${me}`);
  await fan.getByRole('button', { name: 'Revoke Radio bot', exact: true }).click();
  await fan.getByRole('button', { name: 'Revoke Radio bot', exact: true }).waitFor({ state: 'detached' });
  const after = await fan.evaluate(async (t) => (await fetch('/api/v1/me', { headers: { authorization: `Bearer ${t}` }, credentials: 'omit' })).status, secret);
  if (after !== 401) throw new Error(`a revoked token still works: ${after}`);
  await axe(fan, 'account settings (phone)');
  await fan.screenshot({ path: join(OUT, 'settings-phone.png'), fullPage: true });
  step('the fan changed their password, sees their sessions, and made and revoked an access token');

  // A member who is not an admin finds nothing at /admin.
  await fan.goto(`${base}/admin`);
  await fan.getByRole('heading', { name: 'Nothing here' }).waitFor();
  step('done');
} catch (e) {
  for (const [i, p] of pages.entries()) await p.screenshot({ path: join(OUT, `failure-community-${i}.png`) }).catch(() => undefined);
  throw e;
} finally {
  await browser.close().catch(() => undefined);
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
