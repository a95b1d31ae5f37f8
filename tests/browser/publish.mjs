// Publishes a WAV file into a Stoa room from headless Debian Chromium, as a speaker, through a minimal
// page: sign in, open the room's WebSocket, offer one send-only and three receive-only audio m-lines,
// apply the answer, and keep the microphone (Chromium's fake device, fed from the WAV) live.
//
// Usage: node publish.mjs   with env BASE, ROOM, USERNAME, PASSWORD, WAV, SECONDS, and MODE: `slots` (one
// sendonly and three recvonly m-lines, as Stoa's own client does) or `plain` (one sendrecv transceiver
// carrying the microphone, as a typical WebRTC app does).
// Prints one JSON line once media is connected, and another with the packets sent and received before it
// exits after SECONDS.
import { chromium } from 'playwright-core';

const { BASE, ROOM, USERNAME, PASSWORD, WAV } = process.env;
const SECONDS = Number(process.env.SECONDS || '5');
const MODE = process.env.MODE || 'slots';

// The page is served under the server's own origin (by request interception, below), so the session
// cookie from signing in rides on the same-origin WebSocket, as it would for the real web client.
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>publish</title></head>
<body><p id="state">starting</p><script>
window.publish = async (room, username, password, mode) => {
  const state = document.getElementById('state');
  const login = await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }) });
  if (!login.ok) throw new Error('login failed: ' + await login.text());
  const ws = new WebSocket('ws://' + location.host + '/api/v1/rooms/' + room + '/ws');
  const events = [];
  let waiter = null;
  ws.onmessage = (m) => { events.push(JSON.parse(m.data)); if (waiter) waiter(); };
  const next = async (type) => {
    for (;;) {
      const i = events.findIndex((e) => e.type === type || e.type === 'error');
      if (i >= 0) { const e = events.splice(i, 1)[0]; if (e.type === 'error') throw new Error(e.message); return e; }
      await new Promise((r) => { waiter = r; });
    }
  };
  await new Promise((r, j) => { ws.onopen = r; ws.onerror = () => j(new Error('socket failed')); });
  const joined = await next('joined');
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  window.pc = pc;
  // What arrives is played, as a client would (Chromium feeds WebRTC audio to WebAudio only while it plays).
  window.audios = [];
  pc.ontrack = (e) => {
    const a = new Audio();
    a.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    a.play();
    window.audios.push(a);
  };
  if (mode === 'plain') {
    pc.addTrack(mic.getAudioTracks()[0], mic);
  } else {
    pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendonly' });
    for (let i = 0; i < 3; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
  }
  await pc.setLocalDescription(await pc.createOffer());
  ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
  const answer = await next('answer');
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  await new Promise((r, j) => {
    const check = () => {
      state.textContent = pc.connectionState;
      if (pc.connectionState === 'connected') r();
      if (pc.connectionState === 'failed') j(new Error('media connection failed'));
    };
    pc.onconnectionstatechange = check;
    check();
  });
  return { role: joined.role, connection: pc.connectionState };
};
</script></body></html>`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${WAV}`, '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    // The page is fulfilled by interception and so has no address of its own; Chromium would count it as
    // public and block its requests to the loopback server.
    '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests',
  ],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
  await page.route(`${BASE}/__publish`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  await page.goto(`${BASE}/__publish`);
  const result = await page.evaluate(({ room, username, password, mode }) => window.publish(room, username, password, mode),
    { room: ROOM, username: USERNAME, password: PASSWORD, mode: MODE });
  console.log(JSON.stringify(result));
  await page.waitForTimeout(SECONDS * 1000);
  const counts = await page.evaluate(async () => {
    // The loudest frequency heard, through WebAudio.
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 16384;
    for (const a of window.audios) ctx.createMediaStreamSource(a.srcObject).connect(analyser);
    await new Promise((r) => setTimeout(r, 1500));
    const data = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(data);
    let peak = 0;
    for (let i = 1; i < data.length; i++) if (data[i] > data[peak]) peak = i;
    const stats = await window.pc.getStats();
    const out = { sent: 0, received: 0, peakHz: (peak * ctx.sampleRate) / analyser.fftSize, peakDb: data[peak], concealed: 0, samples: 0 };
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp') out.sent += s.packetsSent;
      if (s.type === 'inbound-rtp') {
        out.received += s.packetsReceived;
        out.concealed += s.concealedSamples ?? 0;
        out.samples += s.totalSamplesReceived ?? 0;
      }
    });
    return out;
  });
  console.log(JSON.stringify(counts));
} finally {
  await browser.close();
}
