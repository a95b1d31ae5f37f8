// The journey of issue 10 in two real Chromium browsers: the host schedules an event; a second user, who
// follows the host, opens the event's page and asks to be notified, turns on push (the service worker, the
// permission and the subscription as far as this machine allows; a push message delivered to the worker
// through DevTools shows a notification); the host starts the event; the second user's bell counts it live
// and one click on the notification takes them into the room, where they hear the host's 440 Hz; search
// finds the host by part of a name; the host pings the second user, whose bell shows it. Every new screen
// gets an axe-core check.
//
// Usage: node events.mjs   with env STOA_BIN (the stoa binary) and OUT (a folder for screenshots).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { axeClean, hearsWith, launch, signUp, startServer, wav } from './lib.mjs';

const OUT = process.env.OUT ?? 'screenshots';
mkdirSync(OUT, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stoa-events-'));
const step = (s) => process.stderr.write(`events: ${s}\n`);

const { server, bootstrap, base } = await startServer(work);
step(`server at ${base}`);
const browsers = [];

async function browserWith(hz, viewport) {
  const b = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav(join(work, `tone-${hz}.wav`), hz)}`, '--autoplay-policy=no-user-gesture-required']);
  browsers.push(b);
  const context = await b.newContext({ viewport, bypassCSP: true });
  await context.grantPermissions(['notifications', 'microphone'], { origin: base });
  const page = await context.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  return { page, context };
}

const axe = (page, screen) => axeClean(page, screen, step);


try {
  const { page: host } = await browserWith(440, { width: 1280, height: 900 });
  const { page: fan, context: fanContext } = await browserWith(660, { width: 390, height: 844 });

  await signUp(host, bootstrap, 'hostess', 'Henrietta Host');
  await host.getByRole('link', { name: 'Invites', exact: true }).click();
  await host.getByRole('button', { name: 'Create invite', exact: true }).click();
  const link = await host.locator('.invite-link').first().textContent();
  await signUp(fan, link, 'fan', 'Fran Fan');
  step('both signed up');

  // Search finds the host by part of her name; the fan follows her from her profile.
  await fan.getByLabel('Search people, rooms and events').fill('henri');
  await fan.getByLabel('Search people, rooms and events').press('Enter');
  await fan.getByRole('heading', { name: /Results for/ }).waitFor();
  await axe(fan, 'search results');
  await fan.getByRole('link', { name: 'Henrietta Host' }).click();
  await fan.getByRole('button', { name: 'Follow', exact: true }).click();
  await fan.getByRole('button', { name: 'Unfollow', exact: true }).waitFor();
  step('search found the host by part of her name; the fan follows her');

  // The host schedules an event for tomorrow from the hallway.
  await host.getByRole('link', { name: 'Hallway', exact: true }).click();
  await host.getByRole('button', { name: 'Schedule an event', exact: true }).click();
  await axe(host, 'schedule an event');
  await host.getByLabel('Title').fill('Tones at dawn');
  await host.getByLabel('Description').fill('A conversation in A, 440 Hz.');
  await host.getByRole('button', { name: 'Schedule', exact: true }).click();
  await host.getByRole('heading', { name: 'Tones at dawn' }).waitFor();
  const eventUrl = host.url();
  assert.match(eventUrl, /\/event\/[a-z0-9]{12}$/);
  await axe(host, 'event page (host)');
  step(`event scheduled at ${eventUrl}`);

  // The fan opens the shared link and asks to be notified.
  await fan.goto(eventUrl);
  await fan.getByRole('heading', { name: 'Tones at dawn' }).waitFor();
  await fan.getByText('Hosted by').waitFor();
  await fan.getByRole('button', { name: 'Notify me', exact: true }).click();
  await fan.getByRole('button', { name: 'Don’t notify me', exact: true }).waitFor();
  await axe(fan, 'event page (guest)');
  await host.reload();
  await host.getByRole('heading', { name: '1 to be notified' }).waitFor();
  await host.getByRole('link', { name: 'Fran Fan' }).waitFor();
  step('the fan RSVPed; the host sees the count and the list');

  // Push: the fan turns it on from the bell. The service worker registers and the permission is granted;
  // the browser's own push service cannot be reached from this machine, so the subscription stops there
  // with an explanation. A push message handed to the worker through DevTools shows a notification.
  await fan.getByRole('button', { name: /^Notifications/ }).click();
  await axe(fan, 'bell (empty)');
  await fan.getByRole('button', { name: 'Turn on push notifications', exact: true }).click();
  const pushOutcome = await Promise.race([
    fan.getByText('Push notifications are on in this browser.').waitFor({ timeout: 30000 }).then(() => 'subscribed'),
    fan.getByRole('alert').waitFor({ timeout: 30000 }).then(async () => fan.getByRole('alert').textContent()),
  ]);
  step(`push opt-in: ${pushOutcome}`);
  const registration = await fan.evaluate(async () => {
    const r = await navigator.serviceWorker.getRegistration('/');
    return { scope: r?.scope, active: r?.active?.state, permission: Notification.permission };
  });
  assert.equal(registration.scope, `${base}/`);
  assert.equal(registration.active, 'activated');
  assert.equal(registration.permission, 'granted');
  const cdp = await fanContext.newCDPSession(fan);
  const registrations = new Promise((resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    const r = e.registrations.find((x) => x.scopeURL === `${base}/` && !x.isDeleted);
    if (r) resolve(r.registrationId);
  }));
  await cdp.send('ServiceWorker.enable');
  const registrationId = await registrations;
  // The worker may have to start first, on two busy cores, and a message handed over while it starts can be
  // lost (seen once in CI): it is handed over again every 10 s, up to three times, and the notification it
  // shows is awaited in between.
  let shown = [];
  for (let attempt = 0; attempt < 3 && shown.length === 0; attempt++) {
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: base, registrationId,
      data: JSON.stringify({ title: 'Stoa', body: 'Henrietta Host pinged you to join Tones at dawn', link: '/', id: 1, kind: 'pinged' }),
    });
    for (const deadline = Date.now() + 10000; Date.now() < deadline && shown.length === 0;) {
      shown = await fan.evaluate(async () => (await (await navigator.serviceWorker.getRegistration('/')).getNotifications()).map((n) => n.body));
      if (shown.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
  }
  // One notification, however many times the message was handed over: the worker tags it by its id.
  assert.deepEqual([...new Set(shown)], ['Henrietta Host pinged you to join Tones at dawn']);
  step('the service worker shows a pushed notification');
  await fan.getByRole('region', { name: 'Notifications' }).getByRole('button', { name: 'Close', exact: true }).click();

  // The host starts the event; the fan's bell counts it, live, and one click takes the fan in.
  await fan.goto(`${base}/`);
  await fan.getByRole('heading', { name: 'Hallway' }).waitFor();
  await host.getByRole('button', { name: 'Start the room', exact: true }).click();
  await host.getByRole('heading', { name: 'Tones at dawn' }).waitFor();
  await host.getByRole('button', { name: /Henrietta Host/ }).waitFor();
  step('the host started the room');
  await fan.getByRole('button', { name: 'Notifications, 1 unread' }).waitFor({ timeout: 15000 });
  await fan.getByRole('button', { name: 'Notifications, 1 unread' }).click();
  await axe(fan, 'bell (one unread)');
  await fan.getByRole('link', { name: /Tones at dawn has started/ }).click();
  await fan.getByRole('heading', { name: 'Tones at dawn' }).waitFor();
  assert.match(fan.url(), /\/room\/[a-z0-9]{12}$/);
  await hearsWith(fan, 440, 'the fan, from the notification', step);
  await fan.getByRole('button', { name: 'Notifications', exact: true }).waitFor();
  step('one click on the notification took the fan into the room; the bell is read');

  // The host pings the fan, who follows her; the fan's bell shows it.
  await host.getByRole('button', { name: 'Ping followers into the room' }).click();
  await axe(host, 'ping followers');
  await host.getByRole('dialog').getByRole('button', { name: 'Ping', exact: true }).click();
  await host.getByRole('dialog').getByText('Pinged').waitFor();
  await host.getByRole('button', { name: 'Done', exact: true }).click();
  await fan.getByRole('button', { name: 'Notifications, 1 unread' }).waitFor({ timeout: 15000 });
  await fan.getByRole('button', { name: 'Notifications, 1 unread' }).click();
  await fan.getByRole('link', { name: /Henrietta Host pinged you to join Tones at dawn/ }).waitFor();
  step('the ping arrived');
  await fan.screenshot({ path: join(OUT, 'bell-phone.png') });
  await fan.getByRole('region', { name: 'Notifications' }).getByRole('button', { name: 'Close', exact: true }).click();

  // Chat between the speaking host and the listening fan; the host deletes a message and it disappears
  // for both. Reactions arrive as counts.
  await fan.getByRole('button', { name: 'Chat', exact: true }).click();
  await fan.getByLabel('Message').fill('Hello from the audience, see https://example.org');
  await fan.getByRole('button', { name: 'Send', exact: true }).click();
  await fan.getByRole('region', { name: 'Chat' }).getByRole('link', { name: 'https://example.org' }).waitFor();
  await axe(fan, 'chat sheet (phone)');
  await fan.screenshot({ path: join(OUT, 'chat-phone.png') });
  await host.getByRole('button', { name: /^Chat/ }).click();
  await host.getByRole('region', { name: 'Chat' }).getByText('Hello from the audience').waitFor();
  await axe(host, 'chat sheet (moderator)');
  await host.getByRole('button', { name: "Delete Fran Fan's message" }).click();
  await host.getByRole('region', { name: 'Chat' }).getByText('Hello from the audience').waitFor({ state: 'detached' });
  await fan.getByRole('region', { name: 'Chat' }).getByText('Hello from the audience').waitFor({ state: 'detached' });
  step('chat: sent, seen, deleted for both');
  await fan.getByRole('button', { name: 'Applause', exact: true }).click();
  await fan.getByRole('button', { name: 'Applause', exact: true }).click();
  await host.locator('.reaction-burst').getByText('×2').waitFor({ timeout: 5000 });
  step('reactions: two applause counted as one burst of 2');

  // A signed-out visitor opens the room's share link: the title and stage, and "Sign in to listen".
  const roomUrl = host.url();
  const anon = await (await host.context().browser().newContext({ bypassCSP: true })).newPage();
  await anon.goto(roomUrl);
  await anon.getByRole('heading', { name: 'Tones at dawn' }).waitFor();
  await anon.getByText('Henrietta Host').waitFor();
  await anon.getByRole('button', { name: 'Sign in to listen', exact: true }).waitFor();
  await axe(anon, 'shared room, signed out');
  await anon.getByRole('button', { name: 'Sign in to listen', exact: true }).click();
  await anon.getByRole('heading', { name: 'Welcome back' }).waitFor();
  step('a signed-out visitor sees the shared room and is asked to sign in');

  // The host's own profile: the event she hosts, and the notification and calendar settings.
  await host.goto(`${base}/u/hostess`);
  await host.getByRole('heading', { name: 'Notifications and calendar' }).waitFor();
  await host.getByRole('button', { name: 'Get calendar address', exact: true }).click();
  await host.getByText(/\/cal\/.+\.ics/).waitFor();
  await axe(host, 'profile with settings');
  step('done');
} finally {
  for (const b of browsers) await b.close().catch(() => undefined);
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
