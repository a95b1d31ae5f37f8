// Shared by the browser tests: start the real `stoa serve`, write tone WAVs, launch Debian's Chromium.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/// Starts `stoa serve` on a fresh data folder in `work`; resolves to { server, bootstrap, base }.
export async function startServer(work) {
  const server = spawn(process.env.STOA_BIN, ['serve', '--data', join(work, 'data'), '--http', '127.0.0.1:0', '--media-udp', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
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
