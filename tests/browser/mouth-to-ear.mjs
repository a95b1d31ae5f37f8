// Mouth to ear, browser to browser (issue 30 §7). Two Debian Chromiums run Stoa's own web client against a
// real `stoa serve`: the host speaks a click train (the fake microphone, fed from a WAV of short chirps at
// uneven intervals), a second user listens in the audience. Each page records, through an AudioWorklet on
// the same wall clock, what it sends (the microphone track) and what it plays (the tracks the client
// attaches to its <audio> elements). Each click the speaker sent is found in what the listener played by
// cross-correlation, and the offsets are the mouth-to-ear delays.
//
// Usage: node mouth-to-ear.mjs   with env STOA_BIN, and optionally SERVER_ARGS (extra `stoa serve` flags,
// e.g. "--audience-frames-above 0" for the audience's joined packets), SECONDS (recorded, default 20),
// LABEL (copied into the result). Prints one JSON line: the delays' p50/p95, the clicks sent and found, and
// where the time goes (from the two pages' WebRTC statistics).
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, signUp, startServer } from './lib.mjs';

const SECONDS = Number(process.env.SECONDS || '20');
const RATE = 48000;
const step = (s) => process.stderr.write(`mouth-to-ear: ${s}\n`);
const work = mkdtempSync(join(tmpdir(), 'stoa-m2e-'));

/// A click: 4 ms of a Hann-windowed chirp from 600 Hz to 4 kHz, loud enough to pass any gain control.
function click() {
  const n = Math.round(0.004 * RATE);
  const out = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const f = 600 + ((4000 - 600) * i) / n;
    phase += (2 * Math.PI * f) / RATE;
    out[i] = 0.7 * Math.sin(phase) * 0.5 * (1 - Math.cos((2 * Math.PI * i) / (n - 1)));
  }
  return out;
}

/// A 48 kHz mono WAV of clicks 500–800 ms apart (uneven, so no two offsets a period apart correlate alike),
/// over a steady 300 Hz tone: the SFU gives its slots to whoever is talking, by the level and voice flag
/// the browser measures on 20 ms frames, and a lone click every half second reads as silence.
function clickTrain(path, seconds) {
  const n = RATE * seconds;
  const pcm = new Float32Array(n);
  for (let i = 0; i < n; i++) pcm[i] = 0.15 * Math.sin((2 * Math.PI * 300 * i) / RATE);
  const c = click();
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let at = RATE / 2; at + c.length < n; at += Math.round((0.5 + 0.3 * rand()) * RATE)) {
    for (let i = 0; i < c.length; i++) pcm[at + i] += c[i];
  }
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + n * 2, 4); buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22); buf.writeUInt32LE(RATE, 24);
  buf.writeUInt32LE(RATE * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34); buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(pcm[i] * 32767), 44 + i * 2);
  writeFileSync(path, buf);
  return path;
}

