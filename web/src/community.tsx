// The community's tools: reporting, the moderation log, account settings and the admin console.
import { useEffect, useState } from 'preact/hooks';
import { del, get, post, put } from './api';
import { Avatar, ErrorNote, Field, Link, Modal, message, navigate } from './ui';
import { WebhooksPanel } from './egress';
import type {
  AdminClubs, AdminLog, AdminRooms, AdminSettings, AdminUser, ChatRecord, Me, ModerationEntry, ModerationLog, Report, ReportDetail,
  ReportList, ReportReason, ReportReceipt, Scope, SessionList, TokenCreated, TokenList, UserSummary,
} from './wire';

const REASONS: [ReportReason, string][] = [
  ['harassment', 'Harassment or bullying'],
  ['hate', 'Hate speech'],
  ['spam', 'Spam or scams'],
  ['sexual', 'Sexual content'],
  ['violence', 'Violence or threats'],
  ['impersonation', 'Pretending to be someone else'],
  ['other', 'Something else'],
];

const ACTIONS: Record<string, string> = {
  invite_to_speak: 'invited to speak',
  move_to_audience: 'moved to the audience',
  make_moderator: 'made a moderator',
  remove_moderator: 'took the moderator role from',
  mute: 'muted',
  remove: 'removed from the room',
  delete_chat: 'deleted a message by',
  silence_chat: 'silenced the chat of',
  unsilence_chat: 'let chat again',
  chat_mode: 'set who can chat to',
  hand_mode: 'set who can raise hands to',
  end_room: 'ended the room',
};

function clock(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit' });
}

function who(u?: UserSummary | null): string {
  return u ? `${u.display_name} (@${u.username})` : '';
}

/** One line of a moderation log: "10:02 Host muted Bob". */
function LogLine({ e }: { e: ModerationEntry }) {
  const verb = ACTIONS[e.action] ?? e.action;
  const trailing = e.action === 'chat_mode' || e.action === 'hand_mode' ? ` ${e.detail ?? ''}` : '';
  return (
    <li>
      <time class="muted" dateTime={new Date(e.at_ms).toISOString()}>{clock(e.at_ms)}</time>{' '}
      <strong>{e.actor.display_name}</strong> {verb}{e.target ? <> <strong>{e.target.display_name}</strong></> : null}{trailing}
      {e.action === 'delete_chat' && e.detail && <q class="muted"> {e.detail}</q>}
    </li>
  );
}

/** Report a person in the room, or the room itself; optionally block the person in the same step. */
export function ReportDialog({ roomId, user, onClose }: { roomId: string; user?: UserSummary; onClose: () => void }) {
  const [reason, setReason] = useState<ReportReason>();
  const [text, setText] = useState('');
  const [block, setBlock] = useState(false);
  const [error, setError] = useState<string>();
  const [receipt, setReceipt] = useState<ReportReceipt>();
  const title = user ? `Report ${user.display_name}` : 'Report this room';
  if (receipt) {
    return (
      <Modal title="Report sent" onClose={onClose}>
        <p role="status">{receipt.message}</p>
        <div class="actions"><button class="primary" onClick={onClose}>Done</button></div>
      </Modal>
    );
  }
  return (
    <Modal title={title} onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        if (!reason) return setError('Pick a reason.');
        try {
          setReceipt(await post<ReportReceipt>(`/rooms/${roomId}/reports`, { user_id: user?.id ?? null, reason, text, block }));
        } catch (err) {
          setError(message(err));
        }
      }}>
        <fieldset class="choices">
          <legend>What is wrong?</legend>
          {REASONS.map(([value, label]) => (
            <label key={value} class="choice">
              <input type="radio" name="reason" value={value} checked={reason === value} onChange={() => setReason(value)} />
              <span>{label}</span>
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="f-report-text">More for the admins (optional)</label>
          <textarea id="f-report-text" maxLength={1000} rows={3} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        </div>
        <p class="hint">The admins also see this room’s chat and moderation from ten minutes before your report to ten after.</p>
        {user && (
          <label class="choice">
            <input type="checkbox" checked={block} onChange={(e) => setBlock((e.target as HTMLInputElement).checked)} />
            <span>Also block {user.display_name}</span>
          </label>
        )}
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button class="primary" type="submit">Send report</button>
        </div>
      </form>
    </Modal>
  );
}

/** The room's moderation log, for its moderators. */
export function ModerationLogDialog({ roomId, onClose }: { roomId: string; onClose: () => void }) {
  const [log, setLog] = useState<ModerationLog>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    get<ModerationLog>(`/rooms/${roomId}/moderation`).then(setLog, (e) => setError(message(e)));
  }, [roomId]);
  return (
    <Modal title="Moderation log" onClose={onClose}>
      <ErrorNote message={error} />
      {log && (log.entries.length === 0 ? <p class="muted">Nothing yet.</p> : (
        <ol class="log">{log.entries.map((e, i) => <LogLine key={i} e={e} />)}</ol>
      ))}
      <div class="actions"><button onClick={onClose}>Close</button></div>
    </Modal>
  );
}

