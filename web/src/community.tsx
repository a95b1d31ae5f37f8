// The community's tools: reporting, the moderation log, account settings and the admin console.
import { useEffect, useState } from 'preact/hooks';
import { del, get, post, put } from './api';
import { Avatar, ErrorNote, Field, Link, Modal, message, navigate } from './ui';
import { WebhooksPanel } from './egress';
import type {
  AdminClubs, AdminLog, AdminRooms, AdminSettings, AdminUser, ChatRecord, Me, ModerationEntry, ModerationLog, Report, ReportDetail,
  ReportList, ReportReason, ReportReceipt, Scope, SessionList, TokenCreated, TokenList, UserSummary,
} from './wire';
import { LANGUAGES, chosen, dateTime, setLang, t, tx, type Key, type Lang } from './i18n';

const REASONS: ReportReason[] = ['harassment', 'hate', 'spam', 'sexual', 'violence', 'impersonation', 'other'];

/** The moderation log's actions: each a whole sentence in the catalog, `modlog.ACTION`. */
const ACTIONS = ['invite_to_speak', 'move_to_audience', 'make_moderator', 'remove_moderator', 'mute', 'remove', 'delete_chat', 'silence_chat', 'unsilence_chat', 'chat_mode', 'hand_mode', 'end_room'];

