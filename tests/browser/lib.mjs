// Shared by the browser tests: start the real `stoa serve`, write tone WAVs, launch Debian's Chromium.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/// Starts `stoa serve` on a fresh data folder in `work`, with `extra` flags; resolves to { server, bootstrap, base }.
export async function startServer(work, extra = []) {
  const media = extra.includes('--media-udp') ? [] : ['--media-udp', '127.0.0.1:0'];
  const server = spawn(process.env.STOA_BIN, ['serve', '--data', join(work, 'data'), '--http', '127.0.0.1:0', ...media, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const bootstrap = await new Promise((resolve, reject) => {
    let text = '';
    server.stdout.on('data', (d) => {
      text += d;
      const m = text.match(/http:\/\/\S+\/invite\/\S+/);
      if (m) resolve(m[0]);
    });
    server.on('exit', (c) => reject(new Error(`stoa serve exited (${c})`)));
    setTimeout(() => reject(new Error('stoa serve printed no invite')), 30000);
  });
  return { server, bootstrap, base: new URL(bootstrap).origin };
}

/// A 48 kHz mono WAV of a sine.
export function wav(path, hz, seconds = 120) {
  const rate = 48000;
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + n * 2, 4); buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22); buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34); buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12000), 44 + i * 2);
  writeFileSync(path, buf);
  return path;
}

/// Debian's Chromium, headless, with no network beyond what the page asks for. `extra` adds flags.
export function launch(extra = []) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection', ...extra],
  });
}

/// Signs up through an invite link in the web client.
export async function signUp(page, link, username, displayName) {
  await page.goto(link);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password').fill(`${username}-password`);
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await page.getByRole('heading', { name: 'Hallway' }).waitFor();
}

// The loudest frequencies the page hears, from every <audio> the client plays, through WebAudio.
export async function spectrum(page, ms = 1500) {
  return page.evaluate(async (ms) => {
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 16384;
    analyser.smoothingTimeConstant = 0.5;
    for (const a of document.querySelectorAll('audio')) {
      // A room's slots play MediaStreams; the listen link and recordings play a URL, captured as a stream.
      if (a.srcObject) ctx.createMediaStreamSource(a.srcObject).connect(analyser);
      else if (!a.paused && a.captureStream) ctx.createMediaStreamSource(a.captureStream()).connect(analyser);
    }
    await new Promise((r) => setTimeout(r, ms));
    const data = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(data);
    const hz = (i) => (i * ctx.sampleRate) / analyser.fftSize;
    const band = (f) => {
      let best = -Infinity;
      for (let i = 0; i < data.length; i++) if (Math.abs(hz(i) - f) <= 12) best = Math.max(best, data[i]);
      return best;
    };
    let peak = 0;
    for (let i = 1; i < data.length; i++) if (data[i] > data[peak]) peak = i;
    const out = { peakHz: hz(peak), peakDb: data[peak], db440: band(440), db660: band(660), floor: band(2000) };
    await ctx.close();
    return out;
  }, ms);
}

/// Waits until the page hears `hz` (440 or 660) well above the noise floor; `log` gets a line when it does.
export async function hearsWith(page, hz, what, log) {
  const key = hz === 440 ? 'db440' : 'db660';
  for (let i = 0; i < 15; i++) {
    const s = await spectrum(page);
    if (s[key] > -75 && s[key] > s.floor + 20) {
      log(`${what}: hears ${hz} Hz (${s[key].toFixed(1)} dB, floor ${s.floor.toFixed(1)} dB, peak ${s.peakHz.toFixed(0)} Hz)`);
      return s;
    }
  }
  assert.fail(`${what} never heard ${hz} Hz`);
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/// Runs axe-core on the page and fails on any serious or critical violation; `log` gets a line when clean.
/// (The page's context needs `bypassCSP: true` for the script to be injected.)
export async function axeClean(page, screen, log) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], `axe on ${screen}`);
  log(`axe clean: ${screen}`);
}

/// Signs `page` up as the host (from the server's printed invite) and starts an open room titled `title`;
/// resolves to the room's ID.
export async function hostRoom(page, bootstrap, title) {
  await page.goto(bootstrap);
  await page.getByLabel('Username').fill('host');
  await page.getByLabel('Display name').fill('Hana Host');
  await page.getByLabel('Password').fill('host-password');
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await page.getByRole('heading', { name: 'Hallway' }).waitFor();
  await page.getByRole('button', { name: 'Start a room', exact: true }).click();
  await page.getByLabel('Title').fill(title);
  await page.getByRole('button', { name: "Let's go", exact: true }).click();
  await page.getByRole('heading', { name: title }).waitFor();
  return new URL(page.url()).pathname.split('/').at(-1);
}

/// A `stoa bot speak` speaker saying `file` in a loop, signed up through an invite the host's `page` makes
/// and brought on stage by the host; resolves to the bot's process once it is on stage.
export async function speakerOnStage(page, base, room, username, displayName, file) {
  const invite = await (await page.context().request.post(`${base}/api/v1/invites`, { headers: { origin: base } })).json();
  const signed = await fetch(`${base}/api/v1/auth/signup`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ invite: invite.code, username, display_name: displayName, password: `${username}-password` }),
  });
  assert.equal(signed.status, 201, `${username} signs up`);
  const { token } = await signed.json();
  const bot = spawn(process.env.STOA_BIN, ['bot', 'speak', '--server', base, '--token', token, '--room', room, '--file', file, '--loop'],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const hands = page.getByRole('region', { name: 'Raised hands' });
  await hands.getByText(displayName).waitFor({ timeout: 20000 });
  await hands.getByRole('button', { name: 'Invite to speak', exact: true }).click();
  await page.getByRole('region', { name: 'On stage' }).getByText(displayName).waitFor({ timeout: 20000 });
  return bot;
}

// Ticks a checkbox whose state the server decides: it shows checked only once the server's answer comes
// back, so Playwright's check() (which looks right after its click) would call it unchanged.
export async function turnOn(box, timeout = 10000) {
  await box.click();
  await box.page().waitForFunction((el) => el.checked, await box.elementHandle(), { timeout });
}