// ---------- account settings ----------

export function AccountSettings({ me }: { me: Me }) {
  const [sessions, setSessions] = useState<SessionList>();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<string>();
  const [deleting, setDeleting] = useState(false);
  const load = () => get<SessionList>('/account/sessions').then(setSessions, (e) => setError(message(e)));
  useEffect(() => void load(), []);
  return (
    <main class="narrow" id="main">
      <h1>Settings</h1>
      <section class="panel" aria-labelledby="password-h">
        <h2 id="password-h" class="section">Password</h2>
        <form onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          try {
            await post('/account/password', { current_password: current, new_password: next });
            setCurrent('');
            setNext('');
            setNote('Password changed. Every other session was signed out.');
            void load();
          } catch (err) {
            setError(message(err));
          }
        }}>
          <Field label="Current password" type="password" autocomplete="current-password" value={current} onInput={setCurrent} required />
          <Field label="New password" type="password" autocomplete="new-password" value={next} onInput={setNext} required hint="At least 8 characters. Changing it signs out your other sessions." />
          <div class="actions left"><button class="primary" type="submit">Change password</button></div>
        </form>
        {note && <p class="note" role="status">{note}</p>}
      </section>
      <section class="panel" aria-labelledby="sessions-h">
        <h2 id="sessions-h" class="section">Where you’re signed in</h2>
        <ul class="sessions">
          {sessions?.sessions.map((s) => (
            <li key={s.id}>
              <span><strong>{s.device}</strong>{s.current && <span class="tag">This device</span>}</span>
              <span class="muted">Signed in {new Date(s.created_at * 1000).toLocaleDateString()} · last active {new Date(s.last_seen * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}</span>
              {!s.current && (
                <button onClick={async () => {
                  try {
                    await del(`/account/sessions/${s.id}`);
                    void load();
                  } catch (err) {
                    setError(message(err));
                  }
                }} aria-label={`Sign out ${s.device}`}>Sign out</button>
              )}
            </li>
          ))}
        </ul>
      </section>
      <AccessTokens me={me} />
      <section class="panel" aria-labelledby="data-h">
        <h2 id="data-h" class="section">Your data</h2>
        <p class="muted">A JSON file of your profile, follows, blocks, events, invites, chat messages and reports.</p>
        <div class="actions left">
          <a class="button" href="/api/v1/account/export" download={`stoa-${me.username}.json`}>Download my data</a>
        </div>
      </section>
      <section class="panel" aria-labelledby="delete-h">
        <h2 id="delete-h" class="section">Delete account</h2>
        <p class="muted">Your profile, follows, messages and everything personal are erased. Moderation records and reports keep an anonymous stand-in. This cannot be undone.</p>
        <div class="actions left"><button class="danger" onClick={() => setDeleting(true)}>Delete my account…</button></div>
      </section>
      <ErrorNote message={error} />
      {deleting && <DeleteAccount onClose={() => setDeleting(false)} />}
    </main>
  );
}