function clock(ms: number): string {
  return dateTime(ms, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit' });
}

function who(u?: UserSummary | null): string {
  return u ? `${u.display_name} (@${u.username})` : '';
}

/** One line of a moderation log: "10:02 Host muted Bob". */
function LogLine({ e }: { e: ModerationEntry }) {
  const parts = { actor: <strong>{e.actor.display_name}</strong>, target: <strong>{e.target?.display_name ?? ''}</strong> };
  const mode = e.action === 'chat_mode' ? `chat.mode.${e.detail}` : e.action === 'hand_mode' ? `room.hand_mode.${e.detail === 'followed_by_speakers' ? 'followed' : e.detail}` : '';
  const line = ACTIONS.includes(e.action)
    ? tx(`modlog.${e.action}` as Key, parts, { mode: mode ? t(mode as Key) : e.detail ?? '' })
    : <>{parts.actor} {e.action} {parts.target}</>;
  return (
    <li>
      <time class="muted" dateTime={new Date(e.at_ms).toISOString()}>{clock(e.at_ms)}</time>{' '}
      {line}
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
  const title = user ? t('room.report_person', { name: user.display_name }) : t('room.report');
  if (receipt) {
    return (
      <Modal title={t('report.sent')} onClose={onClose}>
        <p role="status">{t(receipt.blocked ? 'report.received_blocked' : 'report.received')}</p>
        <div class="actions"><button class="primary" onClick={onClose}>{t('common.done')}</button></div>
      </Modal>
    );
  }
  return (
    <Modal title={title} onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        if (!reason) return setError(t('report.pick'));
        try {
          setReceipt(await post<ReportReceipt>(`/rooms/${roomId}/reports`, { user_id: user?.id ?? null, reason, text, block }));
        } catch (err) {
          setError(message(err));
        }
      }}>
        <fieldset class="choices">
          <legend>{t('report.what')}</legend>
          {REASONS.map((value) => (
            <label key={value} class="choice">
              <input type="radio" name="reason" value={value} checked={reason === value} onChange={() => setReason(value)} />
              <span>{t(`report.reason.${value}`)}</span>
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="f-report-text">{t('report.more')}</label>
          <textarea id="f-report-text" maxLength={1000} rows={3} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        </div>
        <p class="hint">{t('report.context')}</p>
        {user && (
          <label class="choice">
            <input type="checkbox" checked={block} onChange={(e) => setBlock((e.target as HTMLInputElement).checked)} />
            <span>{t('report.also_block', { name: user.display_name })}</span>
          </label>
        )}
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>{t('common.cancel')}</button>
          <button class="primary" type="submit">{t('report.send')}</button>
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
    <Modal title={t('modlog.title')} onClose={onClose}>
      <ErrorNote message={error} />
      {log && (log.entries.length === 0 ? <p class="muted">{t('common.nothing_yet')}</p> : (
        <ol class="log">{log.entries.map((e, i) => <LogLine key={i} e={e} />)}</ol>
      ))}
      <div class="actions"><button onClick={onClose}>{t('common.close')}</button></div>
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
      <h1>{t('nav.settings')}</h1>
      <LanguageSetting />
      <section class="panel" aria-labelledby="password-h">
        <h2 id="password-h" class="section">{t('account.password')}</h2>
        <form onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          try {
            await post('/account/password', { current_password: current, new_password: next });
            setCurrent('');
            setNext('');
            setNote(t('settings.password_changed'));
            void load();
          } catch (err) {
            setError(message(err));
          }
        }}>
          <Field label={t('settings.current_password')} type="password" autocomplete="current-password" value={current} onInput={setCurrent} required />
          <Field label={t('settings.new_password')} type="password" autocomplete="new-password" value={next} onInput={setNext} required hint={t('settings.new_password_hint')} />
          <div class="actions left"><button class="primary" type="submit">{t('settings.change_password')}</button></div>
        </form>
        {note && <p class="note" role="status">{note}</p>}
      </section>
      <section class="panel" aria-labelledby="sessions-h">
        <h2 id="sessions-h" class="section">{t('settings.sessions')}</h2>
        <ul class="sessions">
          {sessions?.sessions.map((s) => (
            <li key={s.id}>
              <span><strong>{device(s.device)}</strong>{s.current && <span class="tag">{t('settings.this_device')}</span>}</span>
              <span class="muted">{t('settings.session_times', { since: dateTime(s.created_at * 1000, { dateStyle: 'medium' }), seen: dateTime(s.last_seen * 1000) })}</span>
              {!s.current && (
                <button onClick={async () => {
                  try {
                    await del(`/account/sessions/${s.id}`);
                    void load();
                  } catch (err) {
                    setError(message(err));
                  }
                }} aria-label={t('settings.sign_out_device', { device: device(s.device) })}>{t('nav.sign_out')}</button>
              )}
            </li>
          ))}
        </ul>
      </section>
      <AccessTokens me={me} />
      <section class="panel" aria-labelledby="data-h">
        <h2 id="data-h" class="section">{t('settings.data')}</h2>
        <p class="muted">{t('settings.data_about')}</p>
        <div class="actions left">
          <a class="button" href="/api/v1/account/export" download={`stoa-${me.username}.json`}>{t('settings.download')}</a>
        </div>
      </section>
      <section class="panel" aria-labelledby="delete-h">
        <h2 id="delete-h" class="section">{t('settings.delete')}</h2>
        <p class="muted">{t('settings.delete_about')}</p>
        <div class="actions left"><button class="danger" onClick={() => setDeleting(true)}>{t('settings.delete_button')}</button></div>
      </section>
      <ErrorNote message={error} />
      {deleting && <DeleteAccount onClose={() => setDeleting(false)} />}
    </main>
  );
}

const SCOPES: Scope[] = ['rooms:read', 'rooms:write', 'listen', 'speak', 'admin'];

/** The language of the client (and of what Stoa sends this browser): the browser's, or one chosen here. */
function LanguageSetting() {
  const [choice, setChoice] = useState<Lang | ''>(chosen() ?? '');
  return (
    <section class="panel" aria-labelledby="language-h">
      <h2 id="language-h" class="section">{t('settings.language')}</h2>
      <label for="f-language" class="visually-hidden">{t('settings.language')}</label>
      <select id="f-language" value={choice} onChange={(e) => {
        const value = (e.target as HTMLSelectElement).value as Lang | '';
        setChoice(value);
        setLang(value || undefined);
      }}>
        <option value="">{t('settings.language_browser')}</option>
        {LANGUAGES.map((l) => <option key={l.code} value={l.code} lang={l.code}>{l.name}</option>)}
      </select>
    </section>
  );
}

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
      <h2 id="tokens-h" class="section">{t('tokens.title')}</h2>
      <p class="muted">{tx('tokens.about', { bot: <code>stoa bot</code> })}</p>
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
        <Field label={t('tokens.name')} value={name} onInput={setName} required hint={t('tokens.name_hint')} />
        <fieldset class="choices">
          <legend>{t('tokens.may')}</legend>
          {SCOPES.filter((scope) => scope !== 'admin' || me.is_admin).map((scope) => (
            <label key={scope} class="choice">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={(e) => {
                const on = (e.target as HTMLInputElement).checked;
                setScopes(on ? [...scopes, scope] : scopes.filter((x) => x !== scope));
              }} />
              <span>{t(`tokens.scope.${scope}`)} <code>{scope}</code></span>
            </label>
          ))}
        </fieldset>
        <label for="f-expiry">{t('tokens.expires')}</label>
        <select id="f-expiry" value={days} onChange={(e) => setDays((e.target as HTMLSelectElement).value)}>
          {['7', '30', '90'].map((d) => <option key={d} value={d}>{t('tokens.in_days', { count: Number(d) })}</option>)}
          <option value="365">{t('tokens.in_a_year')}</option>
          <option value="never">{t('tokens.never')}</option>
        </select>
        <div class="actions left"><button class="primary" type="submit">{t('tokens.make')}</button></div>
      </form>
      {made && (
        <p class="note" role="status">{tx('tokens.made', { token: <code class="invite-link">{made.token}</code> })}</p>
      )}
      <ul class="sessions">
        {list?.tokens.map((tok) => (
          <li key={tok.id}>
            <span><strong>{tok.name}</strong> <span class="muted">{tok.scopes.join(', ')}</span></span>
            <span class="muted">{t('tokens.made_on', { date: day(tok.created_at) })}{tok.expires_at ? ` · ${t('tokens.expires_on', { date: day(tok.expires_at) })}` : ''} · {tok.last_used_at ? t('tokens.last_used', { date: day(tok.last_used_at) }) : t('tokens.never_used')}</span>
            <button onClick={async () => {
              try {
                await del(`/tokens/${tok.id}`);
                void load();
              } catch (err) {
                setError(message(err));
              }
            }} aria-label={t('tokens.revoke_label', { name: tok.name })}>{t('tokens.revoke')}</button>
          </li>
        ))}
      </ul>
      <ErrorNote message={error} />
    </section>
  );
}

