// The browser's half of crates/stoa/tests/it/e2ee.rs: web/src/e2ee.ts, bundled with the web client's own
// esbuild, runs in Chromium on a localhost page (a secure context, so WebCrypto is there). It unwraps the
// epoch's key with the device's X25519 secret, opens every frame Rust sealed, seals twelve of its own as
// sender 77, computes the safety code, and as the next epoch's keyholder wraps a key of its own for Rust.
//
// Usage: node e2ee.mjs IN.json OUT.json
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { launch } from './lib.mjs';

const [input, output] = process.argv.slice(2);
const esbuild = createRequire(new URL('../../web/package.json', import.meta.url))('esbuild');
const bundle = await esbuild.build({
  entryPoints: [new URL('../../web/src/e2ee.ts', import.meta.url).pathname],
  bundle: true, format: 'iife', globalName: 'e2ee', write: false, target: 'es2022',
});
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.route('http://localhost/**', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>e2ee</title>' }));
  await page.goto('http://localhost/');
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  const result = await page.evaluate(async (args) => {
    const { unwrap, wrap, randomEpoch, Receiver, Sender, safetyCode } = window.e2ee;
    const bytes = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
    const hex = (u) => [...u].map((b) => b.toString(16).padStart(2, '0')).join('');
    const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const device = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'X25519', d: args.d, x: args.x }, { name: 'X25519' }, false, ['deriveBits']);
    const key = await unwrap(device, b64(args.x), bytes(args.keyholder), args.room, bytes(args.blob));
    // A blob claimed by another keyholder does not open.
    const forgedRefused = await unwrap(device, b64(args.x), bytes(args.rust_device), args.room, bytes(args.blob)).then(() => false, () => true);
    const receiver = new Receiver();
    receiver.addEpoch(key);
    const opened = [];
    for (const s of args.sealed) opened.push(hex(await receiver.open(bytes(s))));
    const sender = await Sender.create(key, 77);
    const sealed = [];
    for (let i = 0; i < 12; i++) sealed.push(hex(await sender.seal(Uint8Array.from({ length: 30 + i }, (_, b) => b))));
    // A frame altered in one bit does not open.
    const altered = bytes(args.sealed[0]);
    altered[altered.length - 1] ^= 1;
    const refused = await receiver.open(altered).then(() => false, () => true);
    const members = args.members.map(([user, device]) => ({ user, device: bytes(device) }));
    // As keyholder of the next epoch: a key of its own, wrapped for Rust's device.
    const next = randomEpoch(4);
    const wrapped = hex(await wrap(next, args.room, device, b64(args.x), bytes(args.rust_device)));
    return {
      opened, sealed, epoch: key.epoch, code: await safetyCode(key, args.room, members), refused: refused && forgedRefused,
      wrapped, next_code: await safetyCode(next, args.room, members),
    };
  }, JSON.parse(readFileSync(input, 'utf8')));
  if (!result.refused) throw new Error('an altered frame opened in the browser');
  writeFileSync(output, JSON.stringify(result));
  console.log(`e2ee: the browser opened ${result.opened.length} frames, sealed ${result.sealed.length}, code ${result.code}`);
} finally {
  await browser.close();
}