const SCOPES: [Scope, string][] = [
  ['rooms:read', 'Read rooms, events, profiles'],
  ['rooms:write', 'Start rooms, schedule, follow, chat'],
  ['listen', 'Join rooms to listen'],
  ['speak', 'Join rooms and speak when invited'],
  ['admin', 'The admin console'],
];

/** Personal access tokens for bots, OBS (WHIP) and scripts: no password needed, and only what they may do. */
function AccessTokens({ me }: { me: Me }) {
  const [list, setList] = useState<TokenList>();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['listen']);
  const [days, setDays] = useState('90');
  const [made, setMade] = useState<TokenCreated>();
  const [error, setError] = useState<string>();
  const load = () => get<TokenList>('/tokens').then(setList, (e) => setError(message(e)));
  useEffect(() => void load(), []);
  return (
    <section class="panel" aria-labelledby="tokens-h">
      <h2 id="tokens-h" class="section">Access tokens</h2>
      <p class="muted">For <code>stoa bot</code>, OBS and scripts: a token does only what you allow, and never changes your password or account.</p>
      <form onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          setMade(await post<TokenCreated>('/tokens', { name, scopes, expires_in_days: days === 'never' ? null : Number(days) }));
          setName('');
          void load();
        } catch (err) {
          setError(message(err));
        }
      }}>
        <Field label="Token name" value={name} onInput={setName} required hint="To tell your tokens apart, e.g. “OBS in the studio”." />
        <fieldset class="choices">
          <legend>It may</legend>
          {SCOPES.filter(([scope]) => scope !== 'admin' || me.is_admin).map(([scope, label]) => (
            <label key={scope} class="choice">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={(e) => {
                const on = (e.target as HTMLInputElement).checked;
                setScopes(on ? [...scopes, scope] : scopes.filter((x) => x !== scope));
              }} />
              <span>{label} <code>{scope}</code></span>
            </label>
          ))}
        </fieldset>
        <label for="f-expiry">Expires</label>
        <select id="f-expiry" value={days} onChange={(e) => setDays((e.target as HTMLSelectElement).value)}>
          <option value="7">in 7 days</option>
          <option value="30">in 30 days</option>
          <option value="90">in 90 days</option>
          <option value="365">in a year</option>
          <option value="never">never</option>
        </select>
        <div class="actions left"><button class="primary" type="submit">Make token</button></div>
      </form>
      {made && (
        <p class="note" role="status">Copy it now; it will not be shown again: <code class="invite-link">{made.token}</code></p>
      )}
      <ul class="sessions">
        {list?.tokens.map((t) => (
          <li key={t.id}>
            <span><strong>{t.name}</strong> <span class="muted">{t.scopes.join(', ')}</span></span>
            <span class="muted">Made {new Date(t.created_at * 1000).toLocaleDateString()}{t.expires_at ? ` · expires ${new Date(t.expires_at * 1000).toLocaleDateString()}` : ''} · {t.last_used_at ? `last used ${new Date(t.last_used_at * 1000).toLocaleDateString()}` : 'never used'}</span>
            <button onClick={async () => {
              try {
                await del(`/tokens/${t.id}`);
                void load();
              } catch (err) {
                setError(message(err));
              }
            }} aria-label={`Revoke ${t.name}`}>Revoke</button>
          </li>
        ))}
      </ul>
      <ErrorNote message={error} />
    </section>
  );
}

function DeleteAccount({ onClose }: { onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  return (
    <Modal title="Delete your account?" onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          await post('/account/delete', { password });
          location.href = '/';
        } catch (err) {
          setError(message(err));
        }
      }}>
        <p>Enter your password to delete your account for good.</p>
        <Field label="Password" type="password" autocomplete="current-password" value={password} onInput={setPassword} required />
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Keep my account</button>
          <button class="danger" type="submit">Delete for good</button>
        </div>
      </form>
    </Modal>
  );
}

