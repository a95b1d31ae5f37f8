// Stoa's service worker: shows web push notifications and opens the page a notification is about.
// The payload is the server's PushPayload: { title, body, link, id, kind }.
// The server writes each notification in its reader's language; this is for a push that came without one.
const SOMETHING = { en: 'Something happened on Stoa.', ru: 'В Stoa что-то произошло.', ar: 'حدث شيء ما على Stoa.' };

self.addEventListener('push', (event) => {
  const lang = (self.navigator.language || 'en').slice(0, 2);
  let data = { title: 'Stoa', body: SOMETHING[lang] ?? SOMETHING.en, link: '/', id: 0, kind: '' };
  try {
    data = { ...data, ...event.data.json() };
  } catch {
    /* a message without a payload still shows the generic text */
  }
  event.waitUntil(
    self.registration.showNotification(data.title, { body: data.body, tag: `stoa-${data.id}`, data: { link: data.link } }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const link = new URL(event.notification.data?.link || '/', self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      for (const w of windows) {
        if (new URL(w.url).origin === self.location.origin && 'navigate' in w) return w.navigate(link).then((c) => c?.focus());
      }
      return self.clients.openWindow(link);
    }),
  );
});
