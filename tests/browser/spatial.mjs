// Spatial audio (issue 33 §2) in real Chromium: two `stoa bot speak` speakers, at 440 Hz and 660 Hz, come up
// on the host's stage one after the other. With spatial audio on, the left channel of the page's own audio
// graph carries more of the first and the right more of the second; the choice survives a reload; a slot
// that changes speaker glides to the new seat instead of jumping (a click); turned
// off, the slots play through their <audio> elements again, both channels equal, and the graph is silent.
//
// Usage: node spatial.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hostRoom, launch, speakerOnStage, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-spatial-'));
const step = (s) => process.stderr.write(`spatial: ${s}\n`);

// Runs in the page before the client: every node the page connects to its context's output is also
// connected to a tap there (a channel splitter and an analyser per channel), so that the test reads the
// left and right channels of what the page plays, from the page's own graph.
const TAP = () => {
  window.__taps = [];
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (target, ...rest) {
    const out = connect.call(this, target, ...rest);
    if (target instanceof AudioDestinationNode) {
      const ctx = this.context;
      let tap = window.__taps.find((t) => t.ctx === ctx);
      if (!tap) {
        const split = ctx.createChannelSplitter(2);
        const left = ctx.createAnalyser();
        const right = ctx.createAnalyser();
        for (const a of [left, right]) { a.fftSize = 16384; a.smoothingTimeConstant = 0.5; }
        connect.call(split, left, 0);
        connect.call(split, right, 1);
        tap = { ctx, split, left, right };
        window.__taps.push(tap);
      }
      connect.call(this, tap.split);
    }
    return out;
  };
};

// Runs in the page before the client too: keeps the room's WebSocket and the last `slots` event it brought,
// and every stereo panner the page makes, so that the test can hand the client a `slots` event that swaps
// who two slots carry, and watch each panner's value as it moves.
const WATCH = () => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
      this.addEventListener('message', (e) => {
        try {
          const m = JSON.parse(e.data);
          if (m.type === 'slots') window.__slots = m;
        } catch { /* not JSON */ }
      });
    }
  };
  window.__pans = [];
  const create = BaseAudioContext.prototype.createStereoPanner;
  BaseAudioContext.prototype.createStereoPanner = function () {
    const panner = create.call(this);
    window.__pans.push(panner);
    return panner;
  };
};

// Swaps who the first two slots carry, as a `slots` event from the server would, and samples every running
// panner's value for 400 ms: [[ms, pan of each]...].
const SWAP = async () => {
  const last = window.__slots;
  const swap = (a) => [a[1], a[0], ...a.slice(2)];
  const event = { ...last, slots: swap(last.slots), sources: swap(last.sources) };
  const pans = window.__pans.filter((p) => p.context.state === 'running');
  const start = performance.now();
  const samples = [[0, ...pans.map((p) => p.pan.value)]];
  window.__sockets.at(-1).dispatchEvent(new MessageEvent('message', { data: JSON.stringify(event) }));
  while (performance.now() - start < 400) {
    samples.push([performance.now() - start, ...pans.map((p) => p.pan.value)]);
    await new Promise((r) => setTimeout(r, 4));
  }
  return samples;
};

// The 440 Hz and 660 Hz levels (dB) of each channel: of the page's graph ('graph'), or of the streams its
// <audio> elements play ('elements', through a context of the test's own, not connected to any output).
const LEVELS = async ({ what, ms }) => {
  let left, right, ctx, own;
  if (what === 'graph') {
    const tap = window.__taps.filter((t) => t.ctx.state === 'running').at(-1);
    if (!tap) return null;
    ({ left, right, ctx } = tap);
  } else {
    own = ctx = new AudioContext();
    await ctx.resume();
    const split = ctx.createChannelSplitter(2);
    left = ctx.createAnalyser();
    right = ctx.createAnalyser();
    for (const a of [left, right]) { a.fftSize = 16384; a.smoothingTimeConstant = 0.5; }
    split.connect(left, 0);
    split.connect(right, 1);
    for (const a of document.querySelectorAll('audio')) if (a.srcObject && !a.muted) ctx.createMediaStreamSource(a.srcObject).connect(split);
  }
  await new Promise((r) => setTimeout(r, ms));
  const band = (analyser, f) => {
    const data = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(data);
    let best = -Infinity;
    for (let i = 0; i < data.length; i++) if (Math.abs((i * ctx.sampleRate) / analyser.fftSize - f) <= 12) best = Math.max(best, data[i]);
    return Math.max(best, -200);
  };
  const out = { l440: band(left, 440), r440: band(right, 440), l660: band(left, 660), r660: band(right, 660), floor: band(left, 2000) };
  if (own) await own.close();
  return out;
};

const fmt = (l) => `440 Hz L ${l.l440.toFixed(1)} R ${l.r440.toFixed(1)} dB, 660 Hz L ${l.l660.toFixed(1)} R ${l.r660.toFixed(1)} dB`;

/// Waits until `check` holds of the levels `what` gives, up to 15 tries; returns them.
async function levelsUntil(page, what, check, why) {
  let last;
  for (let i = 0; i < 15; i++) {
    last = await page.evaluate(LEVELS, { what, ms: 1000 });
    if (last && check(last)) return last;
  }
  assert.fail(`${why}: ${last ? fmt(last) : 'the page has no running audio graph'}`);
}

