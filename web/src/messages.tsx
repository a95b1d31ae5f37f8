// The backchannel in the browser: the inbox and Requests (/messages), a conversation (/messages/ID), a new
// one (/messages/new?to=NAME), and the sheet that opens a conversation with someone from inside a room
// without leaving it. Counts and new messages arrive through the bell's stream, which the bell re-announces
// on the window as `stoa:inbox`.
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, post, put } from './api';
import { Avatar, ErrorNote, Link, Modal, message, navigate } from './ui';
import type { InboxCounts, Me, Message, MessagePage, ReportReceipt, Thread, ThreadList, UserSummary } from './wire';

/// Calls `f` whenever the bell's stream says something changed in the backchannel.
function useInbox(f: (c: InboxCounts) => void) {
  useEffect(() => {
    const on = (e: Event) => f((e as CustomEvent<InboxCounts>).detail);
    window.addEventListener('stoa:inbox', on);
    return () => window.removeEventListener('stoa:inbox', on);
  }, []);
}

/// Calls `f` with each message the bell's stream brings (new, or deleted) in the conversation `thread`.
function useThreadMessages(thread: number, f: (m: Message) => void) {
  useEffect(() => {
    const on = (e: Event) => {
      const m = (e as CustomEvent<Message>).detail;
      if (m.thread_id === thread) f(m);
    };
    window.addEventListener('stoa:message', on);
    return () => window.removeEventListener('stoa:message', on);
  }, [thread]);
}

/// The header's link, with the count of unread conversations and Requests.
export function MessagesLink() {
  const [c, setC] = useState<InboxCounts>({ unread_threads: 0, requests: 0 });
  useInbox(setC);
  const n = c.unread_threads + c.requests;
  return <Link href="/messages">{n > 0 ? `Messages (${n} new)` : 'Messages'}</Link>;
}

function names(t: Thread): string {
  return t.members.map((m) => m.display_name).join(', ') || 'Only you';
}

/// `/messages`: the inbox, or the Requests.
export function MessagesPage() {
  const [requests, setRequests] = useState(false);
  const [list, setList] = useState<Thread[]>();
  const [counts, setCounts] = useState<InboxCounts>({ unread_threads: 0, requests: 0 });
  const [error, setError] = useState<string>();
  const load = () => get<ThreadList>(`/threads?requests=${requests}`).then((l) => { setList(l.threads); setError(undefined); }, (e) => setError(message(e)));
  useEffect(() => { void load(); }, [requests]);
  useInbox((c) => { setCounts(c); void load(); });
  return (
    <main class="narrow" id="main">
      <div class="bar">
        <h1>Messages</h1>
        <button class="primary" onClick={() => navigate('/messages/new')}>New message</button>
      </div>
      <div class="actions left" role="group" aria-label="Show">
        <button aria-pressed={!requests} onClick={() => setRequests(false)}>Inbox</button>
        <button aria-pressed={requests} onClick={() => setRequests(true)}>Requests{counts.requests > 0 ? ` (${counts.requests})` : ''}</button>
      </div>
      <ErrorNote message={error} />
      {list?.length === 0 && <p class="empty">{requests ? 'No requests. Messages from people you don’t follow wait here.' : 'No conversations yet.'}</p>}
      <ul class="rooms" aria-label={requests ? 'Requests' : 'Conversations'}>
        {list?.map((t) => (
          <li key={t.id}>
            <Link href={`/messages/${t.id}`} class="room-card">
              <span class="room-title">{names(t)}{t.unread > 0 && !t.muted ? ` · ${t.unread} new` : ''}</span>
              <span class="room-count">{t.last_message ? (t.last_message.deleted ? 'Message deleted' : t.last_message.text.slice(0, 80)) : ''}{t.muted ? ' · muted' : ''}</span>
            </Link>
          </li>
        ))}
      </ul>
    </main>
  );
}

