// The clubs' journey of issue 31 in three real Chromium browsers: the owner (desktop) makes a club that
// approves its members; a second person (a phone, 390 x 844) asks to join and the owner approves; the owner
// starts a members-only room with a 440 Hz microphone; the member finds it on the club's page and hears
// 440 Hz; a stranger (desktop) who is not a member is refused the room, finds it in no hallway and the
// club's page lists nothing live. The owner and the member message each other from inside the room, and a
// person the member blocked cannot message her. Every new screen gets an axe-core check.
//
// Usage: node clubs.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hearsWith, launch, signUp, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-clubs-'));
const step = (s) => process.stderr.write(`clubs: ${s}\n`);

const { server, bootstrap, base } = await startServer(work);
step(`server at ${base}`);
const browsers = [];

async function browserWith(hz, viewport) {
  const b = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, `tone-${hz}.wav`), hz)}`, '--autoplay-policy=no-user-gesture-required']);
  browsers.push(b);
  const context = await b.newContext({ viewport, bypassCSP: true });
  await context.grantPermissions(['microphone'], { origin: base });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  return page;
}

const axe = (page, screen) => axeClean(page, screen, step);

try {
  const owner = await browserWith(440, { width: 1280, height: 900 });
  const member = await browserWith(660, { width: 390, height: 844 });
  const stranger = await browserWith(660, { width: 1280, height: 900 });

  await signUp(owner, bootstrap, 'olive', 'Olive Owner');
  for (const [page, username, name] of [[member, 'mia', 'Mia Member'], [stranger, 'sam', 'Sam Stranger']]) {
    await owner.getByRole('link', { name: 'Invites', exact: true }).click();
    await owner.getByRole('button', { name: 'Create invite', exact: true }).waitFor();
    const before = new Set(await owner.locator('.invite-link').allTextContents());
    await owner.getByRole('button', { name: 'Create invite', exact: true }).click();
    await owner.locator('.invite-link').nth(before.size).waitFor();
    const fresh = (await owner.locator('.invite-link').allTextContents()).find((l) => !before.has(l));
    await signUp(page, fresh, username, name);
  }
  step('three signed up');

  // The owner makes a club that approves its members.
  await owner.getByRole('link', { name: 'Clubs', exact: true }).click();
  await owner.getByRole('heading', { name: 'Clubs', exact: true }).waitFor();
  await axe(owner, 'clubs (none yet)');
  await owner.getByRole('button', { name: 'New club', exact: true }).click();
  await axe(owner, 'new club');
  await owner.getByLabel('Name').fill('Tone Circle');
  await owner.getByLabel('Handle').fill('tone_circle');
  await owner.getByLabel('About').fill('People who talk in A.');
  await owner.getByLabel('Members are approved by its admins').check();
  await owner.getByRole('button', { name: 'Make the club', exact: true }).click();
  await owner.getByRole('heading', { name: 'Tone Circle', exact: true }).waitFor();
  assert.match(owner.url(), /\/c\/tone_circle$/);
  await axe(owner, 'club page (owner)');
  step('the club is made');

  // The member asks to join from the club's page; the owner approves.
  await member.goto(`${base}/c/tone_circle`);
  await member.getByRole('heading', { name: 'Tone Circle', exact: true }).waitFor();
  await axe(member, 'club page (stranger, phone)');
  await member.getByRole('button', { name: 'Ask to join', exact: true }).click();
  await member.getByRole('button', { name: 'Withdraw request', exact: true }).waitFor();
  await owner.reload();
  const requests = owner.getByRole('list', { name: 'Requests to join' });
  await requests.getByRole('link', { name: 'Mia Member' }).waitFor();
  await requests.getByRole('button', { name: 'Approve', exact: true }).click();
  await owner.getByRole('list', { name: 'Members' }).getByRole('link', { name: 'Mia Member' }).waitFor();
  await member.reload();
  await member.getByRole('button', { name: 'Leave', exact: true }).waitFor();
  await member.getByText('You: Member').waitFor();
  await owner.screenshot({ path: join(OUT, 'clubs-page-owner.png'), fullPage: true });
  step('the member asked and was approved');

  // The owner starts a members-only room in the club and speaks at 440 Hz.
  await owner.getByRole('button', { name: 'Start a club room', exact: true }).click();
  await axe(owner, 'start a club room');
  await owner.getByLabel('Title').fill('Members in A');
  await owner.getByLabel(/^Members only/).check();
  await owner.getByRole('button', { name: "Let's go", exact: true }).click();
  await owner.getByRole('heading', { name: 'Members in A' }).waitFor();
  const roomUrl = owner.url();
  const roomId = roomUrl.split('/').pop();
  step(`members-only room at ${roomUrl}`);

  // The member finds it on the club's page and hears the owner.
  await member.goto(`${base}/c/tone_circle`);
  await member.getByRole('link', { name: /Members in A/ }).click({ timeout: 15000 });
  await member.getByRole('heading', { name: 'Members in A' }).waitFor();
  await hearsWith(member, 440, 'the member', step);
  await axe(member, 'club room (member, phone)');

  // The owner, on stage, messages the member from her card without leaving the room; the member (who does
  // not follow her) finds it in her Requests and answers from the owner's card, and the owner sees it.
  await owner.getByRole('button', { name: /Mia Member/ }).first().click({ timeout: 15000 });
  await owner.getByRole('button', { name: 'Message', exact: true }).click();
  await axe(owner, 'message sheet (new)');
  await owner.getByLabel('Message', { exact: true }).fill('Welcome to the circle, https://example.org');
  await owner.getByRole('button', { name: 'Send', exact: true }).click();
  await owner.getByRole('list', { name: 'Messages' }).getByText('Welcome to the circle').waitFor();
  await member.getByRole('link', { name: 'Messages (1 new)' }).waitFor({ timeout: 15000 });
  await member.getByRole('button', { name: /Olive Owner/ }).first().click();
  await member.getByRole('button', { name: 'Message', exact: true }).click();
  await member.getByRole('list', { name: 'Messages' }).getByText('Welcome to the circle').waitFor();
  assert.equal(await member.getByRole('link', { name: 'https://example.org' }).count(), 1, 'a link is a link');
  await axe(member, 'message sheet (phone)');
  await member.getByLabel('Message', { exact: true }).fill('Thank you, from the audience');
  await member.getByRole('button', { name: 'Send', exact: true }).click();
  await owner.getByRole('list', { name: 'Messages' }).getByText('Thank you, from the audience').waitFor({ timeout: 15000 });
  await member.getByRole('button', { name: 'Close', exact: true }).last().click();
  await owner.getByRole('button', { name: 'Close', exact: true }).last().click();
  await owner.getByRole('heading', { name: 'Members in A' }).waitFor();
  await hearsWith(member, 440, 'the member, after messaging', step);
  step('they messaged each other from inside the room');

  // The stranger: no such room, in no hallway, nothing live on the club's page.
  const status = await stranger.evaluate(async (id) => (await fetch(`/api/v1/rooms/${id}`)).status, roomId);
  assert.equal(status, 404);
  await stranger.goto(roomUrl);
  await stranger.getByRole('heading', { name: 'You can’t join this room' }).waitFor();
  await stranger.goto(`${base}/`);
  await stranger.getByRole('heading', { name: 'Hallway' }).waitFor();
  assert.equal(await stranger.getByRole('link', { name: /Members in A/ }).count(), 0);
  await stranger.goto(`${base}/c/tone_circle`);
  await stranger.getByText('No live room of this club.').waitFor();
  step('the stranger is refused the room and sees nothing of it');

  // The member blocks the stranger, who then cannot message her.
  await member.goto(`${base}/u/sam`);
  await member.getByRole('button', { name: 'Block', exact: true }).click();
  await member.getByRole('button', { name: 'Unblock', exact: true }).waitFor();
  await stranger.goto(`${base}/messages/new?to=mia`);
  await stranger.getByRole('heading', { name: 'New message' }).waitFor();
  await axe(stranger, 'new message');
  await stranger.getByLabel('Message', { exact: true }).fill('Hello?');
  await stranger.getByRole('button', { name: 'Send', exact: true }).click();
  await stranger.getByRole('alert').getByText("You can't message this person.").waitFor();
  await member.goto(`${base}/messages`);
  await member.getByRole('heading', { name: 'Messages', exact: true }).waitFor();
  await member.getByRole('link', { name: /Olive Owner/ }).waitFor();
  await axe(member, 'messages (phone)');
  step('a blocked person cannot message');

  // The member's clubs page and profile list the club.
  await member.getByRole('link', { name: 'Clubs', exact: true }).click();
  await member.getByRole('link', { name: /Tone Circle/ }).waitFor();
  await axe(member, 'clubs (member, phone)');
  await member.goto(`${base}/u/mia`);
  await member.getByRole('link', { name: 'Tone Circle' }).waitFor();
  await member.screenshot({ path: join(OUT, 'clubs-profile-phone.png'), fullPage: true });

  // The owner bans the stranger, sees the ban on the club's page and lifts it; then hands the club to the
  // member, who becomes its owner while the owner stays on as an admin.
  await owner.goto(`${base}/c/tone_circle`);
  await owner.getByRole('heading', { name: 'Tone Circle', exact: true }).waitFor();
  const banned = await owner.evaluate(async () => (await fetch('/api/v1/clubs/tone_circle/bans', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'sam' }),
  })).status);
  assert.equal(banned, 204);
  await owner.reload();
  await owner.getByRole('list', { name: 'Banned' }).getByRole('link', { name: 'Sam Stranger' }).waitFor();
  await axe(owner, 'club page with a ban (owner)');
  await owner.getByRole('button', { name: 'Lift the ban on Sam Stranger' }).click();
  await owner.getByRole('list', { name: 'Banned' }).waitFor({ state: 'detached' });
  await owner.getByRole('list', { name: 'Members' }).getByRole('button', { name: 'Make owner', exact: true }).click();
  await owner.getByText('You: Admin').waitFor();
  await member.goto(`${base}/c/tone_circle`);
  await member.getByText('You: Owner').waitFor();
  step('a ban lifted, and the club handed over');
  step('done');
} finally {
  for (const b of browsers) await b.close().catch(() => undefined);
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
