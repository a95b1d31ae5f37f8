// Issue 34 in real Chromium and Firefox: the host starts a closed, end-to-end encrypted room from the web
// client in Chromium, whose fake microphone plays 440 Hz. Its page makes every epoch's key (the host is the
// moderator), seals each Opus frame in an RTCRtpScriptTransform worker, and shows the lock and the safety
// code. A member in Debian's Firefox ESR (driven over WebDriver BiDi by puppeteer-core), whose fake
// microphone plays 660 Hz, raises a hand and comes on stage: each browser hears the other. A `stoa bot
// listen` member records what it hears to OUT/e2ee-heard.ogg (crates/stoa/tests/it/web.rs checks it holds
// 440 Hz and 660 Hz); its safety code is one both pages showed.
//
// Usage: node e2ee-room.mjs   with env STOA_BIN (the stoa binary), OUT (a folder for screenshots) and
// MEDIA_ADDR (the veth's address).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';
import { axeClean, hearsWith, launch, signUp, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
for (let i = 0; i < 3; i++) rmSync(join(OUT, `e2ee-firefox-slot-${i}.webm`), { force: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-e2ee-'));
const step = (s) => process.stderr.write(`e2ee-room: ${s}\n`);
// Firefox gathers no ICE candidate on loopback, nor at all without a default route: the test runs in a
// namespace of its own with a veth at 198.18.0.1 and a default route through it (crates/stoa/tests/it/web.rs
// makes it), and the server's media listens there.
const { server, bootstrap, base } = await startServer(work, ['--media-udp', `${process.env.MEDIA_ADDR ?? '127.0.0.1'}:0`]);

let browser;
let firefox;
const bots = [];
try {
  browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, 'a440.wav'), 440)}`, '--autoplay-policy=no-user-gesture-required']);
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true })).newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await signUp(page, bootstrap, 'host', 'Hana Host');

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
  const [foxToken, earToken] = [await member('fox'), await member('ear')];

  await page.getByRole('button', { name: 'Start a room', exact: true }).click();
  await page.getByLabel('Title').fill('Sealed');
  await page.getByLabel(/^Closed/).check();
  await page.getByLabel('People to invite').fill('fox ear');
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

  // The member in Firefox: signed in by the session cookie, in the room, hand raised, invited, speaking.
  firefox = await puppeteer.launch({
    browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true, 'media.navigator.permission.disabled': true,
      'media.navigator.audio.fake_frequency': 660, 'media.autoplay.default': 0, 'media.autoplay.blocking_policy': 0,
      // No sound card here: a null output, so that WebAudio runs (and the test can listen through it).
      'media.cubeb.force_null_context': true, 'media.autoplay.block-webaudio': false,
      // Host candidates by address: the server is ICE-lite, and answers checks from where they come.
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
  const fox = await firefox.newPage();
  fox.on('pageerror', (e) => process.stderr.write(`[firefox page error] ${e.message}\n`));
  await fox.goto(`${base}/`);
  await fox.setCookie({ name: 'stoa_session', value: foxToken, domain: '127.0.0.1', path: '/' });
  await fox.goto(`${base}/room/${room}`);
  await fox.locator('::-p-aria(Raise hand)').click();
  const hands = page.getByRole('region', { name: 'Raised hands' });
  await hands.getByText('FOX').waitFor({ timeout: 20000 });
  await hands.getByRole('button', { name: 'Invite to speak', exact: true }).click();
  await fox.locator('::-p-aria(Join as speaker)').click();
  await page.getByRole('region', { name: 'On stage' }).getByText('FOX').waitFor({ timeout: 20000 });
  await fox.locator('.safety-code').wait();
  step(`Firefox is on stage; its code is ${await fox.$eval('.safety-code', (e) => e.textContent)}`);
  await hearsWith(page, 660, 'Chromium, from Firefox (sealed)', step);
  // Firefox's WebAudio does not run without a sound card, so what it plays is recorded instead: each
  // slot's stream, three seconds, to OUT/e2ee-firefox-slot-N.webm (web.rs looks for 440 Hz in them).
  const takes = await fox.evaluate(async () => {
    const streams = [...document.querySelectorAll('audio')].map((a) => a.srcObject).filter(Boolean);
    return Promise.all(streams.map(async (stream) => {
      const recorder = new MediaRecorder(stream);
      const chunks = [];
      recorder.ondataavailable = (e) => chunks.push(e.data);
      recorder.start();
      await new Promise((r) => setTimeout(r, 3000));
      await new Promise((r) => { recorder.onstop = r; recorder.stop(); });
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      let binary = '';
      for (const b of bytes) binary += String.fromCharCode(b);
      return btoa(binary);
    }));
  });
  assert.ok(takes.length >= 1, 'Firefox plays the room');
  takes.forEach((b64, i) => writeFileSync(join(OUT, `e2ee-firefox-slot-${i}.webm`), Buffer.from(b64, 'base64')));
  step(`Firefox recorded ${takes.length} slot(s)`);
  await fox.evaluate(() => {
    window.__codes = new Set();
    setInterval(() => { const c = document.querySelector('.safety-code'); if (c) window.__codes.add(c.textContent); }, 50);
  });
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
  const foxCodes = await fox.evaluate(() => [...window.__codes]);
  writeFileSync(join(OUT, 'e2ee-codes.json'), JSON.stringify({ bot: stats.e2ee.safety_code, chromium: codes, firefox: foxCodes, stats }));
  assert.ok(codes.includes(stats.e2ee.safety_code), `the bot's code ${stats.e2ee.safety_code} is one Chromium showed: ${codes}`);
  assert.ok(foxCodes.includes(stats.e2ee.safety_code), `and one Firefox showed: ${foxCodes}`);
} catch (e) {
  await Promise.all((browser?.contexts() ?? []).flatMap((c) => c.pages()).map((p, i) => p.screenshot({ path: join(OUT, `failure-e2ee-${i}.png`) }).catch(() => {})));
  for (const [i, p] of (await firefox?.pages().catch(() => []) ?? []).entries()) await p.screenshot({ path: join(OUT, `failure-e2ee-firefox-${i}.png`) }).catch(() => {});
  throw e;
} finally {
  for (const b of bots) b.kill();
  await firefox?.close();
  await browser?.close();
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
