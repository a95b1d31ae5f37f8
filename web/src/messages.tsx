// The backchannel in the browser: the inbox and Requests (/messages), a conversation (/messages/ID), a new
// one (/messages/new?to=NAME), and the sheet that opens a conversation with someone from inside a room
// without leaving it. Counts and new messages arrive through the bell's stream, which the bell re-announces
// on the window as `stoa:inbox`.
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, post, put } from './api';
import { Avatar, ErrorNote, Link, Modal, message, navigate } from './ui';
import type { InboxCounts, Me, Message, MessagePage, ReportReceipt, Thread, ThreadList, UserSummary } from './wire';
import { t } from './i18n';

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
  return <Link href="/messages">{n > 0 ? t('messages.link_new', { count: n }) : t('messages.title')}</Link>;
}

function names(thread: Thread): string {
  return thread.members.map((m) => m.display_name).join(', ') || t('messages.only_you');
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
        <h1>{t('messages.title')}</h1>
        <button class="primary" onClick={() => navigate('/messages/new')}>{t('messages.new')}</button>
      </div>
      <div class="actions left" role="group" aria-label={t('messages.show')}>
        <button aria-pressed={!requests} onClick={() => setRequests(false)}>{t('messages.inbox')}</button>
        <button aria-pressed={requests} onClick={() => setRequests(true)}>{counts.requests > 0 ? t('messages.requests_count', { count: counts.requests }) : t('messages.requests')}</button>
      </div>
      <ErrorNote message={error} />
      {list?.length === 0 && <p class="empty">{requests ? t('messages.no_requests') : t('messages.no_conversations')}</p>}
      <ul class="rooms" aria-label={requests ? t('messages.requests') : t('messages.conversations')}>
        {list?.map((th) => (
          <li key={th.id}>
            <Link href={`/messages/${th.id}`} class="room-card">
              <span class="room-title">{names(th)}{th.unread > 0 && !th.muted ? ` · ${t('messages.unread', { count: th.unread })}` : ''}</span>
              <span class="room-count">{th.last_message ? (th.last_message.deleted ? t('messages.deleted') : th.last_message.text.slice(0, 80)) : ''}{th.muted ? ` · ${t('messages.muted')}` : ''}</span>
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
      <ol class="messages" aria-label={t('messages.title')} aria-live="polite">
        {page.map((m) => (
          <li key={m.id} class={m.sender.id === me.id ? 'mine' : ''}>
            <span class="who">{m.sender.display_name}</span>
            {m.deleted ? <em class="muted">{t('messages.deleted')}</em> : <span class="text"><Linked text={m.text} /></span>}
            {!m.deleted && (m.sender.id === me.id
              ? <button class="link" aria-label={t('messages.delete_label')} onClick={async () => { await del(`/messages/${m.id}`).catch((e) => setError(message(e))); await load(); }}>{t('chat.delete')}</button>
              : <button class="link" aria-label={t('messages.report_label', { name: m.sender.display_name })} onClick={async () => {
                if (!confirm(t('messages.report_confirm', { name: m.sender.display_name }))) return;
                try {
                  const r = await post<ReportReceipt>(`/messages/${m.id}/reports`, { reason: 'harassment' });
                  setError(undefined);
                  alert(t(r.blocked ? 'report.received_blocked' : 'report.received'));
                } catch (e) {
                  setError(message(e));
                }
              }}>{t('chat.report')}</button>)}
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
          <label for={`reply-${thread.id}`}>{t('profile.message')}</label>
          <textarea id={`reply-${thread.id}`} rows={2} maxLength={1000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} required />
        </div>
        <button class="primary" type="submit">{t('chat.send')}</button>
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
  if (!thread) return <main class="narrow" id="main"><h1>{t('messages.conversation')}</h1>{error ? <ErrorNote message={error} /> : <p class="muted">{t('common.loading')}</p>}</main>;
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
      <ul class="hands" aria-label={t('messages.members')}>
        {thread.members.map((u: UserSummary) => <li key={u.id}><Avatar user={u} size="sm" /> <span><Link href={`/u/${u.username}`}>{u.display_name}</Link></span></li>)}
      </ul>
      <div class="actions left">
        {thread.request && <button class="primary" onClick={() => act(() => post(`/threads/${id}/accept`))}>{t('messages.accept')}</button>}
        {thread.request && <button onClick={() => act(() => post(`/threads/${id}/decline`), () => navigate('/messages'))}>{t('messages.decline')}</button>}
        <button onClick={() => act(() => put(`/threads/${id}/mute`, { muted: !thread.muted }))}>{thread.muted ? t('room.unmute') : t('room.mute')}</button>
        {thread.group && <button class="danger" onClick={() => { if (confirm(t('messages.leave_confirm'))) void act(() => post(`/threads/${id}/leave`), () => navigate('/messages')); }}>{t('messages.leave')}</button>}
      </div>
      {thread.request && <p class="muted">{t('messages.request_note')}</p>}
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
      <h1>{t('messages.new')}</h1>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          const usernames = to.split(/[\s,]+/).map((n) => n.replace(/^@/, '')).filter(Boolean);
          const made = await post<Thread>('/threads', { usernames, text });
          navigate(`/messages/${made.id}`);
        } catch (err) {
          setError(message(err));
        }
      }}>
        <div class="field">
          <label for="f-to">{t('messages.to')}</label>
          <input id="f-to" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} required aria-describedby="f-to-hint" />
          <p class="hint" id="f-to-hint">{t('messages.to_hint')}</p>
        </div>
        <div class="field">
          <label for="f-text">{t('profile.message')}</label>
          <textarea id="f-text" rows={3} maxLength={1000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} required />
        </div>
        <ErrorNote message={error} />
        <div class="actions left"><button class="primary" type="submit">{t('chat.send')}</button></div>
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
    <Modal title={t('messages.sheet_title', { name: user.display_name })} onClose={onClose}>
      {thread === undefined && <p class="muted">{t('common.loading')}</p>}
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
            <label for="f-first">{t('profile.message')}</label>
            <textarea id="f-first" rows={3} maxLength={1000} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} required />
          </div>
          <div class="actions"><button class="primary" type="submit">{t('chat.send')}</button></div>
        </form>
      )}
      <ErrorNote message={error} />
      <div class="actions"><button onClick={onClose}>{t('common.close')}</button></div>
    </Modal>
  );
}