/** The server's name for a session's device ("Chrome on Linux"), in the reader's language: browsers and
 * systems are names, the words around them are not. */
function device(name: string): string {
  if (name === 'Unknown device') return t('settings.unknown_device');
  const m = name.match(/^(.+) on (.+)$/);
  const browser = m ? m[1]! : name;
  const what = browser === 'Stoa command line' ? t('settings.stoa_cli') : browser;
  return m ? t('settings.device', { browser: what, system: m[2]! }) : what;
}

const day = (secs: number) => dateTime(secs * 1000, { dateStyle: 'medium' });

function DeleteAccount({ onClose }: { onClose: () => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  return (
    <Modal title={t('settings.delete_title')} onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          await post('/account/delete', { password });
          location.href = '/';
        } catch (err) {
          setError(message(err));
        }
      }}>
        <p>{t('settings.delete_enter')}</p>
        <Field label={t('account.password')} type="password" autocomplete="current-password" value={password} onInput={setPassword} required />
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>{t('settings.keep')}</button>
          <button class="danger" type="submit">{t('settings.delete_for_good')}</button>
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
  if (allowed === undefined) return <main id="main" class="center"><p class="muted">{t('common.loading')}</p></main>;
  if (!allowed) return <main id="main" class="narrow center"><h1>{t('common.nothing_here')}</h1><p class="lede">{t('common.nothing_at_address')}</p><button class="primary" onClick={() => navigate('/')}>{t('room.back')}</button></main>;
  const open = (username: string) => {
    setPerson(username);
    setTab('people');
  };
  const tabs: [Tab, string][] = [['reports', t('admin.reports')], ['people', t('admin.people')], ['rooms', t('hallway.live_rooms')], ['clubs', t('nav.clubs')], ['settings', t('nav.settings')], ['webhooks', t('webhooks.title')], ['log', t('admin.log')]];
  return (
    <main id="main" class="admin">
      <h1>{t('nav.admin')}</h1>
      <div class="tabs" role="tablist" aria-label={t('admin.sections')}>
        {tabs.map(([name, label]) => (
          <button key={name} role="tab" id={`tab-${name}`} aria-selected={tab === name} aria-controls="admin-panel" tabIndex={tab === name ? 0 : -1} class={tab === name ? 'selected' : ''} onClick={() => setTab(name)}>{label}</button>
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
        <h2 id="reports-h" class="section">{state === 'open' ? t('admin.open_reports') : t('admin.resolved_reports')}</h2>
        <button class="link" onClick={() => setState(state === 'open' ? 'resolved' : 'open')}>{state === 'open' ? t('admin.show_resolved') : t('admin.show_open')}</button>
      </div>
      <ErrorNote message={error} />
      {list && list.reports.length === 0 && <p class="muted">{state === 'open' ? t('admin.no_open') : t('admin.no_resolved')}</p>}
      <ul class="reports">
        {list?.reports.map((r) => (
          <li key={r.id}>
            <button class="report-row" onClick={() => setSelected(r.id)}>
              <strong>#{r.id} {r.target ? r.target.display_name : t('admin.the_room', { title: r.room_title })}</strong>
              <span class="muted">{t(`report.reason.${r.reason}`)} · {t('recordings.clip_by', { name: r.reporter.display_name })} · {clock(r.created_at_ms)}</span>
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
      {tx('captions.line', { name: <strong>{m.user.display_name}</strong>, text: m.text })}
      {m.deleted_by && <span class="muted"> {t('admin.deleted_by', { name: m.deleted_by.display_name })}</span>}
    </li>
  );
}

function ReportView({ id, onBack, onPerson }: { id: number; onBack: () => void; onPerson: (u: string) => void }) {
  const [d, setD] = useState<ReportDetail>();
  const [note, setNote] = useState('');
  const [error, setError] = useState<string>();
  const load = () => get<ReportDetail>(`/admin/reports/${id}`).then(setD, (e) => setError(message(e)));
  useEffect(() => void load(), [id]);
  if (!d) return <><ErrorNote message={error} /><p class="muted">{t('common.loading')}</p></>;
  const r: Report = d.report;
  return (
    <section aria-labelledby="report-h">
      <button class="link" onClick={onBack}>{t('admin.all_reports')}</button>
      <h2 id="report-h">{t('admin.report_n', { id: String(r.id) })}</h2>
      <dl class="facts">
        <dt>{t('admin.about')}</dt><dd>{r.target ? <button class="link" onClick={() => onPerson(r.target!.username)}>{who(r.target)}</button> : t('admin.room_itself')}</dd>
        <dt>{t('room.room')}</dt><dd>{t('admin.room_line', { title: r.room_title, id: r.room_id })}</dd>
        <dt>{t('admin.reason')}</dt><dd>{t(`report.reason.${r.reason}`)}</dd>
        <dt>{t('admin.by')}</dt><dd><button class="link" onClick={() => onPerson(r.reporter.username)}>{who(r.reporter)}</button>, {clock(r.created_at_ms)}</dd>
        {r.text && <><dt>{t('admin.they_wrote')}</dt><dd>{r.text}</dd></>}
        {r.resolved_at_ms != null && <><dt>{t('admin.resolved')}</dt><dd>{t('admin.resolved_line', { at: clock(r.resolved_at_ms), name: r.resolved_by?.display_name ?? t('admin.command_line'), note: r.resolution_note ?? '' })}</dd></>}
      </dl>
      <h3 class="section">{t('admin.sound')}</h3>
      <audio controls preload="none" src={`/api/v1/admin/reports/${r.id}/audio`} aria-label={t('admin.sound_label')} />
      <p class="muted">{t('admin.sound_note')}</p>
      <h3 class="section">{t('admin.chat_around')}</h3>
      {d.chat.length === 0 ? <p class="muted">{t('admin.no_messages')}</p> : <ol class="log">{d.chat.map((m, i) => <ChatLine key={i} m={m} />)}</ol>}
      <h3 class="section">{t('admin.moderation_around')}</h3>
      {d.moderation.length === 0 ? <p class="muted">{t('admin.no_actions')}</p> : <ol class="log">{d.moderation.map((e, i) => <LogLine key={i} e={e} />)}</ol>}
      {d.earlier_reports.length > 0 && (
        <>
          <h3 class="section">{t('admin.other_reports')}</h3>
          <ul>{d.earlier_reports.map((e) => <li key={e.id}>#{e.id} {t(`report.reason.${e.reason}`)}, {clock(e.created_at_ms)}{e.resolution_note ? ` — ${e.resolution_note}` : ''}</li>)}</ul>
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
            <label for="f-resolution">{t('admin.resolution')}</label>
            <textarea id="f-resolution" rows={2} maxLength={1000} value={note} required onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
          </div>
          <div class="actions left">
            <button class="primary" type="submit">{t('admin.resolve')}</button>
            {r.target && <button type="button" onClick={() => onPerson(r.target!.username)}>{t('admin.open_to_suspend', { name: r.target.display_name })}</button>}
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
      <h2 id="people-h" class="section">{t('admin.people')}</h2>
      <form class="inline-form" onSubmit={(e) => { e.preventDefault(); void find(query); }}>
        <Field label={t('account.username')} value={query} onInput={setQuery} required />
        <button type="submit">{t('admin.look_up')}</button>
      </form>
      <ErrorNote message={error} />
      {user && (
        <div class="panel">
          <div class="bar">
            <Avatar user={user.user} />
            <h3>{user.user.display_name} <span class="muted">@{user.user.username}</span></h3>
            {user.is_admin && <span class="tag">{t('nav.admin')}</span>}
          </div>
          <p class="muted">{t('admin.signed_up', { date: day(user.created_at) })} · {t('admin.reports_against', { count: user.reports_against })}{user.deleted ? ` · ${t('admin.account_deleted')}` : ''}</p>
          {user.suspended != null && <p class="error" role="status">{t('admin.suspended', { reason: user.suspended })}</p>}
          <h4 class="section">{t('admin.invited_by')}</h4>
          {user.invited_by.length === 0 ? <p class="muted">{t('admin.invited_by_nobody')}</p> : (
            <ol class="chain">{user.invited_by.map((u) => <li key={u.id}><button class="link" onClick={() => onPerson(u.username)}>{who(u)}</button></li>)}</ol>
          )}
          <h4 class="section">{t('admin.invited', { count: user.invitees.length })}</h4>
          <ul class="invitees">
            {user.invitees.map((i) => (
              <li key={i.user.id}><button class="link" onClick={() => onPerson(i.user.username)}>{who(i.user)}</button> <span class="muted">{t('admin.invited_n', { count: i.invitees })}{i.suspended ? ` · ${t('admin.suspended_tag')}` : ''}</span></li>
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
              <Field label={t('admin.suspend_reason')} value={reason} onInput={setReason} required hint={t('admin.suspend_hint')} />
              <div class="actions left"><button class="danger" type="submit">{t('admin.suspend_person', { name: user.user.display_name })}</button></div>
            </form>
          ) : (
            <div class="actions left">
              <button onClick={async () => {
                try {
                  setUser(await post<AdminUser>(`/admin/users/${user.user.username}/unsuspend`));
                } catch (err) {
                  setError(message(err));
                }
              }}>{t('admin.lift')}</button>
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
      <h2 id="rooms-h" class="section">{t('hallway.live_rooms')}</h2>
      <ErrorNote message={error} />
      {rooms?.rooms.length === 0 && <p class="muted">{t('admin.no_live')}</p>}
      <ul class="admin-rooms">
        {rooms?.rooms.map((r) => (
          <li key={r.id}>
            <span><Link href={`/room/${r.id}`}>{r.title}</Link> <span class="muted">{t(`visibility.${r.visibility}`)} · {t('admin.on_stage_n', { count: r.stage.length })} · {t('room.listening', { count: r.listener_count })}</span></span>
            <button class="danger" onClick={async () => {
              if (!confirm(t('admin.end_confirm', { title: r.title }))) return;
              try {
                await post(`/admin/rooms/${r.id}/end`);
                window.setTimeout(load, 500);
              } catch (err) {
                setError(message(err));
              }
            }}>{t('admin.end')}</button>
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
      <h2 id="admin-clubs-h" class="section">{t('nav.clubs')}</h2>
      <ErrorNote message={error} />
      {clubs?.clubs.length === 0 && <p class="muted">{t('admin.no_club')}</p>}
      <ul class="admin-rooms">
        {clubs?.clubs.map((c) => (
          <li key={c.club.handle}>
            <span>
              <Link href={`/c/${c.club.handle}`}>{c.club.name}</Link>{' '}
              <span class="muted">/c/{c.club.handle} · {t('admin.owner', { name: c.owner.display_name })} · {t('club.members_n', { count: c.club.members })} · {t('club.followers_n', { count: c.followers })}{c.suspended ? ` · ${t('admin.suspended', { reason: c.suspended })}` : ''}</span>
            </span>
            {c.suspended
              ? <button onClick={() => act(() => post(`/admin/clubs/${c.club.handle}/unsuspend`))}>{t('admin.lift')}</button>
              : <button class="danger" onClick={() => {
                const reason = prompt(t('admin.club_suspend_prompt', { name: c.club.name }));
                if (reason) void act(() => post(`/admin/clubs/${c.club.handle}/suspend`, { reason }));
              }}>{t('admin.suspend')}</button>}
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
      <h2 id="settings-admin-h" class="section">{t('nav.settings')}</h2>
      <form onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          show(await put<AdminSettings>('/admin/settings', { invite_quota: Number(quota), room_capacity: Number(capacity) }));
          setNote(t('admin.settings_saved'));
        } catch (err) {
          setError(message(err));
        }
      }}>
        <Field label={t('admin.quota')} type="number" value={quota} onInput={setQuota} required />
        <Field label={t('admin.capacity')} type="number" value={capacity} onInput={setCapacity} required hint={t('admin.capacity_hint')} />
        <div class="actions left"><button class="primary" type="submit">{t('common.save')}</button></div>
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
      <h2 id="adminlog-h" class="section">{t('admin.log')}</h2>
      <ErrorNote message={error} />
      <ol class="log">
        {log?.entries.map((e) => (
          <li key={e.id}>
            <time class="muted" dateTime={new Date(e.created_at * 1000).toISOString()}>{clock(e.created_at * 1000)}</time>{' '}
            <strong>{e.admin?.display_name ?? t('admin.command_line_name')}</strong> {e.action.replace('_', ' ')} {e.subject_username ? `@${e.subject_username}` : e.subject}{e.detail ? ` — ${e.detail}` : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}