// ---------- the admin console ----------

type Tab = 'reports' | 'people' | 'rooms' | 'clubs' | 'settings' | 'webhooks' | 'log';

export function AdminConsole() {
  const [allowed, setAllowed] = useState<boolean>();
  const [tab, setTab] = useState<Tab>('reports');
  const [person, setPerson] = useState<string>();
  useEffect(() => {
    // The console is not advertised: a non-admin gets the same "nothing here" as any unknown address.
    get<AdminSettings>('/admin/settings').then(() => setAllowed(true), () => setAllowed(false));
  }, []);
  if (allowed === undefined) return <main id="main" class="center"><p class="muted">Loading…</p></main>;
  if (!allowed) return <main id="main" class="narrow center"><h1>Nothing here</h1><p class="lede">There is nothing at this address.</p><button class="primary" onClick={() => navigate('/')}>Back to the hallway</button></main>;
  const open = (username: string) => {
    setPerson(username);
    setTab('people');
  };
  const tabs: [Tab, string][] = [['reports', 'Reports'], ['people', 'People'], ['rooms', 'Live rooms'], ['clubs', 'Clubs'], ['settings', 'Settings'], ['webhooks', 'Webhooks'], ['log', 'Admin log']];
  return (
    <main id="main" class="admin">
      <h1>Admin</h1>
      <div class="tabs" role="tablist" aria-label="Admin sections">
        {tabs.map(([t, label]) => (
          <button key={t} role="tab" id={`tab-${t}`} aria-selected={tab === t} aria-controls="admin-panel" tabIndex={tab === t ? 0 : -1} class={tab === t ? 'selected' : ''} onClick={() => setTab(t)}>{label}</button>
        ))}
      </div>
      <div id="admin-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        {tab === 'reports' && <Reports onPerson={open} />}
        {tab === 'people' && <People key={person} initial={person} onPerson={open} />}
        {tab === 'rooms' && <LiveRooms />}
        {tab === 'clubs' && <ClubsPanel />}
        {tab === 'settings' && <LiveSettings />}
        {tab === 'webhooks' && <WebhooksPanel />}
        {tab === 'log' && <AdminLogView />}
      </div>
    </main>
  );
}

