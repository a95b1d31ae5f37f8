// Issue 34 in real Chromium: the host starts a closed, end-to-end encrypted room from the web client, with
// its fake microphone playing 440 Hz. Its page makes every epoch's key (the host is the moderator), seals
// each Opus frame in an RTCRtpScriptTransform worker, and shows the lock and the safety code. A `stoa bot
// speak` member comes on stage saying 660 Hz, sealed: the page opens and plays it. A `stoa bot listen` member
// records what it hears to OUT/e2ee-heard.ogg (crates/stoa/tests/it/web.rs checks it is 440 Hz and 660 Hz);
// the codes it and the page showed are written to OUT/e2ee-codes.json for the test to compare.
//
// Usage: node e2ee-room.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hearsWith, launch, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-e2ee-'));
const step = (s) => process.stderr.write(`e2ee-room: ${s}\n`);
const { server, bootstrap, base } = await startServer(work);

let browser;
const bots = [];
try {
  browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, 'a440.wav'), 440)}`, '--autoplay-policy=no-user-gesture-required']);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true })).newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(bootstrap);
  await page.getByLabel('Username').fill('host');
  await page.getByLabel('Display name').fill('Hana Host');
  await page.getByLabel('Password').fill('host-password');
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await page.getByRole('heading', { name: 'Hallway' }).waitFor();

  // Two members, signed up through the host's invites: a speaker bot and a listener bot.
  const member = async (username) => {
    const invite = await (await page.context().request.post(`${base}/api/v1/invites`, { headers: { origin: base } })).json();
    const r = await fetch(`${base}/api/v1/auth/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ invite: invite.code, username, display_name: username.toUpperCase(), password: `${username}-password` }),
    });
    assert.equal(r.status, 201);
    return (await r.json()).token;
  };
  const [speakerToken, earToken] = [await member('sam'), await member('ear')];

  await page.getByRole('button', { name: 'Start a room', exact: true }).click();
  await page.getByLabel('Title').fill('Sealed');
  await page.getByLabel(/^Closed/).check();
  await page.getByLabel('People to invite').fill('sam ear');
  await page.getByLabel(/End-to-end encrypted/).check();
  await page.getByRole('button', { name: "Let's go", exact: true }).click();
  await page.getByRole('heading', { name: 'Sealed' }).waitFor();
  const room = new URL(page.url()).pathname.split('/').at(-1);
  // The page's own key: its safety code shows once it took the first epoch.
  const code = page.locator('.safety-code');
  await code.waitFor({ timeout: 20000 });
  step(`the room is sealed; the host's code is ${await code.innerText()}`);
  // Every code the page shows, as they change.
  await page.evaluate(() => {
    window.__codes = new Set();
    setInterval(() => { const c = document.querySelector('.safety-code'); if (c) window.__codes.add(c.textContent); }, 50);
  });

  const speaker = spawn(process.env.STOA_BIN, ['bot', 'speak', '--server', base, '--token', speakerToken, '--room', room,
    '--file', wav(join(work, 'a660.wav'), 660, 60), '--loop'], { stdio: ['ignore', 'ignore', 'inherit'] });
  bots.push(speaker);
  const hands = page.getByRole('region', { name: 'Raised hands' });
  await hands.getByText('SAM').waitFor({ timeout: 20000 });
  await hands.getByRole('button', { name: 'Invite to speak', exact: true }).click();
  await page.getByRole('region', { name: 'On stage' }).getByText('SAM').waitFor({ timeout: 20000 });
  await hearsWith(page, 660, 'the host, from the sealed speaker bot', step);
  await page.getByText(/End-to-end encrypted/).first().click();
  await page.screenshot({ path: join(OUT, 'e2ee-room-phone.png') });
  await axeClean(page, 'an end-to-end encrypted room', step);

  // The listener bot, a member with a device key: it records the sealed room for six seconds.
  const heard = join(OUT, 'e2ee-heard.ogg');
  rmSync(heard, { force: true });
  const listener = spawn(process.env.STOA_BIN, ['bot', 'listen', '--server', base, '--token', earToken, '--room', room,
    '--seconds', '6', '--out', heard, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  listener.stdout.on('data', (d) => { stdout += d; });
  const exit = await new Promise((r) => listener.on('exit', r));
  assert.equal(exit, 0, 'the listener bot finished');
  const stats = JSON.parse(stdout);
  step(`the listener bot took ${stats.e2ee.epochs} key(s), code ${stats.e2ee.safety_code}, ${stats.e2ee.unopened} unopened`);
  const codes = await page.evaluate(() => [...window.__codes]);
  writeFileSync(join(OUT, 'e2ee-codes.json'), JSON.stringify({ bot: stats.e2ee.safety_code, page: codes, stats }));
  assert.ok(codes.includes(stats.e2ee.safety_code), `the bot's code ${stats.e2ee.safety_code} is one the page showed: ${codes}`);
} catch (e) {
  await Promise.all((browser?.contexts() ?? []).flatMap((c) => c.pages()).map((p, i) => p.screenshot({ path: join(OUT, `failure-e2ee-${i}.png`) }).catch(() => {})));
  throw e;
} finally {
  for (const b of bots) b.kill();
  await browser?.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