// Runs in both pages before the client: keeps the peer connections and the microphone for the recorder.
const HOOKS = () => {
  window.__pcs = [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => (window.__mic = await getUserMedia(c));
};

// Records `which` ('mic' or 'played') for `seconds` through an AudioWorklet; returns the samples as 16-bit
// PCM in base64, and the Unix time in ms of the first sample, from the context's output timestamp.
const RECORD = async ({ which, seconds }) => {
  const streams = which === 'mic' ? [window.__mic] : [...document.querySelectorAll('audio')].map((a) => a.srcObject);
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.resume();
  const code = `class Tap extends AudioWorkletProcessor {
    constructor() { super(); this.chunk = new Float32Array(4096); this.n = 0; this.start = 0; }
    process(inputs) {
      const ch = inputs[0] && inputs[0][0];
      if (this.n === 0) this.start = currentFrame;
      if (ch) this.chunk.set(ch, this.n); else this.chunk.fill(0, this.n, this.n + 128);
      this.n += 128;
      if (this.n === 4096) { this.port.postMessage({ frame: this.start, data: this.chunk }); this.chunk = new Float32Array(4096); this.n = 0; }
      return true;
    }
  }
  registerProcessor('tap', Tap);`;
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: 'application/javascript' })));
  const tap = new AudioWorkletNode(ctx, 'tap', { channelCount: 1, channelCountMode: 'explicit' });
  const mute = ctx.createGain();
  mute.gain.value = 0;
  tap.connect(mute).connect(ctx.destination);
  for (const s of streams) ctx.createMediaStreamSource(s).connect(tap);
  const chunks = [];
  tap.port.onmessage = (e) => chunks.push(e.data);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const stamp = ctx.getOutputTimestamp();
  tap.port.onmessage = null;
  const first = chunks[0].frame;
  const pcm = new Int16Array(chunks.at(-1).frame + 4096 - first);
  for (const c of chunks) for (let i = 0; i < 4096; i++) pcm[c.frame - first + i] = Math.max(-32768, Math.min(32767, Math.round(c.data[i] * 32767)));
  const bytes = new Uint8Array(pcm.buffer);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  // The context time of a frame, mapped to the page's clock where the context said that time is played.
  const startMs = performance.timeOrigin + stamp.performanceTime + (first / ctx.sampleRate - stamp.contextTime) * 1000;
  const out = { pcm: btoa(text), startMs, rate: ctx.sampleRate, baseLatencyMs: ctx.baseLatency * 1000, outputLatencyMs: (ctx.outputLatency || 0) * 1000 };
  await ctx.close();
  return out;
};

// What each page's WebRTC statistics say of the time: round trip, jitter buffer.
const STATS = async () => {
  const out = { rttMs: null, jitterBufferMs: null, jitterBufferTargetMs: null, jitterBufferMinimumMs: null, packetsReceived: 0, packetsSent: 0, concealedPct: null };
  let delay = 0, target = 0, minimum = 0, emitted = 0, concealed = 0, samples = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) out.rttMs = s.currentRoundTripTime * 1000;
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.packetsSent += s.packetsSent;
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.packetsReceived > 0) {
        out.packetsReceived += s.packetsReceived;
        delay += s.jitterBufferDelay; target += s.jitterBufferTargetDelay ?? 0; minimum += s.jitterBufferMinimumDelay ?? 0;
        emitted += s.jitterBufferEmittedCount; concealed += s.concealedSamples; samples += s.totalSamplesReceived;
      }
    });
  }
  if (emitted > 0) {
    out.jitterBufferMs = (delay / emitted) * 1000;
    out.jitterBufferTargetMs = (target / emitted) * 1000;
    out.jitterBufferMinimumMs = (minimum / emitted) * 1000;
  }
  if (samples > 0) out.concealedPct = (100 * concealed) / samples;
  return out;
};

/// The recording's samples, high-passed at 1.2 kHz (a biquad, twice): the clicks' upper half stays, the
/// tone under them goes, so that it neither hides their onsets nor lends the correlation its period.
function decode(rec) {
  const b = Buffer.from(rec.pcm, 'base64');
  const pcm = new Int16Array(b.buffer, b.byteOffset, b.length / 2);
  let x = Float32Array.from(pcm, (v) => v / 32768);
  const w = (2 * Math.PI * 1200) / RATE, alpha = Math.sin(w) / (2 * Math.SQRT1_2), cos = Math.cos(w);
  const [b0, b1, b2, a0, a1, a2] = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha];
  for (let pass = 0; pass < 2; pass++) {
    const y = new Float32Array(x.length);
    let [x1, x2, y1, y2] = [0, 0, 0, 0];
    for (let i = 0; i < x.length; i++) {
      y[i] = (b0 * x[i] + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
      [x2, x1, y2, y1] = [x1, x[i], y1, y[i]];
    }
    x = y;
  }
  return x;
}

