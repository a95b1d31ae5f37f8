// Finding and being found: scheduled events and their pages, the bell (live over Server-Sent Events, with
// web push), search, suggestions, pings, and the profile's avatar, links, calendar feed and push settings.
import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError, del, get, patch, post, put } from './api';
import { Avatar, ErrorNote, Field, Link, Modal, message, navigate } from './ui';
import type {
  CalendarFeed,
  EventInfo,
  EventList,
  Me,
  Message,
  Notification,
  Preview,
  NotificationPage,
  NotificationUpdate,
  PushSettings,
  RoomInfo,
  RsvpPage,
  SearchResults,
  Suggestions,
  UserPage,
  Visibility,
} from './wire';
import { dateTime, errorText, list, num, t, tx } from './i18n';

// ---------- time ----------

/** An event's start in the viewer's own time zone, with the zone named. */
export function when(iso: string): string {
  return dateTime(iso, {
    weekday: 'short',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  });
}

/** A `datetime-local` value (the viewer's zone) for a Date. */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const stateLabel = (state: EventInfo['state']) => t(`event.state.${state}`);

const usernames = (text: string) => text.split(/[\s,]+/).map((n) => n.replace(/^@/, '')).filter(Boolean);

// ---------- events ----------

export function ScheduleEvent({ onClose }: { onClose: () => void }) {
  const soon = new Date(Date.now() + 24 * 3600 * 1000);
  soon.setMinutes(0, 0, 0);
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [start, setStart] = useState(localInput(soon));
  const [visibility, setVisibility] = useState<Visibility>('open');
  const [cohosts, setCohosts] = useState('');
  const [invited, setInvited] = useState('');
  const [error, setError] = useState<string>();
  return (
    <Modal title={t('event.schedule')} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const at = new Date(start);
            if (Number.isNaN(at.getTime())) throw new ApiError(400, 'invalid_start', t('event.pick_time'));
            const ev = await post<EventInfo>('/events', {
              title,
              description,
              starts_at: at.toISOString(),
              visibility,
              cohosts: usernames(cohosts),
              invited: visibility === 'closed' ? usernames(invited) : [],
            });
            onClose();
            navigate(`/event/${ev.id}`);
          } catch (err) {
            setError(message(err));
          }
        }}
      >
        <Field label={t('start.title')} value={title} onInput={setTitle} required />
        <div class="field">
          <label for="f-description">{t('event.description')}</label>
          <textarea id="f-description" rows={3} maxLength={1000} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
        </div>
        <Field label={t('event.starts')} type="datetime-local" value={start} onInput={setStart} required hint={t('event.starts_hint', { zone: Intl.DateTimeFormat().resolvedOptions().timeZone })} />
        <div class="field">
          <label for="f-event-visibility">{t('event.who_sees')}</label>
          <select id="f-event-visibility" value={visibility} onChange={(e) => setVisibility((e.target as HTMLSelectElement).value as Visibility)}>
            <option value="open">{t('event.visibility.open')}</option>
            <option value="social">{t('event.visibility.social')}</option>
            <option value="closed">{t('event.visibility.closed')}</option>
          </select>
        </div>
        <Field label={t('event.cohosts')} value={cohosts} onInput={setCohosts} hint={t('event.cohosts_hint')} />
        {visibility === 'closed' && <Field label={t('start.invited')} value={invited} onInput={setInvited} hint={t('start.invited_hint')} />}
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>{t('common.cancel')}</button>
          <button class="primary" type="submit">{t('event.schedule_button')}</button>
        </div>
      </form>
    </Modal>
  );
}

function EventCard({ ev }: { ev: EventInfo }) {
  return (
    <li>
      <Link href={`/event/${ev.id}`} class="room-card event-card">
        <span class="event-when">{ev.state === 'scheduled' ? when(ev.starts_at) : stateLabel(ev.state)}</span>
        <span class="room-title">{ev.title}</span>
        <span class="room-count">
          {list(ev.hosts.filter((h) => h.accepted).map((h) => h.user.display_name))}
          {ev.you_rsvped ? ` · ${t('event.notified')}` : ''}
        </span>
      </Link>
    </li>
  );
}

