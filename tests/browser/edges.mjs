// The web client's fallbacks: a microphone the user refuses is explained when they go on stage, a
// browser that blocks autoplay gets "Tap to listen", after which the room is audible, a media offer the
// server refuses as too soon after another is offered again, after which the room is audible, and a media
// connection that keeps failing is made again after pauses that double.
//
// Usage: node edges.mjs   with env STOA_BIN.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { hearsWith, launch, signUp, startServer, wav } from './lib.mjs';

const work = mkdtempSync(join(tmpdir(), 'stoa-edges-'));
const { server, bootstrap, base } = await startServer(work);
const browsers = [];
try {
  // The host's browser grants its (fake, 440 Hz) microphone.
  const hostBrowser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, 'tone.wav'), 440)}`, '--autoplay-policy=no-user-gesture-required']);
  browsers.push(hostBrowser);
  const host = await (await hostBrowser.newContext()).newPage();
  host.on('dialog', (d) => d.accept());
  await signUp(host, bootstrap, 'host', 'Hana Host');
  await host.getByRole('link', { name: 'Invites', exact: true }).click();
  await host.getByRole('button', { name: 'Create invite', exact: true }).click();
  const link = await host.locator('.invite-link').first().textContent();

  // The guest's browser blocks autoplay until a gesture, and refuses the microphone.
  const guestBrowser = await launch(['--use-fake-device-for-media-stream', '--autoplay-policy=document-user-activation-required']);
  browsers.push(guestBrowser);
  const guestContext = await guestBrowser.newContext();
  // Signed up over the API (the context shares the cookie), so no gesture ever happens in a page before the
  // room: nothing has unlocked autoplay.
  const code = link.trim().split('/').pop();
  const signed = await guestContext.request.post(`${base}/api/v1/auth/signup`, { data: { invite: code, username: 'guest', display_name: 'Gus Guest', password: 'guest-password' } });
  assert.equal(signed.status(), 201);
  const guest = await guestContext.newPage();
  // Headless Chromium lets WebRTC streams autoplay whatever its policy flag says, so this page plays the part
  // of a browser that refuses: play() rejects with NotAllowedError until the user has pressed something.
  await guest.addInitScript(() => {
    let gesture = false;
    addEventListener('pointerdown', () => (gesture = true), true);
    addEventListener('keydown', () => (gesture = true), true);
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function () {
      if (!gesture) return Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError'));
      return play.call(this);
    };
  });

  await host.getByRole('link', { name: 'Hallway', exact: true }).click();
  await host.getByRole('button', { name: 'Start a room', exact: true }).click();
  await host.getByLabel('Title').fill('Edge cases');
  await host.getByRole('button', { name: "Let's go", exact: true }).click();
  await host.getByRole('heading', { name: 'Edge cases' }).waitFor();

  // Joining from a direct link, with no gesture in the page yet: autoplay is blocked.
  await guest.goto(`${base}${new URL(host.url()).pathname}`);
  await guest.getByRole('heading', { name: 'Edge cases' }).waitFor();
  const tap = guest.getByRole('button', { name: 'Tap to listen', exact: true });
  await tap.waitFor({ timeout: 20000 });
  await tap.click();
  await tap.waitFor({ state: 'hidden' });
  const playing = await guest.evaluate(() => [...document.querySelectorAll('audio')].some((a) => !a.paused));
  assert.ok(playing, 'after the tap, the room plays');
  process.stderr.write('edges: "Tap to listen" appears when autoplay is blocked, and plays the room\n');

  // The guest is invited on stage; their browser refuses the microphone, and the page says what to do.
  await guest.getByRole('button', { name: 'Raise hand', exact: true }).click();
  await host.getByRole('region', { name: 'Raised hands' }).getByRole('button', { name: 'Invite to speak', exact: true }).click();
  await guest.getByRole('button', { name: 'Join as speaker', exact: true }).click();
  await guest.getByRole('alert').getByText('Stoa needs your microphone').waitFor({ timeout: 20000 });
  process.stderr.write('edges: a refused microphone is explained\n');

  // A listener whose first offer the server refuses as too soon (one a second): the page offers a
  // throwaway description just before its real one, so the real one meets the limit. The client offers
  // again after a pause, and the room becomes audible.
  // A new listener's page, invited by `inviter` and signed up over the API.
  const invitedPage = async (inviter, username, displayName) => {
    const page = await (await hostBrowser.newContext()).newPage();
    const invite = await inviter.context().request.post(`${base}/api/v1/invites`, { headers: { origin: base } });
    assert.equal(invite.status(), 201);
    const signup = await page.context().request.post(`${base}/api/v1/auth/signup`, { data: { invite: (await invite.json()).code, username, display_name: displayName, password: `${username}-password` } });
    assert.equal(signup.status(), 201);
    return page;
  };
  const late = await invitedPage(host, 'late', 'Lee Late');
  await late.addInitScript(() => {
    let first = true;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      if (first && typeof data === 'string' && JSON.parse(data).type === 'offer') {
        first = false;
        send.call(this, JSON.stringify({ type: 'offer', sdp: 'v=0\r\n' }));
      }
      return send.call(this, data);
    };
  });
  await late.goto(`${base}${new URL(host.url()).pathname}`);
  await late.getByRole('heading', { name: 'Edge cases' }).waitFor();
  await hearsWith(late, 440, 'a listener whose first offer was refused as too soon', (line) => process.stderr.write(`edges: ${line}\n`));

  // A listener whose every media connection fails (ICE never connects, as on a network that stays down):
  // the client makes a new one after each failure, but after pauses of 1, 2 and 4 s, not at once.
  // Invited by the listener before (the host has used the invites a new account gets).
  const down = await invitedPage(late, 'down', 'Dana Down');
  await down.addInitScript(() => {
    // Each peer connection the page makes reports "failed" 300 ms after it is made, and nothing else.
    const Native = window.RTCPeerConnection;
    window.__stoaMade = [];
    const Failing = function (...args) {
      const pc = new Native(...args);
      window.__stoaMade.push(performance.now());
      let handler = null;
      let state = 'new';
      Object.defineProperty(pc, 'onconnectionstatechange', { get: () => handler, set: (h) => { handler = h; } });
      Object.defineProperty(pc, 'connectionState', { get: () => state });
      setTimeout(() => { state = 'failed'; handler?.(new Event('connectionstatechange')); }, 300);
      return pc;
    };
    Failing.prototype = Native.prototype;
    window.RTCPeerConnection = Failing;
  });
  await down.goto(`${base}${new URL(host.url()).pathname}`);
  await down.getByRole('heading', { name: 'Edge cases' }).waitFor();
  await down.waitForFunction(() => window.__stoaMade.length >= 4, undefined, { timeout: 30000 });
  const made = await down.evaluate(() => window.__stoaMade);
  const gaps = made.slice(1, 4).map((t, i) => t - made[i]);
  process.stderr.write(`edges: a failing media connection was made again after ${gaps.map((g) => Math.round(g)).join(', ')} ms\n`);
  // 300 ms to fail, then 1, 2 and 4 s: each gap at least its pause, and each longer than the one before.
  assert.ok(gaps[0] >= 1000 && gaps[1] >= 2000 && gaps[2] >= 4000, `the pauses double: ${gaps}`);
  console.log('edges: 1 passed, 0 failed');
} finally {
  for (const b of browsers) await b.close().catch(() => undefined);
  server.kill();
  rmSync(work, { recursive: true, force: true });
}