const { server, bootstrap, base } = await startServer(work);
step(`server at ${base}`);
const bots = [];
let browser;
let page;
try {
  browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, 'silence.wav'), 0)}`, '--autoplay-policy=no-user-gesture-required']);
  page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true })).newPage();
  await page.addInitScript(TAP);
  await page.addInitScript(WATCH);
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));

  const room = await hostRoom(page, bootstrap, 'Panel');
  step(`room ${room}`);

  // Two speakers, each brought on stage by the host in turn: the first gets the first seat (left).
  for (const [hz, username, name] of [[440, 'lee', 'Lee Left'], [660, 'ray', 'Ray Right']]) {
    bots.push(await speakerOnStage(page, base, room, username, name, wav(join(work, `tone-${hz}.wav`), hz, 20)));
    step(`${name} (${hz} Hz) is on stage`);
  }

  // Off by default (nothing says these are headphones): the <audio> elements play, both channels equal.
  const spatialButton = () => page.getByRole('button', { name: /Spatial audio, for headphones/ });
  await page.getByRole('button', { name: 'More', exact: true }).click();
  assert.equal(await spatialButton().getAttribute('aria-pressed'), 'false', 'off by default without headphones');
  await axeClean(page, 'room, More (spatial audio off)', step);
  await spatialButton().click();
  await page.getByRole('button', { name: 'Spatial audio, for headphones: on' }).waitFor();
  await page.screenshot({ path: join(OUT, 'spatial-on-phone.png') });
  await page.getByRole('button', { name: 'Close', exact: true }).click();

  const apart = (l) => l.l440 > -80 && l.r660 > -80 && l.l440 - l.r440 > 6 && l.r660 - l.l660 > 6;
  let on = await levelsUntil(page, 'graph', apart, 'spatial audio on: 440 Hz should lean left and 660 Hz right');
  step(`on: ${fmt(on)}`);
  assert.equal(await page.evaluate(() => [...document.querySelectorAll('audio')].every((a) => a.muted)), true,
    'with spatial audio on, the <audio> elements are muted and the graph plays');

  // Remembered in this browser: after a reload the room plays spatially again, each voice at its seat.
  await page.reload();
  await page.getByRole('heading', { name: 'Panel' }).waitFor();
  on = await levelsUntil(page, 'graph', apart, 'after a reload, spatial audio should still be on');
  step(`on after a reload: ${fmt(on)}`);

  // A slot that changes speaker glides to the new speaker's seat, never jumps there: a jump in a panner's
  // gains is a click. Each panner that moves across the stage takes tens of milliseconds to get there (a
  // 40 ms time constant), where a jump would take one render quantum (under 3 ms).
  const samples = await page.evaluate(SWAP);
  const moved = samples[0].slice(1).map((from, i) => ({ from, to: samples.at(-1)[i + 1], i })).filter((p) => Math.abs(p.to - p.from) > 0.5);
  assert.ok(moved.length >= 2, `the swap moves two slots across the stage: ${JSON.stringify(samples.at(-1))}`);
  for (const { from, to, i } of moved) {
    const left = samples.find((s) => Math.abs(s[i + 1] - from) > 0.05);
    const arrived = samples.find((s) => Math.abs(s[i + 1] - to) < 0.05);
    assert.ok(left && arrived, `slot ${i} went from ${from} to ${to}`);
    const between = samples.filter((s) => Math.abs(s[i + 1] - from) > 0.05 && Math.abs(s[i + 1] - to) > 0.05).length;
    assert.ok(arrived[0] - left[0] >= 50 && between >= 5,
      `slot ${i} glides from ${from.toFixed(2)} to ${to.toFixed(2)} in ${(arrived[0] - left[0]).toFixed(0)} ms, through ${between} values between`);
    step(`a slot that changed speaker glided from ${from.toFixed(2)} to ${to.toFixed(2)} in ${(arrived[0] - left[0]).toFixed(0)} ms, through ${between} values`);
  }

  // Off: the graph falls silent and the elements play again, the same in both ears.
  await page.getByRole('button', { name: 'More', exact: true }).click();
  await page.getByRole('button', { name: 'Spatial audio, for headphones: on' }).click();
  await page.getByRole('button', { name: 'Spatial audio, for headphones: off' }).waitFor();
  await page.getByRole('button', { name: 'Close', exact: true }).click();
  const silent = await page.evaluate(LEVELS, { what: 'graph', ms: 1000 });
  assert.ok(silent === null || (silent.l440 < -100 && silent.r660 < -100), `the spatial graph is off: ${silent && fmt(silent)}`);
  const equal = (l) => l.l440 > -80 && l.l660 > -80 && Math.abs(l.l440 - l.r440) < 1 && Math.abs(l.l660 - l.r660) < 1;
  const off = await levelsUntil(page, 'elements', equal, 'spatial audio off: both channels should be equal');
  step(`off: ${fmt(off)}`);
  console.log('spatial: 1 passed, 0 failed');
} catch (err) {
  if (page) {
    await page.screenshot({ path: join(OUT, 'failure-spatial.png'), fullPage: true }).catch(() => undefined);
    process.stderr.write(`--- page at ${page.url()}:\n${await page.evaluate(() => document.body.innerText).catch(() => '?')}\n`);
  }
  throw err;
} finally {
  for (const b of bots) b.kill();
  await browser?.close().catch(() => undefined);
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