/// The clicks in the speaker's recording: where its 1 ms loudness passes 30 % of the loudest, at least
/// 300 ms after it last did.
function onsets(x) {
  const hop = RATE / 1000;
  const env = new Float32Array(Math.floor(x.length / hop));
  for (let k = 0; k < env.length; k++) {
    let sum = 0;
    for (let i = k * hop; i < (k + 1) * hop; i++) sum += x[i] * x[i];
    env[k] = Math.sqrt(sum / hop);
  }
  const peak = env.reduce((a, v) => Math.max(a, v), 0);
  const out = [];
  let last = -Infinity;
  for (let k = 0; k < env.length; k++) {
    if (env[k] <= peak * 0.3) continue;
    if (k - last > 300) out.push(k * hop);
    last = k;
  }
  return out;
}

/// The offset in samples, from 0 to `maxLag`, at which `template` best matches `y` from `from` on, with the
/// normalised correlation there; coarse (every 4th sample) then fine around the best.
function bestLag(template, y, from, maxLag) {
  const energyT = template.reduce((a, v) => a + v * v, 0);
  const score = (lag) => {
    let dot = 0, energy = 0;
    const base = from + lag;
    for (let i = 0; i < template.length; i += 1) {
      const v = y[base + i] ?? 0;
      dot += template[i] * v;
      energy += v * v;
    }
    return energy > 0 ? dot / Math.sqrt(energy * energyT) : 0;
  };
  let best = 0, bestScore = -Infinity;
  for (let lag = 0; lag <= maxLag; lag += 4) {
    const s = score(lag);
    if (s > bestScore) { bestScore = s; best = lag; }
  }
  for (let lag = Math.max(0, best - 4); lag <= best + 4; lag++) {
    const s = score(lag);
    if (s > bestScore) { bestScore = s; best = lag; }
  }
  return { lag: best, score: bestScore };
}

/// CPU seconds (user and system) of every Chromium process on this machine (in the bench's namespace, the
/// two browsers of this script): with E2EE, what the encoded transforms add on both sides.
function chromiumCpuSeconds() {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chromium')) continue;
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / 100;
    } catch { /* gone */ }
  }
  return total;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i), hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

