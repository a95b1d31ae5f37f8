// Stoa over HTTPS in real Chromium, at a name that is not localhost, so that the microphone works only
// because the page is served securely: the admin signs up from the https:// invite `stoa serve` printed,
// starts a room and speaks 440 Hz; a friend signs up and hears it. The server's certificate is
// self-signed; Chromium trusts it by its public key (--ignore-certificate-errors-spki-list), and the name
// resolves to loopback (--host-resolver-rules). The same name over plain HTTP is shown to have no
// microphone at all.
//
// Usage: node https.mjs   with env BOOTSTRAP (the printed invite URL), CERT (the PEM certificate), ADDR
// (the host:port the name maps to) and PLAIN (the same name's plain-HTTP URL, served by a tiny server here).
// Prints one JSON line {room, invite} once the friend hears the room, then waits for a line on stdin
// before it leaves, so that the test can listen with other clients meanwhile.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hearsWith, launch, wav } from './lib.mjs';

const { BOOTSTRAP, CERT } = process.env;
const step = (s) => process.stderr.write(`https: ${s}\n`);
const work = mkdtempSync(join(tmpdir(), 'stoa-https-'));
const url = new URL(BOOTSTRAP);
assert.equal(url.protocol, 'https:', 'the printed invite is an https:// link');
const host = url.hostname;

// Chromium's check of a certificate pinned by the SHA-256 of its public key (SubjectPublicKeyInfo).
const spki = new X509Certificate(readFileSync(CERT)).publicKey.export({ type: 'spki', format: 'der' });
const pin = createHash('sha256').update(spki).digest('base64');

// A plain-HTTP page at the same name, to show what a browser does without TLS.
const plain = createServer((_, res) => res.end('<!doctype html><title>plain</title>'));
await new Promise((r) => plain.listen(0, '127.0.0.1', r));
const plainPort = plain.address().port;

const browsers = [];
async function browserWith(hz) {
  const b = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, `tone-${hz}.wav`), hz)}`, '--autoplay-policy=no-user-gesture-required',
    `--host-resolver-rules=MAP ${host} 127.0.0.1`, `--ignore-certificate-errors-spki-list=${pin}`]);
  browsers.push(b);
  const page = await (await b.newContext()).newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`[console] ${m.text()}\n`); });
  return page;
}

let failed = false;
try {
  const admin = await browserWith(440);
  const friend = await browserWith(660);

  // Without TLS, a page at this name is not a secure context and has no microphone to ask for.
  await admin.goto(`http://${host}:${plainPort}/`);
  const insecure = await admin.evaluate(() => ({ secure: window.isSecureContext, media: !!navigator.mediaDevices }));
  assert.deepEqual(insecure, { secure: false, media: false }, 'plain HTTP at a real name has no microphone');
  step('plain HTTP: no secure context, no microphone');

  await admin.goto(BOOTSTRAP);
  assert.equal(await admin.evaluate(() => window.isSecureContext), true, 'the HTTPS page is a secure context');
  await admin.getByLabel('Username').fill('admin');
  await admin.getByLabel('Display name').fill('Ada Admin');
  await admin.getByLabel('Password').fill('correct horse');
  await admin.getByRole('button', { name: 'Sign up', exact: true }).click();
  await admin.getByRole('heading', { name: 'Hallway' }).waitFor();
  const cookies = await admin.context().cookies();
  const session = cookies.find((c) => c.httpOnly);
  assert.ok(session && session.secure, `the session cookie is Secure: ${JSON.stringify(cookies)}`);
  step('signed up over HTTPS; the session cookie is Secure');

  await admin.getByRole('link', { name: 'Invites', exact: true }).click();
  for (let i = 0; i < 2; i++) {
    await admin.getByRole('button', { name: 'Create invite', exact: true }).click();
    await admin.locator('.invite-link').nth(i).waitFor();
  }
  const links = await admin.locator('.invite-link').allTextContents();
  assert.ok(links.every((l) => l.startsWith(`https://${url.host}/invite/`)), `invite links are https: ${links}`);

  await admin.getByRole('link', { name: 'Hallway', exact: true }).click();
  await admin.getByRole('button', { name: 'Start a room', exact: true }).click();
  await admin.getByLabel('Title').fill('Secure tones');
  await admin.getByRole('button', { name: "Let's go", exact: true }).click();
  await admin.getByRole('heading', { name: 'Secure tones' }).waitFor();
  await admin.getByRole('button', { name: /Ada Admin/ }).waitFor();
  const room = new URL(admin.url()).pathname.split('/').pop();
  step(`room ${room} started`);

  await friend.goto(links[0]);
  await friend.getByLabel('Username').fill('bea');
  await friend.getByLabel('Display name').fill('Bea Friend');
  await friend.getByLabel('Password').fill('bea-password');
  await friend.getByRole('button', { name: 'Sign up', exact: true }).click();
  await friend.getByRole('heading', { name: 'Hallway' }).waitFor();
  await friend.getByRole('link', { name: /Secure tones/ }).click({ timeout: 15000 });
  await friend.getByRole('heading', { name: 'Secure tones' }).waitFor();
  await hearsWith(friend, 440, 'the friend, over HTTPS and WSS', step);

  process.stdout.write(JSON.stringify({ room, invite: links[1] }) + '\n');
  // The test listens with its own clients now; it writes a line when they are done.
  const lines = createInterface({ input: process.stdin });
  await new Promise((r) => lines.once('line', r));
} catch (e) {
  failed = true;
  process.stderr.write(`https: FAILED: ${e.stack ?? e}\n`);
} finally {
  for (const b of browsers) await b.close().catch(() => {});
  plain.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
