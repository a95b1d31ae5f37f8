// Live captions in the web client (issue 33 §1), in real Chromium: `stoa serve --captions-url` points at
// Debian's pocketsphinx behind an OpenAI-compatible interface (crates/live/src/captions/transcribe.py); a `stoa bot
// speak` speaker says an espeak-ng sentence on the host's stage, again and again; the host turns Captions on
// and reads the sentence, under the speaker's name, in the captions region (aria-live), at phone size; then
// a guest without an account reads it on the public listen link, from its HLS subtitle rendition. The room
// is recorded, and its replay's page plays along with the transcript; search finds the replay by its words.
//
// Usage: node captions.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hostRoom, launch, speakerOnStage, startServer, turnOn, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-captions-'));
const step = (s) => process.stderr.write(`captions: ${s}\n`);
const SAID = 'green square blue triangle';

// The caption engine, and where it listens.
const engine = spawn('/usr/bin/python3', [join(process.cwd(), '../../crates/live/src/captions/transcribe.py'), '--vocabulary', 'shapes'], { stdio: ['ignore', 'pipe', 'inherit'] });
const engineUrl = await new Promise((resolve, reject) => {
  createInterface({ input: engine.stdout }).once('line', (l) => resolve(`${l.split(' ').at(-1)}/v1/audio/transcriptions`));
  engine.on('exit', (c) => reject(new Error(`the transcription server exited (${c})`)));
});
const { server, bootstrap, base } = await startServer(work, ['--captions-url', engineUrl]);
step(`server at ${base}, captions from ${engineUrl}`);

// The sentence as espeak-ng says it, then a second of silence: the pause that ends each line.
const said = join(work, 'said.wav');
execFileSync('espeak-ng', ['-v', 'en-us', '-w', join(work, 'raw.wav'), SAID]);
execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(work, 'raw.wav'), '-af', 'apad=pad_dur=1', '-ar', '48000', said]);

let browser;
let page;
let bot;
try {
  browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, 'silence.wav'), 0)}`, '--autoplay-policy=no-user-gesture-required']);
  page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true })).newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  const room = await hostRoom(page, bootstrap, 'Shapes');
  // The room is recorded from the start: its replay keeps a transcript.
  await page.getByRole('button', { name: 'More', exact: true }).click();
  await page.getByRole('button', { name: 'Recording and sharing', exact: true }).click();
  await turnOn(page.getByLabel(/Record a replay/));
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  bot = await speakerOnStage(page, base, room, 'sam', 'Sam Speaker', said);
  step('Sam is on stage, speaking');

  const captions = page.getByRole('log', { name: 'Live captions' });
  assert.equal(await captions.count(), 0, 'no captions until asked for');
  await page.getByRole('button', { name: 'Captions', exact: true }).click();
  await captions.waitFor();
  // The bot was mid-sentence when it came on stage: the first line may be the sentence's end. A whole one
  // follows (the engine may miss a word of it).
  await captions.getByText(/green square blue|square blue triangle/).first().waitFor({ timeout: 20000 });
  const text = await captions.innerText();
  step(`captions show: ${JSON.stringify(text)}`);
  assert.match(text, /Sam Speaker:/, 'the line names its speaker');
  assert.equal(await page.getByRole('button', { name: 'Captions', exact: true }).getAttribute('aria-pressed'), 'true');
  await page.screenshot({ path: join(OUT, 'captions-phone.png') });
  await axeClean(page, 'room with captions', step);

  await page.getByRole('button', { name: 'Captions', exact: true }).click();
  await captions.waitFor({ state: 'detached' });
  step('captions off: the region is gone');

  // The public listen link, without an account: its captions come through the HLS subtitle rendition.
  await page.getByRole('button', { name: 'More', exact: true }).click();
  await page.getByRole('button', { name: 'Recording and sharing', exact: true }).click();
  await turnOn(page.getByLabel(/Public listen link/));
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  const guest = await (await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true })).newPage();
  await guest.goto(`${base}/listen/${room}`);
  await guest.getByRole('heading', { name: 'Shapes' }).waitFor();
  await guest.getByRole('button', { name: 'Play', exact: true }).click().catch(() => undefined);
  await guest.getByRole('button', { name: 'Captions', exact: true }).click();
  const guestCaptions = guest.getByRole('log', { name: 'Live captions' });
  await guestCaptions.getByText(/square blue/).first().waitFor({ timeout: 30000 });
  step(`the listen link's captions show: ${JSON.stringify(await guestCaptions.innerText())}`);
  assert.match(await guestCaptions.innerText(), /Sam Speaker: /);
  await guest.screenshot({ path: join(OUT, 'captions-listen-link-phone.png') });
  await axeClean(guest, 'listen link with captions', step);

  // The replay keeps the transcript: once recording stops, its page shows the lines under the speaker's
  // name, marks the one being heard, and a line's time plays from there; search finds it by its words.
  await page.getByRole('button', { name: 'More', exact: true }).click();
  await page.getByRole('button', { name: 'Recording and sharing', exact: true }).click();
  const record = page.getByLabel(/Record a replay/);
  await record.click();
  await page.waitForFunction((el) => !el.checked, await record.elementHandle(), { timeout: 10000 });
  await page.getByRole('button', { name: 'Done', exact: true }).click();
  let replay;
  for (const until = Date.now() + 20000; !replay; await new Promise((r) => setTimeout(r, 200))) {
    const list = await (await page.request.get(`${base}/api/v1/rooms/${room}/recordings`)).json();
    replay = list.recordings.find((r) => r.kind === 'replay' && r.duration_ms != null)?.id;
    assert.ok(replay || Date.now() < until, 'the replay is finished once recording stops');
  }
  await page.goto(`${base}/r/${replay}`);
  const transcript = page.getByRole('region', { name: 'Transcript' });
  await transcript.getByText('Sam Speaker').first().waitFor({ timeout: 15000 });
  const lines = transcript.getByRole('listitem');
  step(`the replay's transcript: ${JSON.stringify(await transcript.innerText())}`);
  const last = lines.last();
  await last.getByRole('button', { name: /^Play from / }).click();
  await last.and(page.locator('[aria-current="true"]')).waitFor({ timeout: 5000 });
  const at = await page.locator('audio').evaluate((a) => a.currentTime);
  assert.ok(at > 0, `the player went to the line (${at} s)`);
  await axeClean(page, 'replay with its transcript', step);
  await page.screenshot({ path: join(OUT, 'captions-replay-transcript.png') });
  await page.goto(`${base}/search?q=square`);
  await page.getByRole('region', { name: 'Replays' }).getByRole('link', { name: /Shapes/ }).waitFor();
  step('the replay plays along with its transcript, and search finds it by a word said in it');
  console.log('captions: 1 passed, 0 failed');
} catch (err) {
  if (page) {
    await page.screenshot({ path: join(OUT, 'failure-captions.png'), fullPage: true }).catch(() => undefined);
    process.stderr.write(`--- page at ${page.url()}:\n${await page.evaluate(() => document.body.innerText).catch(() => '?')}\n`);
  }
  throw err;
} finally {
  bot?.kill();
  await browser?.close().catch(() => undefined);
  server.kill();
  engine.kill();
  rmSync(work, { recursive: true, force: true });
}