export function Upcoming() {
  const [events, setEvents] = useState<EventInfo[]>();
  const [scheduling, setScheduling] = useState(false);
  useEffect(() => {
    get<EventList>('/events').then((l) => setEvents(l.events), () => setEvents([]));
  }, []);
  return (
    <section aria-labelledby="upcoming-h" class="upcoming">
      <div class="bar">
        <h2 id="upcoming-h">{t('event.state.scheduled')}</h2>
        <button onClick={() => setScheduling(true)}>{t('event.schedule')}</button>
      </div>
      {events?.length === 0 && <p class="muted">{t('event.nothing')}</p>}
      <ul class="rooms" aria-label={t('event.upcoming_events')}>
        {events?.map((ev) => <EventCard key={ev.id} ev={ev} />)}
      </ul>
      {scheduling && <ScheduleEvent onClose={() => setScheduling(false)} />}
    </section>
  );
}

export function EventPage({ id }: { id: string }) {
  const [ev, setEv] = useState<EventInfo>();
  const [error, setError] = useState<string>();
  const [rsvps, setRsvps] = useState<RsvpPage>();
  const [copied, setCopied] = useState(false);
  const load = () => get<EventInfo>(`/events/${id}`).then((e) => { setEv(e); setError(undefined); }, (e) => setError(message(e)));
  useEffect(() => {
    void load();
    // The page follows the event: it goes live, ends, is edited.
    const timer = window.setInterval(load, 5000);
    return () => window.clearInterval(timer);
  }, [id]);
  useEffect(() => {
    if (ev?.you_host) get<RsvpPage>(`/events/${id}/rsvps?limit=50`).then(setRsvps, () => undefined);
  }, [id, ev?.you_host, ev?.rsvp_count]);
  if (!ev) return <main class="narrow" id="main"><h1>{t('event.event')}</h1>{error ? <ErrorNote message={error} /> : <p class="muted">{t('common.loading')}</p>}</main>;
  const act = async (f: () => Promise<unknown>) => {
    try {
      const out = await f();
      if (out && typeof out === 'object' && 'title' in out && 'stage' in out) {
        navigate(`/room/${(out as RoomInfo).id}`);
        return;
      }
      if (out && typeof out === 'object' && 'state' in out) setEv(out as EventInfo);
      else await load();
      setError(undefined);
    } catch (e) {
      setError(message(e));
    }
  };
  const hosts = ev.hosts.filter((h) => h.accepted);
  return (
    <main class="narrow" id="main">
      <p class={`event-state state-${ev.state}`}>{stateLabel(ev.state)}</p>
      <h1>{ev.title}</h1>
      <p class="lede"><time dateTime={ev.starts_at}>{when(ev.starts_at)}</time></p>
      {ev.description && <p class="bio">{ev.description}</p>}
      <p>
        {tx('event.hosted_by', {
          hosts: <>{hosts.map((h, i) => <span key={h.user.id}>{i > 0 ? t('common.list_sep') : ''}<Link href={`/u/${h.user.username}`}>{h.user.display_name}</Link></span>)}</>,
        })}
      </p>
      {ev.state === 'live' && ev.room_id && (
        <button class="primary wide" onClick={() => navigate(`/room/${ev.room_id}`)}>{t('event.join')}</button>
      )}
      <div class="actions left">
        {ev.state === 'scheduled' && !ev.you_host && (ev.you_rsvped
          ? <button onClick={() => act(() => del(`/events/${id}/rsvp`))}>{t('event.dont_notify')}</button>
          : <button class="primary" onClick={() => act(() => post(`/events/${id}/rsvp`))}>{t('event.notify')}</button>)}
        {ev.you_host && ev.state === 'scheduled' && (
          <button class="primary" onClick={() => act(() => post<RoomInfo>(`/events/${id}/start`))}>{t('event.start')}</button>
        )}
        <button onClick={async () => setCopied((await shareLink(ev.url, ev.title)) === 'copied')}>{copied ? t('share.copied') : t('share.share')}</button>
        <a class="button" href={`/api/v1/events/${id}/calendar.ics`} download>{t('event.add_to_calendar')}</a>
      </div>
      {ev.you_are_asked && (
        <div class="panel">
          <p>{t('event.asked')}</p>
          <div class="actions left">
            <button onClick={() => act(() => del(`/events/${id}/cohost`))}>{t('messages.decline')}</button>
            <button class="primary" onClick={() => act(() => post(`/events/${id}/cohost`))}>{t('event.cohost')}</button>
          </div>
        </div>
      )}
      {ev.you_host && (
        <section class="panel" aria-labelledby="rsvps-h">
          <h2 id="rsvps-h" class="section">{t('event.rsvps', { count: ev.rsvp_count ?? 0 })}</h2>
          {ev.hosts.some((h) => !h.accepted) && (
            <p class="muted">{t('event.waiting_for', { names: list(ev.hosts.filter((h) => !h.accepted).map((h) => h.user.display_name)) })}</p>
          )}
          <ul class="hands">
            {rsvps?.users.map((u) => (
              <li key={u.id}><Avatar user={u} size="sm" /> <Link href={`/u/${u.username}`}>{u.display_name}</Link></li>
            ))}
          </ul>
          {rsvps?.next_cursor != null && (
            <button onClick={async () => {
              const next = await get<RsvpPage>(`/events/${id}/rsvps?limit=50&cursor=${rsvps.next_cursor}`);
              setRsvps({ ...next, users: [...rsvps.users, ...next.users] });
            }}>{t('common.show_more')}</button>
          )}
          {ev.state === 'scheduled' && (
            <div class="actions left">
              <EditEvent ev={ev} onSaved={setEv} />
              <button class="danger" onClick={() => { if (confirm(t('event.cancel_confirm'))) void act(() => del(`/events/${id}`)); }}>{t('event.cancel')}</button>
            </div>
          )}
        </section>
      )}
      <ErrorNote message={error} />
    </main>
  );
}

