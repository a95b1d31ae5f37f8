// A Chromium listener across server restarts, run by crates/stoa/tests/restart.rs: it signs up from an
// invite, opens the room by its title and hears the speaker's 440 Hz, then prints `heard`. Each line on
// stdin means "the server was just restarted": it waits until it hears 440 Hz again (the web client
// reconnects by itself) and prints `back MS`, the time that took. Ends when stdin closes.
//
// With SPEAK_HZ, its microphone plays that tone: after `heard` it raises its hand, joins the stage when
// invited, and prints `speaking` once its Mute button shows (run so by crates/stoa/tests/cluster.rs, where
// going on stage through an edge node moves its media to the room's origin).
//
// Usage: node restart.mjs   with env INVITE (an invite URL), USERNAME, TITLE, and optionally SPEAK_HZ.
import { createInterface } from 'node:readline';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, signUp, spectrum, wav } from './lib.mjs';

const { INVITE, USERNAME, TITLE, SPEAK_HZ } = process.env;
const step = (s) => process.stderr.write(`restart (${USERNAME}): ${s}\n`);
// The fake device's permission lets Chromium gather its loopback candidate (without a default route, a page
// with no media permission gathers none).
const micFile = join(tmpdir(), `stoa-${process.pid}-${SPEAK_HZ}.wav`);
const mic = SPEAK_HZ ? [`--use-file-for-fake-audio-capture=${wav(micFile, Number(SPEAK_HZ))}`] : [];
const browser = await launch(['--autoplay-policy=no-user-gesture-required', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', ...mic]);
let failed = false;

// Polls what the page plays until 440 Hz stands well above the floor; the time it took, or null.
async function hears(page, within) {
  const until = Date.now() + within;
  while (Date.now() < until) {
    const s = await spectrum(page, 700).catch(() => null);
    if (s && s.db440 > -75 && s.db440 > s.floor + 20) return true;
  }
  return false;
}

try {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await signUp(page, INVITE, USERNAME, USERNAME);
  await page.getByRole('link', { name: new RegExp(TITLE) }).click({ timeout: 20000 });
  await page.getByRole('heading', { name: TITLE }).waitFor();
  if (!(await hears(page, 20000))) throw new Error('never heard 440 Hz');
  step('hears 440 Hz');
  process.stdout.write('heard\n');
  if (SPEAK_HZ) {
    await page.getByRole('button', { name: 'Raise hand', exact: true }).click();
    await page.getByRole('button', { name: 'Join as speaker', exact: true }).click({ timeout: 20000 });
    await page.getByRole('button', { name: 'Mute', exact: true }).waitFor({ timeout: 20000 });
    step(`on stage, speaking ${SPEAK_HZ} Hz`);
    process.stdout.write('speaking\n');
  }
  for await (const _ of createInterface({ input: process.stdin })) {
    const began = Date.now();
    // The page's audio elements are replaced as the client reconnects: poll until they play 440 again.
    if (!(await hears(page, 30000))) throw new Error('never heard 440 Hz after the restart');
    step(`hears 440 Hz again after ${Date.now() - began} ms`);
    process.stdout.write(`back ${Date.now() - began}\n`);
  }
} catch (e) {
  failed = true;
  process.stderr.write(`restart: FAILED: ${e.stack ?? e}\n`);
} finally {
  await browser.close().catch(() => {});
  rmSync(micFile, { force: true });
}
process.exit(failed ? 1 : 0);