const { server, bootstrap } = await startServer(work, (process.env.SERVER_ARGS ?? '').split(' ').filter(Boolean));
const browsers = [];
try {
  const flags = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'];
  const speakerBrowser = await launch([...flags, `--use-file-for-fake-audio-capture=${clickTrain(join(work, 'clicks.wav'), 60)}`]);
  const listenerBrowser = await launch(flags);
  browsers.push(speakerBrowser, listenerBrowser);
  // bypassCSP: the recorder's worklet is a blob: module, which the client's own policy (rightly) refuses.
  const speaker = await (await speakerBrowser.newContext({ bypassCSP: true })).newPage();
  const listener = await (await listenerBrowser.newContext({ bypassCSP: true })).newPage();
  for (const p of [speaker, listener]) {
    await p.addInitScript(HOOKS);
    p.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  }

  await signUp(speaker, bootstrap, 'speaker', 'Speaker');
  await speaker.getByRole('link', { name: 'Invites', exact: true }).click();
  await speaker.getByRole('button', { name: 'Create invite', exact: true }).click();
  await signUp(listener, await speaker.locator('.invite-link').first().textContent(), 'listener', 'Listener');

  await speaker.getByRole('link', { name: 'Hallway', exact: true }).click();
  await speaker.getByRole('button', { name: 'Start a room', exact: true }).click();
  await speaker.getByLabel('Title').fill('Clicks');
  if (process.env.E2EE) {
    // Issue 34: a closed, end-to-end encrypted room: every frame sealed and opened in the pages' encoded
    // transforms, against the same room in the clear.
    await speaker.getByLabel(/^Closed/).check();
    await speaker.getByLabel('People to invite').fill('listener');
    await speaker.getByLabel(/End-to-end encrypted/).check();
  }
  await speaker.getByRole('button', { name: "Let's go", exact: true }).click();
  await speaker.getByRole('heading', { name: 'Clicks' }).waitFor();
  if (process.env.E2EE) await listener.goto(speaker.url());
  else await listener.getByRole('link', { name: /Clicks/ }).click({ timeout: 15000 });
  await listener.getByRole('heading', { name: 'Clicks' }).waitFor();
  await speaker.waitForFunction(() => window.__mic && window.__pcs.some((pc) => pc.connectionState === 'connected'));
  await listener.waitForFunction(() => document.querySelectorAll('audio').length > 0 && window.__pcs.some((pc) => pc.connectionState === 'connected'));
  // Two seconds for the jitter buffer to settle from the join.
  await listener.waitForTimeout(2000);
  step(`both connected; recording ${SECONDS} s`);

  // The browsers' CPU over the recording: with E2EE, what the encoded transforms add.
  const cpuBefore = chromiumCpuSeconds();
  const cpuStart = performance.now();
  const [sent, heard] = await Promise.all([
    speaker.evaluate(RECORD, { which: 'mic', seconds: SECONDS }),
    listener.evaluate(RECORD, { which: 'played', seconds: SECONDS }),
  ]);
  const [speakerStats, listenerStats] = await Promise.all([speaker.evaluate(STATS), listener.evaluate(STATS)]);
  const browsersCpu = (100 * (chromiumCpuSeconds() - cpuBefore)) / ((performance.now() - cpuStart) / 1000);

  if (process.env.DUMP) {
    writeFileSync(join(process.env.DUMP, 'sent.s16'), Buffer.from(sent.pcm, 'base64'));
    writeFileSync(join(process.env.DUMP, 'heard.s16'), Buffer.from(heard.pcm, 'base64'));
  }
  const x = decode(sent), y = decode(heard);
  const clicks = onsets(x);
  const delays = [];
  const templateLen = Math.round(0.012 * RATE);
  const maxLag = Math.round(0.6 * RATE);
  for (const at of clicks) {
    const from = at - Math.round(0.002 * RATE);
    if (from < 0 || from + templateLen > x.length) continue;
    const template = x.subarray(from, from + templateLen);
    // Where this click's time falls in the listener's recording.
    const t = sent.startMs + (from / RATE) * 1000;
    const base = Math.round(((t - heard.startMs) / 1000) * RATE);
    if (base < 0 || base + maxLag + templateLen > y.length) continue;
    const { lag, score } = bestLag(template, y, base, maxLag);
    // A best match at the end of the window is no match: the click was lost or cut off.
    if (score >= 0.5 && lag < maxLag - RATE / 100) delays.push((lag / RATE) * 1000);
  }
  delays.sort((a, b) => a - b);
  const result = {
    label: process.env.LABEL ?? '',
    server_args: process.env.SERVER_ARGS ?? '',
    seconds: SECONDS,
    clicks_sent: clicks.length,
    clicks_found: delays.length,
    e2ee: !!process.env.E2EE,
    browsers_cpu_pct: browsersCpu,
    delay_p50_ms: quantile(delays, 0.5),
    delay_p95_ms: quantile(delays, 0.95),
    delay_min_ms: delays[0] ?? null,
    delay_max_ms: delays.at(-1) ?? null,
    listener_output_latency_ms: heard.outputLatencyMs,
    listener_base_latency_ms: heard.baseLatencyMs,
    rtt_ms: listenerStats.rttMs,
    jitter_buffer_ms: listenerStats.jitterBufferMs,
    jitter_buffer_target_ms: listenerStats.jitterBufferTargetMs,
    jitter_buffer_minimum_ms: listenerStats.jitterBufferMinimumMs,
    concealed_pct: listenerStats.concealedPct,
    packets_received: listenerStats.packetsReceived,
    speaker_rtt_ms: speakerStats.rttMs,
    speaker_packets_sent: speakerStats.packetsSent,
    sent_peak: x.reduce((a, v) => Math.max(a, Math.abs(v)), 0),
    heard_peak: y.reduce((a, v) => Math.max(a, Math.abs(v)), 0),
    delays_ms: delays.map((d) => Math.round(d * 10) / 10),
  };
  console.log(JSON.stringify(result));
} finally {
  for (const b of browsers) await b.close();
  server.kill('SIGINT');
  await new Promise((r) => server.on('exit', r));
  rmSync(work, { recursive: true, force: true });
}