/// Text with its web addresses shown as links (never fetched by the server, nor previewed).
function Linked({ text }: { text: string }) {
  const parts = text.split(/(https?:\/\/[^\s<>"]+)/g);
  return <>{parts.map((p, i) => (i % 2 === 1 ? <a key={i} href={p} rel="noopener noreferrer nofollow ugc" target="_blank">{p}</a> : p))}</>;
}

/// The messages of one conversation and the box to write in it: a page (`/messages/ID`) or, in a room, a sheet.
function Conversation({ thread, me, onChange }: { thread: Thread; me: Me; onChange: () => void }) {
  const [page, setPage] = useState<Message[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const end = useRef<HTMLDivElement>(null);
  const load = async () => {
    try {
      const p = await get<MessagePage>(`/threads/${thread.id}/messages?limit=100`);
      const oldestFirst = p.messages.slice().reverse();
      setPage(oldestFirst);
      const newest = oldestFirst[oldestFirst.length - 1];
      if (newest && thread.unread > 0) await post(`/threads/${thread.id}/read`, { up_to: newest.id }).catch(() => undefined);
    } catch (e) {
      setError(message(e));
    }
  };
  useEffect(() => { void load(); }, [thread.id]);
  // The stream brings each new or deleted message: put it in its place, and read it while it is on screen.
  useThreadMessages(thread.id, (m) => {
    setPage((old) => upsert(old, m));
    if (m.sender.id !== me.id && !m.deleted) void post(`/threads/${thread.id}/read`, { up_to: m.id }).catch(() => undefined);
  });
  useEffect(() => { end.current?.scrollIntoView({ block: 'end' }); }, [page.length]);
  return (
    <div class="conversation">
      <ol class="messages" aria-label="Messages" aria-live="polite">
        {page.map((m) => (
          <li key={m.id} class={m.sender.id === me.id ? 'mine' : ''}>
            <span class="who">{m.sender.display_name}</span>
            {m.deleted ? <em class="muted">Message deleted</em> : <span class="text"><Linked text={m.text} /></span>}
            {!m.deleted && (m.sender.id === me.id
              ? <button class="link" aria-label="Delete this message" onClick={async () => { await del(`/messages/${m.id}`).catch((e) => setError(message(e))); await load(); }}>Delete</button>
              : <button class="link" aria-label={`Report this message from ${m.sender.display_name}`} onClick={async () => {
                if (!confirm(`Report this message from ${m.sender.display_name} to the server's admins?`)) return;
                try {
                  const r = await post<ReportReceipt>(`/messages/${m.id}/reports`, { reason: 'harassment' });
                  setError(undefined);
                  alert(r.message);
                } catch (e) {
                  setError(message(e));
                }
              }}>Report</button>)}
          </li>
        ))}
      </ol>
      <div ref={end} />
      <form class="inline-form" onSubmit={async (e) => {
        e.preventDefault();
        try {
          const sent = await post<Message>(`/threads/${thread.id}/messages`, { text });
          setText('');
          setError(undefined);
          setPage((old) => upsert(old, sent));
          onChange();
        } catch (err) {
          setError(message(err));
        }
      }}>
        <div class="field">
          <label for={`reply-${thread.id}`}>Message</label>
          <textarea id={`reply-${thread.id}`} rows={2} maxLength={1000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} required />
        </div>
        <button class="primary" type="submit">Send</button>
      </form>
      <ErrorNote message={error} />
    </div>
  );
}

/// A conversation's messages, oldest first, with `m` in its place (a newer copy of one replaces it).
function upsert(page: Message[], m: Message): Message[] {
  const i = page.findIndex((x) => x.id === m.id);
  if (i >= 0) return page.map((x) => (x.id === m.id ? m : x));
  return [...page, m].sort((a, b) => a.id - b.id);
}

/// `/messages/ID`.
export function ThreadPage({ id, me }: { id: number; me: Me }) {
  const [thread, setThread] = useState<Thread>();
  const [error, setError] = useState<string>();
  const load = () => get<Thread>(`/threads/${id}`).then(setThread, (e) => setError(message(e)));
  useEffect(() => { void load(); }, [id]);
  if (!thread) return <main class="narrow" id="main"><h1>Conversation</h1>{error ? <ErrorNote message={error} /> : <p class="muted">Loading…</p>}</main>;
  const act = async (f: () => Promise<unknown>, then?: () => void) => {
    try {
      await f();
      then ? then() : await load();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <main class="narrow" id="main">
      <h1>{names(thread)}</h1>
      <ul class="hands" aria-label="Members">
        {thread.members.map((u: UserSummary) => <li key={u.id}><Avatar user={u} size="sm" /> <span><Link href={`/u/${u.username}`}>{u.display_name}</Link></span></li>)}
      </ul>
      <div class="actions left">
        {thread.request && <button class="primary" onClick={() => act(() => post(`/threads/${id}/accept`))}>Accept</button>}
        {thread.request && <button onClick={() => act(() => post(`/threads/${id}/decline`), () => navigate('/messages'))}>Decline</button>}
        <button onClick={() => act(() => put(`/threads/${id}/mute`, { muted: !thread.muted }))}>{thread.muted ? 'Unmute' : 'Mute'}</button>
        {thread.group && <button class="danger" onClick={() => { if (confirm('Leave this group?')) void act(() => post(`/threads/${id}/leave`), () => navigate('/messages')); }}>Leave group</button>}
      </div>
      {thread.request && <p class="muted">This came from someone you don’t follow. Answer to accept it, or decline: they won’t be told.</p>}
      <ErrorNote message={error} />
      <Conversation thread={thread} me={me} onChange={load} />
    </main>
  );
}

/// `/messages/new`: to one person (their conversation, if there is one) or a group.
export function NewMessagePage() {
  const [to, setTo] = useState(new URLSearchParams(location.search).get('to') ?? '');
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  return (
    <main class="narrow" id="main">
      <h1>New message</h1>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          const usernames = to.split(/[\s,]+/).map((n) => n.replace(/^@/, '')).filter(Boolean);
          const t = await post<Thread>('/threads', { usernames, text });
          navigate(`/messages/${t.id}`);
        } catch (err) {
          setError(message(err));
        }
      }}>
        <div class="field">
          <label for="f-to">To</label>
          <input id="f-to" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} required aria-describedby="f-to-hint" />
          <p class="hint" id="f-to-hint">One username, or up to nine for a group, separated by spaces.</p>
        </div>
        <div class="field">
          <label for="f-text">Message</label>
          <textarea id="f-text" rows={3} maxLength={1000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} required />
        </div>
        <ErrorNote message={error} />
        <div class="actions left"><button class="primary" type="submit">Send</button></div>
      </form>
    </main>
  );
}

/// In a room: the conversation with one person, in a sheet, so that nobody leaves the room (or the stage) to
/// write.
export function MessageSheet({ user, me, onClose }: { user: UserSummary; me: Me; onClose: () => void }) {
  const [thread, setThread] = useState<Thread | null>();
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const load = () => get<ThreadList>(`/threads?with=${encodeURIComponent(user.username)}`).then((l) => setThread(l.threads[0] ?? null), (e) => setError(message(e)));
  useEffect(() => { void load(); }, [user.username]);
  return (
    <Modal title={`Message ${user.display_name}`} onClose={onClose}>
      {thread === undefined && <p class="muted">Loading…</p>}
      {thread && <Conversation thread={thread} me={me} onChange={load} />}
      {thread === null && (
        <form onSubmit={async (e) => {
          e.preventDefault();
          try {
            setThread(await post<Thread>('/threads', { usernames: [user.username], text }));
            setText('');
          } catch (err) {
            setError(message(err));
          }
        }}>
          <div class="field">
            <label for="f-first">Message</label>
            <textarea id="f-first" rows={3} maxLength={1000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} required />
          </div>
          <div class="actions"><button class="primary" type="submit">Send</button></div>
        </form>
      )}
      <ErrorNote message={error} />
      <div class="actions"><button onClick={onClose}>Close</button></div>
    </Modal>
  );
}
