// The audience beyond the room, in real Chromium: a host speaking 440 Hz turns on the replay, clips and
// the public listen link from the room; everyone sees the recording badge. Someone with no account opens
// the listen link and hears 440 Hz through HLS (hls.js). A member clips the last 30 seconds and plays the
// clip from its own page. The host ends the room; the replay is listed on the ended room and the host's
// profile, and its page plays the tone and seeks. Every new screen gets an axe-core check.
//
// Usage: node egress.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hearsWith, launch, signUp, startServer, turnOn, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-egress-'));
const step = (s) => process.stderr.write(`egress: ${s}\n`);
const axe = (page, screen) => axeClean(page, screen, step);

// The webhook below goes to this machine, which only an allowed origin may reach.
const { server, bootstrap, base } = await startServer(work, ['--webhook-allow-origin', 'http://127.0.0.1:9']);
step(`server at ${base}`);
const browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  `--use-file-for-fake-audio-capture=${wav(join(work, 'tone-440.wav'), 440)}`, '--autoplay-policy=no-user-gesture-required']);

async function pageIn(viewport) {
  const context = await browser.newContext({ viewport, bypassCSP: true });
  await context.grantPermissions(['microphone'], { origin: base });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  return page;
}

try {
  const host = await pageIn({ width: 1280, height: 900 });
  const member = await pageIn({ width: 390, height: 844 });
  const stranger = await pageIn({ width: 390, height: 844 });
  await signUp(host, bootstrap, 'hostess', 'Henrietta Host');
  await host.getByRole('link', { name: 'Invites', exact: true }).click();
  await host.getByRole('button', { name: 'Create invite', exact: true }).click();
  await signUp(member, await host.locator('.invite-link').first().textContent(), 'member', 'Mo Member');

  // The host is the server's admin: a webhook for rooms starting and ending, to an address that refuses.
  await host.getByRole('link', { name: 'Admin', exact: true }).click();
  await host.getByRole('tab', { name: 'Webhooks', exact: true }).click();
  await host.getByLabel('URL').fill('http://127.0.0.1:9/stoa-hook');
  await host.getByRole('button', { name: 'Add webhook', exact: true }).click();
  await host.getByText(/Signing secret \(shown once\): whsec_/).waitFor();
  await axe(host, 'webhooks');
  step('a webhook is registered; its secret is shown once');

  await host.goto(base);
  await host.getByRole('button', { name: 'Start a room', exact: true }).click();
  await host.getByLabel('Title').fill('Open air');
  await host.getByRole('button', { name: "Let's go", exact: true }).click();
  await host.getByRole('heading', { name: 'Open air' }).waitFor();
  const roomUrl = host.url();
  const roomId = roomUrl.split('/').pop();
  await member.goto(roomUrl);
  await member.getByRole('heading', { name: 'Open air' }).waitFor();
  await hearsWith(member, 440, 'the member in the room', step);

  // The host turns on the replay, clips and the listen link; the member sees the badge.
  await host.getByRole('button', { name: 'More', exact: true }).click();
  await host.getByRole('button', { name: 'Recording and sharing', exact: true }).click();
  const dialog = host.getByRole('dialog', { name: 'Recording and sharing' });
  // Each box shows the room's state, which changes when the server says so: click, then wait for it (a
  // plain check() fails when the server's answer comes after the click returns, as on a loaded machine).
  await turnOn(dialog.getByLabel(/Record a replay/));
  await turnOn(dialog.getByLabel(/Let listeners clip/));
  await turnOn(dialog.getByLabel(/Public listen link/));
  await dialog.getByRole('link', { name: new RegExp(`/listen/${roomId}`) }).waitFor();
  await axe(host, 'recording and sharing');
  await host.screenshot({ path: join(OUT, 'outputs.png') });
  await dialog.getByRole('button', { name: 'Done', exact: true }).click();
  await member.getByRole('status', { name: 'This room is being recorded' }).waitFor();
  step('the replay, clips and the listen link are on; the member sees the recording badge');

  // Someone with no account listens through the link, at low latency: hls.js reloads the playlist with
  // blocking requests and fetches the half-second parts.
  const lowLatency = { blocking: 0, parts: 0 };
  stranger.on('request', (r) => {
    if (r.url().includes(`/listen/${roomId}/index.m3u8?_HLS_msn=`)) lowLatency.blocking += 1;
    if (/\/listen\/[^/]+\/[0-9a-f]+-\d+\.\d\.aac$/.test(r.url())) lowLatency.parts += 1;
  });
  await stranger.goto(`${base}/listen/${roomId}`);
  await stranger.getByRole('heading', { name: 'Open air' }).waitFor();
  await stranger.getByText('Henrietta Host (host)').waitFor();
  await stranger.evaluate(() => document.querySelector('audio').play().catch(() => undefined));
  await hearsWith(stranger, 440, 'a stranger on the listen link (HLS)', step);
  for (let i = 0; i < 100 && (lowLatency.blocking < 2 || lowLatency.parts < 4); i++) await stranger.waitForTimeout(100);
  if (lowLatency.blocking < 2 || lowLatency.parts < 4) {
    throw new Error(`hls.js did not play at low latency: ${JSON.stringify(lowLatency)}`);
  }
  step(`hls.js plays at low latency: ${lowLatency.blocking} blocking reloads, ${lowLatency.parts} parts`);
  await axe(stranger, 'listen page');
  await stranger.screenshot({ path: join(OUT, 'listen-phone.png') });

  // The member clips the last 30 seconds; the clip's page plays it.
  await member.getByRole('button', { name: 'Clip 30 s', exact: true }).click();
  const clipDialog = member.getByRole('dialog', { name: 'Your clip' });
  await clipDialog.waitFor();
  const clipLink = await clipDialog.getByRole('link').textContent();
  await axe(member, 'clip made');
  await clipDialog.getByRole('button', { name: 'Close', exact: true }).click();
  await stranger.goto(clipLink);
  await stranger.getByText('A clip by Mo Member').waitFor();
  const clipSeconds = await stranger.evaluate(async () => {
    const a = document.querySelector('audio');
    if (!(a.duration > 0)) await new Promise((r) => a.addEventListener('loadedmetadata', r, { once: true }));
    return a.duration;
  });
  assert.ok(clipSeconds > 5 && clipSeconds < 31, `a clip of up to 30 s: ${clipSeconds}`);
  // The room is younger than 30 s at the clip's start: its last seconds are the tone.
  await stranger.evaluate(() => { const a = document.querySelector('audio'); a.currentTime = Math.max(0, a.duration - 8); return a.play(); });
  await hearsWith(stranger, 440, 'the clip, on its page, without an account', step);
  await axe(stranger, 'clip page');

  // The host ends the room: the replay is on the ended room and on the profile, and its page seeks.
  await host.getByRole('button', { name: 'End room', exact: true }).click();
  await host.getByRole('heading', { name: 'This room has ended' }).waitFor();
  const replays = host.getByRole('region', { name: 'Replays and clips' });
  await replays.waitFor();
  await host.getByRole('link', { name: 'Profile', exact: true }).click();
  const replayLink = host.getByRole('region', { name: 'Replays' }).getByRole('link', { name: 'Open air' });
  await replayLink.click();
  await host.getByText('A replay of Henrietta Host’s room').waitFor();
  const seeked = await host.evaluate(async () => {
    const a = document.querySelector('audio');
    if (!(a.duration > 0)) await new Promise((r) => a.addEventListener('loadedmetadata', r, { once: true }));
    const target = a.duration / 2;
    a.currentTime = target;
    await new Promise((r) => a.addEventListener('seeked', r, { once: true }));
    return { duration: a.duration, at: a.currentTime, target };
  });
  assert.ok(seeked.duration > 5 && Math.abs(seeked.at - seeked.target) < 1, `the replay seeks: ${JSON.stringify(seeked)}`);
  await host.evaluate(() => document.querySelector('audio').play());
  await hearsWith(host, 440, 'the replay, from its middle', step);
  await axe(host, 'replay page');
  await host.screenshot({ path: join(OUT, 'replay.png') });

  // The webhook's deliveries: the room's start and end, refused by the address and waiting to be retried.
  await host.getByRole('link', { name: 'Admin', exact: true }).click();
  await host.getByRole('tab', { name: 'Webhooks', exact: true }).click();
  await host.getByRole('button', { name: 'Deliveries', exact: true }).click();
  await host.getByText(/room\.started · pending after \d+ attempts? · the connection was refused/).waitFor();
  await host.getByText(/room\.ended · pending/).waitFor();
  step('the webhook shows its refused deliveries, to be retried');
  step('done');
} finally {
  await browser.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