function Reports({ onPerson }: { onPerson: (u: string) => void }) {
  const [state, setState] = useState<'open' | 'resolved'>('open');
  const [list, setList] = useState<ReportList>();
  const [selected, setSelected] = useState<number>();
  const [error, setError] = useState<string>();
  const load = () => get<ReportList>(`/admin/reports?state=${state}`).then(setList, (e) => setError(message(e)));
  useEffect(() => void load(), [state]);
  if (selected !== undefined) {
    return <ReportView id={selected} onBack={() => { setSelected(undefined); void load(); }} onPerson={onPerson} />;
  }
  return (
    <section aria-labelledby="reports-h">
      <div class="bar">
        <h2 id="reports-h" class="section">{state === 'open' ? 'Open reports' : 'Resolved reports'}</h2>
        <button class="link" onClick={() => setState(state === 'open' ? 'resolved' : 'open')}>{state === 'open' ? 'Show resolved' : 'Show open'}</button>
      </div>
      <ErrorNote message={error} />
      {list && list.reports.length === 0 && <p class="muted">No {state} reports.</p>}
      <ul class="reports">
        {list?.reports.map((r) => (
          <li key={r.id}>
            <button class="report-row" onClick={() => setSelected(r.id)}>
              <strong>#{r.id} {r.target ? r.target.display_name : `the room “${r.room_title}”`}</strong>
              <span class="muted">{REASONS.find(([v]) => v === r.reason)?.[1]} · by {r.reporter.display_name} · {clock(r.created_at_ms)}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ChatLine({ m }: { m: ChatRecord }) {
  return (
    <li class={m.deleted_by ? 'deleted' : ''}>
      <time class="muted" dateTime={new Date(m.sent_at_ms).toISOString()}>{clock(m.sent_at_ms)}</time>{' '}
      <strong>{m.user.display_name}</strong>: {m.text}
      {m.deleted_by && <span class="muted"> (deleted by {m.deleted_by.display_name})</span>}
    </li>
  );
}

function ReportView({ id, onBack, onPerson }: { id: number; onBack: () => void; onPerson: (u: string) => void }) {
  const [d, setD] = useState<ReportDetail>();
  const [note, setNote] = useState('');
  const [error, setError] = useState<string>();
  const load = () => get<ReportDetail>(`/admin/reports/${id}`).then(setD, (e) => setError(message(e)));
  useEffect(() => void load(), [id]);
  if (!d) return <><ErrorNote message={error} /><p class="muted">Loading…</p></>;
  const r: Report = d.report;
  return (
    <section aria-labelledby="report-h">
      <button class="link" onClick={onBack}>← All reports</button>
      <h2 id="report-h">Report #{r.id}</h2>
      <dl class="facts">
        <dt>About</dt><dd>{r.target ? <button class="link" onClick={() => onPerson(r.target!.username)}>{who(r.target)}</button> : 'The room itself'}</dd>
        <dt>Room</dt><dd>“{r.room_title}” ({r.room_id})</dd>
        <dt>Reason</dt><dd>{REASONS.find(([v]) => v === r.reason)?.[1]}</dd>
        <dt>By</dt><dd><button class="link" onClick={() => onPerson(r.reporter.username)}>{who(r.reporter)}</button>, {clock(r.created_at_ms)}</dd>
        {r.text && <><dt>They wrote</dt><dd>{r.text}</dd></>}
        {r.resolved_at_ms != null && <><dt>Resolved</dt><dd>{clock(r.resolved_at_ms)} by {r.resolved_by?.display_name ?? 'the command line'}: {r.resolution_note}</dd></>}
      </dl>
      <h3 class="section">The room’s sound, five minutes either side</h3>
      <audio controls preload="none" src={`/api/v1/admin/reports/${r.id}/audio`} aria-label="The room around the report" />
      <p class="muted">Attached five minutes after the report, if the room was live.</p>
      <h3 class="section">Chat, ten minutes either side</h3>
      {d.chat.length === 0 ? <p class="muted">No messages.</p> : <ol class="log">{d.chat.map((m, i) => <ChatLine key={i} m={m} />)}</ol>}
      <h3 class="section">Moderation, ten minutes either side</h3>
      {d.moderation.length === 0 ? <p class="muted">No moderator actions.</p> : <ol class="log">{d.moderation.map((e, i) => <LogLine key={i} e={e} />)}</ol>}
      {d.earlier_reports.length > 0 && (
        <>
          <h3 class="section">Other reports on this person</h3>
          <ul>{d.earlier_reports.map((e) => <li key={e.id}>#{e.id} {e.reason}, {clock(e.created_at_ms)}{e.resolution_note ? ` — ${e.resolution_note}` : ''}</li>)}</ul>
        </>
      )}
      {r.resolved_at_ms == null && (
        <form class="panel" onSubmit={async (e) => {
          e.preventDefault();
          try {
            await post(`/admin/reports/${id}/resolve`, { note });
            void load();
          } catch (err) {
            setError(message(err));
          }
        }}>
          <div class="field">
            <label for="f-resolution">Resolution note</label>
            <textarea id="f-resolution" rows={2} maxLength={1000} value={note} required onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
          </div>
          <div class="actions left">
            <button class="primary" type="submit">Resolve</button>
            {r.target && <button type="button" onClick={() => onPerson(r.target!.username)}>Open {r.target.display_name}’s page to suspend</button>}
          </div>
        </form>
      )}
      <ErrorNote message={error} />
    </section>
  );
}

function People({ initial, onPerson }: { initial?: string; onPerson: (u: string) => void }) {
  const [query, setQuery] = useState(initial ?? '');
  const [user, setUser] = useState<AdminUser>();
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string>();
  const find = async (name: string) => {
    setError(undefined);
    try {
      setUser(await get<AdminUser>(`/admin/users/${encodeURIComponent(name.trim())}`));
    } catch (e) {
      setUser(undefined);
      setError(message(e));
    }
  };
  useEffect(() => { if (initial) void find(initial); }, [initial]);
  return (
    <section aria-labelledby="people-h">
      <h2 id="people-h" class="section">People</h2>
      <form class="inline-form" onSubmit={(e) => { e.preventDefault(); void find(query); }}>
        <Field label="Username" value={query} onInput={setQuery} required />
        <button type="submit">Look up</button>
      </form>
      <ErrorNote message={error} />
      {user && (
        <div class="panel">
          <div class="bar">
            <Avatar user={user.user} />
            <h3>{user.user.display_name} <span class="muted">@{user.user.username}</span></h3>
            {user.is_admin && <span class="tag">Admin</span>}
          </div>
          <p class="muted">Signed up {new Date(user.created_at * 1000).toLocaleDateString()} · {user.reports_against} report{user.reports_against === 1 ? '' : 's'} on them{user.deleted ? ' · account deleted' : ''}</p>
          {user.suspended != null && <p class="error" role="status">Suspended: {user.suspended}</p>}
          <h4 class="section">Invited by</h4>
          {user.invited_by.length === 0 ? <p class="muted">Nobody: the first account, or an admin’s invite.</p> : (
            <ol class="chain">{user.invited_by.map((u) => <li key={u.id}><button class="link" onClick={() => onPerson(u.username)}>{who(u)}</button></li>)}</ol>
          )}
          <h4 class="section">Invited ({user.invitees.length})</h4>
          <ul class="invitees">
            {user.invitees.map((i) => (
              <li key={i.user.id}><button class="link" onClick={() => onPerson(i.user.username)}>{who(i.user)}</button> <span class="muted">invited {i.invitees}{i.suspended ? ' · suspended' : ''}</span></li>
            ))}
          </ul>
          {!user.deleted && (user.suspended == null ? (
            <form onSubmit={async (e) => {
              e.preventDefault();
              try {
                setUser(await post<AdminUser>(`/admin/users/${user.user.username}/suspend`, { reason }));
                setReason('');
              } catch (err) {
                setError(message(err));
              }
            }}>
              <Field label="Reason for suspension" value={reason} onInput={setReason} required hint="They see it when they try to sign in." />
              <div class="actions left"><button class="danger" type="submit">Suspend {user.user.display_name}</button></div>
            </form>
          ) : (
            <div class="actions left">
              <button onClick={async () => {
                try {
                  setUser(await post<AdminUser>(`/admin/users/${user.user.username}/unsuspend`));
                } catch (err) {
                  setError(message(err));
                }
              }}>Lift the suspension</button>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function LiveRooms() {
  const [rooms, setRooms] = useState<AdminRooms>();
  const [error, setError] = useState<string>();
  const load = () => get<AdminRooms>('/admin/rooms').then(setRooms, (e) => setError(message(e)));
  useEffect(() => void load(), []);
  return (
    <section aria-labelledby="rooms-h">
      <h2 id="rooms-h" class="section">Live rooms</h2>
      <ErrorNote message={error} />
      {rooms?.rooms.length === 0 && <p class="muted">No room is live.</p>}
      <ul class="admin-rooms">
        {rooms?.rooms.map((r) => (
          <li key={r.id}>
            <span><Link href={`/room/${r.id}`}>{r.title}</Link> <span class="muted">{r.visibility} · {r.stage.length} on stage · {r.listener_count} listening</span></span>
            <button class="danger" onClick={async () => {
              if (!confirm(`End “${r.title}” for everyone?`)) return;
              try {
                await post(`/admin/rooms/${r.id}/end`);
                window.setTimeout(load, 500);
              } catch (err) {
                setError(message(err));
              }
            }}>End</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/// Every club, newest first, with its suspension: suspending one hides it and ends its live rooms.
function ClubsPanel() {
  const [clubs, setClubs] = useState<AdminClubs>();
  const [error, setError] = useState<string>();
  const load = () => get<AdminClubs>('/admin/clubs').then(setClubs, (e) => setError(message(e)));
  useEffect(() => void load(), []);
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(undefined);
      await load();
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <section aria-labelledby="admin-clubs-h">
      <h2 id="admin-clubs-h" class="section">Clubs</h2>
      <ErrorNote message={error} />
      {clubs?.clubs.length === 0 && <p class="muted">No club yet.</p>}
      <ul class="admin-rooms">
        {clubs?.clubs.map((c) => (
          <li key={c.club.handle}>
            <span>
              <Link href={`/c/${c.club.handle}`}>{c.club.name}</Link>{' '}
              <span class="muted">/c/{c.club.handle} · owner {c.owner.display_name} · {c.club.members} members · {c.followers} followers{c.suspended ? ` · suspended: ${c.suspended}` : ''}</span>
            </span>
            {c.suspended
              ? <button onClick={() => act(() => post(`/admin/clubs/${c.club.handle}/unsuspend`))}>Lift suspension</button>
              : <button class="danger" onClick={() => {
                const reason = prompt(`Why suspend ${c.club.name}? Its live rooms end.`);
                if (reason) void act(() => post(`/admin/clubs/${c.club.handle}/suspend`, { reason }));
              }}>Suspend</button>}
          </li>
        ))}
      </ul>
    </section>
  );
}

function LiveSettings() {
  const [quota, setQuota] = useState('');
  const [capacity, setCapacity] = useState('');
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<string>();
  const show = (s: AdminSettings) => {
    setQuota(String(s.invite_quota));
    setCapacity(String(s.room_capacity));
  };
  useEffect(() => void get<AdminSettings>('/admin/settings').then(show, (e) => setError(message(e))), []);
  return (
    <section aria-labelledby="settings-admin-h">
      <h2 id="settings-admin-h" class="section">Settings</h2>
      <form onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          show(await put<AdminSettings>('/admin/settings', { invite_quota: Number(quota), room_capacity: Number(capacity) }));
          setNote('Saved. They apply now, to live rooms too.');
        } catch (err) {
          setError(message(err));
        }
      }}>
        <Field label="Invites per person" type="number" value={quota} onInput={setQuota} required />
        <Field label="Room capacity" type="number" value={capacity} onInput={setCapacity} required hint="People a room holds, stage included." />
        <div class="actions left"><button class="primary" type="submit">Save</button></div>
      </form>
      {note && <p class="note" role="status">{note}</p>}
      <ErrorNote message={error} />
    </section>
  );
}

function AdminLogView() {
  const [log, setLog] = useState<AdminLog>();
  const [error, setError] = useState<string>();
  useEffect(() => void get<AdminLog>('/admin/log').then(setLog, (e) => setError(message(e))), []);
  return (
    <section aria-labelledby="adminlog-h">
      <h2 id="adminlog-h" class="section">Admin log</h2>
      <ErrorNote message={error} />
      <ol class="log">
        {log?.entries.map((e) => (
          <li key={e.id}>
            <time class="muted" dateTime={new Date(e.created_at * 1000).toISOString()}>{clock(e.created_at * 1000)}</time>{' '}
            <strong>{e.admin?.display_name ?? 'Command line'}</strong> {e.action.replace('_', ' ')} {e.subject_username ? `@${e.subject_username}` : e.subject}{e.detail ? ` — ${e.detail}` : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}