function EditEvent({ ev, onSaved }: { ev: EventInfo; onSaved: (e: EventInfo) => void }) {
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState(ev.title);
  const [description, setDescription] = useState(ev.description);
  const [start, setStart] = useState(localInput(new Date(ev.starts_at)));
  const [error, setError] = useState<string>();
  if (!open) return <button onClick={() => setOpen(true)}>{t('common.edit')}</button>;
  return (
    <Modal title={t('event.edit')} onClose={() => setOpen(false)}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          onSaved(await patch<EventInfo>(`/events/${ev.id}`, { title, description, starts_at: new Date(start).toISOString() }));
          setOpen(false);
        } catch (err) {
          setError(message(err));
        }
      }}>
        <Field label={t('start.title')} value={title} onInput={setTitle} required />
        <div class="field">
          <label for="f-edit-description">{t('event.description')}</label>
          <textarea id="f-edit-description" rows={3} maxLength={1000} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
        </div>
        <Field label={t('event.starts')} type="datetime-local" value={start} onInput={setStart} required />
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={() => setOpen(false)}>{t('common.cancel')}</button>
          <button class="primary" type="submit">{t('event.save_notify')}</button>
        </div>
      </form>
    </Modal>
  );
}

// ---------- suggestions and search ----------

export function SuggestedPeople() {
  const [s, setS] = useState<Suggestions>();
  const [followed, setFollowed] = useState<Set<number>>(new Set());
  useEffect(() => {
    get<Suggestions>('/suggestions').then(setS, () => undefined);
  }, []);
  if (!s || s.people.length === 0) return null;
  return (
    <section aria-labelledby="suggest-h" class="panel">
      <h2 id="suggest-h" class="section">{t('suggest.title')}</h2>
      <ul class="hands">
        {s.people.map((p) => (
          <li key={p.user.id}>
            <Avatar user={p.user} size="sm" />
            <span><Link href={`/u/${p.user.username}`}>{p.user.display_name}</Link> <span class="muted">{p.invited_you ? t('suggest.invited_you') : t('club.followers_n', { count: p.followers })}</span></span>
            {followed.has(p.user.id)
              ? <span class="muted">{t('suggest.following')}</span>
              : <button onClick={async () => { await post(`/users/${p.user.username}/follow`).catch(() => undefined); setFollowed(new Set([...followed, p.user.id])); }}>{t('profile.follow')}</button>}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function SearchBox() {
  const [q, setQ] = useState('');
  return (
    <form role="search" class="search" onSubmit={(e) => { e.preventDefault(); if (q.trim()) navigate(`/search?q=${encodeURIComponent(q.trim())}`); }}>
      <label for="f-search" class="visually-hidden">{t('search.label')}</label>
      <input id="f-search" type="search" placeholder={t('search.placeholder')} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
    </form>
  );
}

export function SearchPage() {
  const q = new URLSearchParams(location.search).get('q') ?? '';
  const [r, setR] = useState<SearchResults>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!q) return;
    get<SearchResults>(`/search?q=${encodeURIComponent(q)}`).then((res) => { setR(res); setError(undefined); }, (e) => setError(message(e)));
  }, [q]);
  const none = r && r.people.length + r.rooms.length + r.events.length + r.clubs.length + r.replays.length === 0;
  return (
    <main class="narrow" id="main">
      <h1>{t('search.results', { q })}</h1>
      <ErrorNote message={error} />
      {none && <p class="empty">{t('search.none')}</p>}
      {r && r.people.length > 0 && (
        <section aria-labelledby="people-h">
          <h2 id="people-h" class="section">{t('admin.people')}</h2>
          <ul class="hands">
            {r.people.map((u) => <li key={u.id}><Avatar user={u} size="sm" /> <Link href={`/u/${u.username}`}>{u.display_name}</Link> <span class="muted">@{u.username}</span></li>)}
          </ul>
        </section>
      )}
      {r && r.rooms.length > 0 && (
        <section aria-labelledby="rooms-h">
          <h2 id="rooms-h" class="section">{t('hallway.live_rooms')}</h2>
          <ul class="rooms">
            {r.rooms.map((room) => <li key={room.id}><Link href={`/room/${room.id}`} class="room-card"><span class="room-title">{room.title}</span><span class="room-count">{t('room.listening', { count: room.listener_count })}</span></Link></li>)}
          </ul>
        </section>
      )}
      {r && r.clubs.length > 0 && (
        <section aria-labelledby="clubs-h">
          <h2 id="clubs-h" class="section">{t('nav.clubs')}</h2>
          <ul class="hands">
            {r.clubs.map((c) => <li key={c.handle}><Avatar user={{ id: 0, username: c.handle, display_name: c.name }} size="sm" src={c.avatar} /> <Link href={`/c/${c.handle}`}>{c.name}</Link> <span class="muted">{t('club.members_n', { count: c.members })}</span></li>)}
          </ul>
        </section>
      )}
      {r && r.replays.length > 0 && (
        <section aria-labelledby="replays-h">
          <h2 id="replays-h" class="section">{t('recordings.replays')}</h2>
          <ul class="rooms">
            {r.replays.map((m) => (
              <li key={m.recording.id}>
                <Link href={`/r/${m.recording.id}`} class="room-card">
                  <span class="room-title">{m.recording.title}</span>
                  <span class="room-count">{tx('captions.line', { name: m.line.speaker.display_name, text: <q>{m.line.text}</q> })}</span>
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
      {r && r.events.length > 0 && (
        <section aria-labelledby="events-h">
          <h2 id="events-h" class="section">{t('search.events')}</h2>
          <ul class="rooms">{r.events.map((ev) => <EventCard key={ev.id} ev={ev} />)}</ul>
        </section>
      )}
    </main>
  );
}

// ---------- the bell ----------

export function Bell() {
  const [unread, setUnread] = useState(0);
  const [open, setOpen] = useState(false);
  const [page, setPage] = useState<NotificationPage>();
  useEffect(() => {
    // One stream per signed-in tab; EventSource reconnects by itself after a drop or a restart.
    const source = new EventSource('/api/v1/notifications/stream');
    source.addEventListener('update', (e) => {
      const update = JSON.parse((e as MessageEvent<string>).data) as NotificationUpdate;
      setUnread(update.unread);
      // The backchannel's counts, for the Messages link and any open conversation.
      window.dispatchEvent(new CustomEvent('stoa:inbox', { detail: update.messages }));
    });
    // Each private message sent or deleted in this person's conversations, for an open one to show.
    source.addEventListener('message', (e) => {
      window.dispatchEvent(new CustomEvent('stoa:message', { detail: JSON.parse((e as MessageEvent<string>).data) as Message }));
    });
    return () => source.close();
  }, []);
  useEffect(() => {
    if (open) get<NotificationPage>('/notifications?limit=30').then(setPage, () => undefined);
  }, [open, unread]);
  const go = async (n: Notification) => {
    setOpen(false);
    if (!n.read) await post('/notifications/read', { ids: [n.id] }).catch(() => undefined);
    navigate(n.link);
  };
  return (
    <div class="bell" onKeyDown={(e) => { if (e.key === 'Escape') setOpen(false); }}>
      <button class="bell-button" aria-expanded={open} aria-controls="bell-panel" onClick={() => setOpen(!open)}
        aria-label={unread > 0 ? t('bell.unread', { count: unread }) : t('bell.title')}>
        <svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
          <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
          <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
        </svg>
        {unread > 0 && <span class="bell-count" aria-hidden="true">{unread > 99 ? `${num(99)}+` : num(unread)}</span>}
      </button>
      {open && (
        <div id="bell-panel" class="bell-panel" role="region" aria-label={t('bell.title')}>
          <div class="bar">
            <h2 class="section">{t('bell.title')}</h2>
            {unread > 0 && <button class="link" onClick={() => void post('/notifications/read', {})}>{t('bell.mark_all')}</button>}
            <button class="link" onClick={() => setOpen(false)}>{t('common.close')}</button>
          </div>
          {page?.notifications.length === 0 && <p class="muted">{t('bell.empty')}</p>}
          <ul class="notifications">
            {page?.notifications.map((n) => (
              <li key={n.id} class={n.read ? '' : 'unread'}>
                <a href={n.link} onClick={(e) => { e.preventDefault(); void go(n); }}>
                  <span>{t(`notify.${n.kind}`, { name: n.actor?.display_name ?? t('captions.someone'), title: n.title })}</span>
                  <time class="muted" dateTime={n.created_at}>{dateTime(n.created_at, { hour: 'numeric', minute: '2-digit', month: 'short', day: 'numeric' })}</time>
                </a>
              </li>
            ))}
          </ul>
          <PushOptIn />
        </div>
      )}
    </div>
  );
}

function base64Url(s: string): ArrayBuffer {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer as ArrayBuffer;
}

/** Turns web push on for this browser: the service worker, the permission, the subscription. */
export async function enablePush(): Promise<void> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    throw new ApiError(0, 'unsupported', t('push.unsupported'));
  }
  const settings = await get<PushSettings>('/push/settings');
  const registration = await navigator.serviceWorker.register('/sw.js');
  await navigator.serviceWorker.ready;
  if ((await Notification.requestPermission()) !== 'granted') {
    throw new ApiError(0, 'denied', t('push.denied'));
  }
  let subscription;
  try {
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64Url(settings.vapid_public_key) });
  } catch {
    throw new ApiError(0, 'push_service', t('push.service'));
  }
  await post('/push/subscriptions', subscription.toJSON());
}

function PushOptIn() {
  const [state, setState] = useState<'idle' | 'on' | string>('idle');
  useEffect(() => {
    // On only if this browser holds a subscription: a granted permission alone pushes nothing.
    navigator.serviceWorker?.getRegistration('/')
      .then((r) => r?.pushManager.getSubscription())
      .then((sub) => { if (sub) setState('on'); }, () => undefined);
  }, []);
  if (state === 'on') return <p class="muted">{t('push.on')}</p>;
  return (
    <div>
      <button onClick={async () => {
        try {
          await enablePush();
          setState('on');
        } catch (e) {
          setState(message(e));
        }
      }}>{t('push.turn_on')}</button>
      {state !== 'idle' && <p class="error" role="alert">{state}</p>}
    </div>
  );
}

// ---------- pings ----------

export function PingFollowers({ roomId, me, onClose }: { roomId: string; me: Me; onClose: () => void }) {
  const [followers, setFollowers] = useState<UserPage>();
  const [sent, setSent] = useState<Set<number>>(new Set());
  const [error, setError] = useState<string>();
  useEffect(() => {
    get<UserPage>(`/users/${me.username}/followers?limit=100`).then(setFollowers, (e) => setError(message(e)));
  }, []);
  return (
    <Modal title={t('ping.title')} onClose={onClose}>
      <p class="muted">{t('ping.about')}</p>
      {followers?.users.length === 0 && <p class="muted">{t('ping.nobody')}</p>}
      <ul class="hands">
        {followers?.users.map((u) => (
          <li key={u.id}>
            <Avatar user={u} size="sm" /> <span>{u.display_name}</span>
            {sent.has(u.id)
              ? <span class="muted">{t('ping.pinged')}</span>
              : <button onClick={async () => {
                  try {
                    await post(`/rooms/${roomId}/ping`, { username: u.username });
                    setSent(new Set([...sent, u.id]));
                    setError(undefined);
                  } catch (e) {
                    setError(message(e));
                  }
                }}>{t('ping.ping')}</button>}
          </li>
        ))}
      </ul>
      <ErrorNote message={error} />
      <div class="actions"><button onClick={onClose}>{t('common.done')}</button></div>
    </Modal>
  );
}

// ---------- profile extras ----------

export function HostedEvents({ username }: { username: string }) {
  const [events, setEvents] = useState<EventInfo[]>();
  useEffect(() => {
    get<EventList>(`/users/${username}/events`).then((l) => setEvents(l.events), () => setEvents([]));
  }, [username]);
  if (!events || events.length === 0) return null;
  return (
    <section aria-labelledby="hosts-h">
      <h2 id="hosts-h" class="section">{t('profile.hosting')}</h2>
      <ul class="rooms">{events.map((ev) => <EventCard key={ev.id} ev={ev} />)}</ul>
    </section>
  );
}

export function AvatarUpload({ onMe }: { onMe: (m: Me) => void }) {
  const [error, setError] = useState<string>();
  return (
    <div class="field">
      <label for="f-avatar">{t('profile.photo')}</label>
      <input id="f-avatar" type="file" accept="image/png,image/jpeg,image/webp,image/gif" onChange={async (e) => {
        const file = (e.target as HTMLInputElement).files?.[0];
        if (!file) return;
        const res = await fetch('/api/v1/me/avatar', { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
        const data = await res.json().catch(() => undefined);
        if (res.ok) {
          onMe(data as Me);
          setError(undefined);
        } else {
          setError(data?.error ? errorText(data.error.code, data.error.message) : t('profile.photo_failed'));
        }
      }} />
      <ErrorNote message={error} />
    </div>
  );
}

export function Settings() {
  const [push, setPush] = useState<PushSettings>();
  const [feed, setFeed] = useState<CalendarFeed>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    get<PushSettings>('/push/settings').then(setPush, (e) => setError(message(e)));
  }, []);
  return (
    <section class="panel" aria-labelledby="settings-h">
      <h2 id="settings-h" class="section">{t('push.settings')}</h2>
      {push && (
        <fieldset class="choices">
          <legend>{t('push.legend', { count: push.subscriptions })}</legend>
          {push.kinds.map((k) => (
            <label key={k.kind} class="choice">
              <input type="checkbox" checked={k.push} onChange={async (e) => {
                try {
                  setPush(await put<PushSettings>('/push/settings', { kinds: [{ kind: k.kind, push: (e.target as HTMLInputElement).checked }] }));
                } catch (err) {
                  setError(message(err));
                }
              }} />
              <span>{t(`push.kind.${k.kind}`)}</span>
            </label>
          ))}
        </fieldset>
      )}
      <p class="muted">{t('calendar.about')}</p>
      {feed && <p><code class="invite-link">{feed.url}</code> <a href={feed.webcal_url}>{t('calendar.open')}</a></p>}
      <div class="actions left">
        <button onClick={async () => { try { setFeed(await post<CalendarFeed>('/me/calendar')); } catch (e) { setError(message(e)); } }}>{feed ? t('calendar.new') : t('calendar.get')}</button>
        <button onClick={async () => { await del('/me/calendar').catch(() => undefined); setFeed(undefined); }}>{t('calendar.revoke')}</button>
      </div>
      <ErrorNote message={error} />
    </section>
  );
}

// ---------- sharing ----------

/** Shares a link: the system's share sheet on phones (the Web Share API), else the clipboard. */
export async function shareLink(url: string, title: string): Promise<'shared' | 'copied'> {
  const phone = window.matchMedia?.('(pointer: coarse)').matches;
  if (phone && typeof navigator.share === 'function') {
    await navigator.share({ title, url }).catch(() => undefined);
    return 'shared';
  }
  await navigator.clipboard?.writeText(url).catch(() => undefined);
  return 'copied';
}

export function ShareButton({ url, title }: { url: string; title: string }) {
  const [done, setDone] = useState<string>();
  return (
    <button onClick={async () => setDone((await shareLink(url, title)) === 'copied' ? t('share.copied') : undefined)}>
      {done ?? t('share.share')}
    </button>
  );
}

/** What a signed-out visitor sees of an open room's, event's or club's link; anything else is the sign-in page. */
export function SharePreview({ kind, id, signIn }: { kind: 'room' | 'event' | 'club'; id: string; signIn: ComponentChildren }) {
  const [p, setP] = useState<Preview | null>();
  const [signing, setSigning] = useState(false);
  useEffect(() => {
    get<Preview>(`/${kind === 'room' ? 'rooms' : kind === 'event' ? 'events' : 'clubs'}/${id}/preview`).then(setP, () => setP(null));
  }, [kind, id]);
  if (p === undefined) return <main class="narrow" id="main"><p class="muted">{t('common.loading')}</p></main>;
  if (p === null || signing) return <>{signIn}</>;
  return (
    <main class="narrow" id="main">
      <p class="event-state state-live">{kind === 'room' ? t('event.state.live') : kind === 'club' ? t('preview.club') : when(p.starts_at!)}</p>
      <h1>{p.title}</h1>
      {p.description && <p class="bio">{p.description}</p>}
      <ul class="hands" aria-label={kind === 'room' ? t('room.on_stage') : kind === 'club' ? t('preview.owner') : t('preview.hosts')}>
        {p.people.map((u) => <li key={u.id}><Avatar user={u} size="sm" /> <span>{u.display_name}</span></li>)}
      </ul>
      {p.listener_count != null && <p class="muted">{t('room.listening', { count: p.listener_count })}</p>}
      <button class="primary wide" onClick={() => setSigning(true)}>{kind === 'room' ? t('preview.sign_in_listen') : kind === 'club' ? t('preview.sign_in_join') : t('preview.sign_in_notified')}</button>
      <p class="muted">{t('signin.invite_only')}</p>
    </main>
  );
}
