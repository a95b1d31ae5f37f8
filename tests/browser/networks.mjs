// A Chromium listener on a hard network (behind a NAT, behind a firewall that drops UDP, or allowed only TCP
// to a TURN server), run by crates/stoa/tests/networks.rs inside the client's network namespace: it signs
// up from an invite, opens the room by its title, and must hear the speaker's 440 Hz. It prints one JSON
// line: the path Chromium's ICE chose (the selected pair's local candidate type and protocol, and the relay
// protocol for TURN) and what it heard.
//
// Usage: node networks.mjs   with env INVITE (an invite URL), USERNAME, TITLE (the room's title).
import { hearsWith, launch, signUp } from './lib.mjs';

const { INVITE, USERNAME, TITLE } = process.env;
const step = (s) => process.stderr.write(`networks (${USERNAME}): ${s}\n`);
const origin = new URL(INVITE).origin;
let failed = false;
// The server is at a plain-HTTP address that is not loopback; a listener needs no microphone, and the
// page's WebRTC and WebAudio work in any context.
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
try {
  const context = await browser.newContext();
  // Keeps every peer connection the page makes, to read the selected path from its stats.
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__stoaPeers = [];
    const Tracked = function (...args) {
      const pc = new Native(...args);
      window.__stoaPeers.push(pc);
      return pc;
    };
    Tracked.prototype = Native.prototype;
    window.RTCPeerConnection = Tracked;
  });
  // NO_RED: the offer loses audio/red, as a browser without it would send (for the measurement without
  // redundancy).
  if (process.env.NO_RED === '1') {
    await context.addInitScript(() => {
      const createOffer = RTCPeerConnection.prototype.createOffer;
      RTCPeerConnection.prototype.createOffer = async function (...args) {
        const offer = await createOffer.apply(this, args);
        const red = [...offer.sdp.matchAll(/a=rtpmap:(\d+) red\//g)].map((m) => m[1]);
        let sdp = offer.sdp.split('\r\n').filter((l) => !red.some((pt) => l.startsWith(`a=rtpmap:${pt} `) || l.startsWith(`a=fmtp:${pt} `))).join('\r\n');
        sdp = sdp.replace(/^(m=audio \S+ \S+)((?: \d+)+)$/gm, (_, head, pts) => head + pts.split(' ').filter((p) => p && !red.includes(p)).map((p) => ` ${p}`).join(''));
        return { type: offer.type, sdp };
      };
    });
  }
  const page = await context.newPage();
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await signUp(page, INVITE, USERNAME, USERNAME);
  step('signed up');
  await page.getByRole('link', { name: new RegExp(TITLE) }).click({ timeout: 20000 });
  await page.getByRole('heading', { name: TITLE }).waitFor();
  const heard = await hearsWith(page, 440, 'Chromium', step);
  // The candidate pair ICE selected, from the stats of the peer connections the init script kept.
  const path = await page.evaluate(async () => {
    for (const pc of [...(window.__stoaPeers ?? [])].reverse()) {
      const stats = await pc.getStats();
      let pair;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
      if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
      if (!pair) continue;
      const local = stats.get(pair.localCandidateId);
      const remote = stats.get(pair.remoteCandidateId);
      return { candidateType: local.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol ?? null, remoteProtocol: remote.protocol };
    }
    return null;
  });
  // Under loss: the share of samples the browser concealed (played without real data) over a window.
  let concealed = null;
  let red = null;
  const measure = Number(process.env.MEASURE_SECS ?? 0);
  if (measure > 0) {
    const sample = () => page.evaluate(async () => {
      let c = 0, t = 0, red = false;
      for (const pc of window.__stoaPeers ?? []) {
        if (pc.connectionState !== 'connected') continue;
        red ||= (pc.remoteDescription?.sdp ?? '').includes('red/48000');
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'audio') { c += s.concealedSamples ?? 0; t += s.totalSamplesReceived ?? 0; }
        });
      }
      return { c, t, red };
    });
    const a = await sample();
    await new Promise((r) => setTimeout(r, measure * 1000));
    const b = await sample();
    concealed = (b.c - a.c) / Math.max(1, b.t - a.t);
    red = b.red;
    step(`concealed ${(concealed * 100).toFixed(2)} % of samples over ${measure} s (RED ${red})`);
  }
  process.stdout.write(JSON.stringify({ path, db440: heard.db440, origin, concealed, red }) + '\n');
} catch (e) {
  failed = true;
  process.stderr.write(`networks: FAILED: ${e.stack ?? e}\n`);
} finally {
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
