// Stoa's web client: sign-up and sign-in, the hallway, rooms, profiles and invites, in one small Preact app.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { del, get, patch, post } from './api';
import { Avatar, ErrorNote, Field, Link, Modal, message, navigate } from './ui';
import { lang, num, onLangChange, t, tx } from './i18n';
import { RoomClient, type RoomState } from './room';
import type { KeysState } from './e2ee-room';
import { ChatSheet, ReactionBar } from './chat';
import { AccountSettings, AdminConsole, ModerationLogDialog, ReportDialog } from './community';
import { ClubPage, ClubsOf, ClubsPage } from './clubs';
import { MessageSheet, MessagesLink, MessagesPage, NewMessagePage, ThreadPage } from './messages';
import { ClipButton, ListenPage, OutputsDialog, RecordingPage, RecordingsSection, RestreamDialog } from './egress';
import { AvatarUpload, Bell, EventPage, HostedEvents, PingFollowers, SearchBox, SearchPage, Settings, ShareButton, SharePreview, SuggestedPeople, Upcoming } from './social';
import type { AudiencePage, Hallway, HandMode, InviteList, Me, Profile, RoomInfo, UserSummary, Visibility } from './wire';
import './styles.css';

// ---------- routing ----------

function usePath(): string {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setPath(location.pathname + location.search);
    window.addEventListener('popstate', on);
    window.addEventListener('stoa:navigate', on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener('stoa:navigate', on);
    };
  }, []);
  return path;
}

// ---------- accounts ----------

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main class="narrow" id="main">
      <h1>{t('signin.title')}</h1>
      <p class="lede">{t('signin.lede')}</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            const res = await post<{ user: Me }>('/auth/login', { username, password });
            onSignedIn(res.user);
          } catch (err) {
            setError(message(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label={t('account.username')} value={username} onInput={setUsername} autocomplete="username" required />
        <Field label={t('account.password')} value={password} onInput={setPassword} type="password" autocomplete="current-password" required />
        <ErrorNote message={error} />
        <button class="primary" type="submit" disabled={busy}>{t('signin.submit')}</button>
      </form>
      <p class="muted">{t('signin.invite_only')}</p>
    </main>
  );
}

function SignUp({ code, onSignedIn }: { code: string; onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main class="narrow" id="main">
      <h1>{t('signup.title')}</h1>
      <p class="lede">{t('signup.lede')}</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            const res = await post<{ user: Me }>('/auth/signup', { invite: code, username, display_name: displayName, password });
            onSignedIn(res.user);
            navigate('/');
          } catch (err) {
            setError(message(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label={t('account.username')} value={username} onInput={setUsername} autocomplete="username" required hint={t('signup.username_hint')} />
        <Field label={t('account.display_name')} value={displayName} onInput={setDisplayName} autocomplete="name" required />
        <Field label={t('account.password')} value={password} onInput={setPassword} type="password" autocomplete="new-password" required hint={t('signup.password_hint')} />
        <ErrorNote message={error} />
        <button class="primary" type="submit" disabled={busy}>{t('signup.submit')}</button>
      </form>
    </main>
  );
}

// ---------- hallway ----------

function Hallway({ me }: { me: Me }) {
  const [rooms, setRooms] = useState<RoomInfo[]>();
  const [error, setError] = useState<string>();
  const [starting, setStarting] = useState(false);
  useEffect(() => {
    let alive = true;
    const load = async () => {
      try {
        const h = await get<Hallway>('/rooms');
        if (alive) {
          setRooms(h.rooms);
          setError(undefined);
        }
      } catch (err) {
        if (alive) setError(message(err));
      }
    };
    void load();
    // The hallway keeps itself fresh while it is on screen.
    const timer = window.setInterval(load, 3000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, []);
  return (
    <main id="main">
      <div class="bar">
        <h1>{t('hallway.title')}</h1>
        <button class="primary" onClick={() => setStarting(true)}>{t('hallway.start')}</button>
      </div>
      <ErrorNote message={error} />
      {rooms === undefined && !error && <p class="muted">{t('hallway.looking')}</p>}
      {rooms?.length === 0 && <p class="empty">{t('hallway.empty')}</p>}
      {rooms?.length === 0 && <SuggestedPeople />}
      <ul class="rooms" aria-label={t('hallway.live_rooms')}>
        {rooms?.map((r) => (
          <li key={r.id}>
            <Link href={`/room/${r.id}`} class="room-card">
              <span class="room-title">{r.title}</span>
              <span class="room-stage">
                {r.stage.slice(0, 6).map((m) => (
                  <span class="room-speaker" key={m.user.id}>
                    <Avatar user={m.user} size="sm" /> {m.user.display_name}
                  </span>
                ))}
              </span>
              <span class="room-count">{t('room.listening', { count: r.listener_count })} · {r.club ? `${r.club.name} · ${t(`club.room_visibility.${r.visibility}`)}` : t(`visibility.${r.visibility}`)}</span>
            </Link>
          </li>
        ))}
      </ul>
      <Upcoming />
      {starting && <StartRoom me={me} onClose={() => setStarting(false)} />}
    </main>
  );
}

function StartRoom({ onClose }: { me: Me; onClose: () => void }) {
  const [title, setTitle] = useState('');
  const [visibility, setVisibility] = useState<Visibility>('open');
  const [invited, setInvited] = useState('');
  const [e2ee, setE2ee] = useState(false);
  const [error, setError] = useState<string>();
  const help: Record<Visibility, string> = {
    open: t('start.help.open'),
    social: t('start.help.social'),
    closed: t('start.help.closed'),
  };
  return (
    <Modal title={t('hallway.start')} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const names = invited.split(/[\s,]+/).map((n) => n.replace(/^@/, '')).filter(Boolean);
            const closed = visibility === 'closed';
            const room = await post<RoomInfo>('/rooms', { title, visibility, invited: closed ? names : [], e2ee: closed && e2ee });
            onClose();
            navigate(`/room/${room.id}`);
          } catch (err) {
            setError(message(err));
          }
        }}
      >
        <Field label={t('start.title')} value={title} onInput={setTitle} required />
        <fieldset class="choices">
          <legend>{t('start.who')}</legend>
          {(['open', 'social', 'closed'] as Visibility[]).map((v) => (
            <label key={v} class="choice">
              <input type="radio" name="visibility" value={v} checked={visibility === v} onChange={() => setVisibility(v)} />
              <span>
                <strong>{t(`start.visibility.${v}`)}</strong> <span class="muted">{help[v]}</span>
              </span>
            </label>
          ))}
        </fieldset>
        {visibility === 'closed' && (
          <Field label={t('start.invited')} value={invited} onInput={setInvited} hint={t('start.invited_hint')} />
        )}
        {visibility === 'closed' && (
          <label class="check">
            <input type="checkbox" checked={e2ee} onChange={(e) => setE2ee((e.target as HTMLInputElement).checked)} /> {t('start.e2ee')} <span class="muted">{t('start.e2ee_note')}</span>
          </label>
        )}
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>{t('common.cancel')}</button>
          <button class="primary" type="submit">{t('start.go')}</button>
        </div>
      </form>
    </Modal>
  );
}

// ---------- room ----------

/// An end-to-end encrypted room's lock, what it means, and this device's safety code to compare aloud.
function E2eeBadge({ keys }: { keys?: KeysState }) {
  return (
    <details class="e2ee">
      <summary><span class="role-badge">🔒 {t('room.e2ee')}</span>{keys?.code && <> · {t('room.safety_code')} <strong class="safety-code">{keys.code}</strong></>}</summary>
      <p>{t('room.e2ee_about')}</p>
      {!keys?.code && <p role="status">{t(keys?.problem === 'refused' ? 'room.e2ee_refused' : keys?.problem === 'unsupported' ? 'room.e2ee_unsupported' : 'room.e2ee_waiting')}</p>}
    </details>
  );
}

function Person(props: { user: UserSummary; badge?: string; level?: number; muted?: boolean; onOpen: () => void; large?: boolean }) {
  const speaking = (props.level ?? 0) > 0.02;
  return (
    <li class={`person ${props.large ? 'on-stage' : ''}`}>
      <button class="person-button" onClick={props.onOpen}>
        <span class={`ring ${speaking ? 'speaking' : ''}`} style={{ '--level': String(Math.min(1, props.level ?? 0)) }}>
          <Avatar user={props.user} size={props.large ? 'lg' : 'md'} />
          {props.muted && <span class="badge muted-badge">{t('room.muted')}</span>}
        </span>
        <span class="person-name">{props.user.display_name}</span>
        {props.badge && <span class="role-badge">{props.badge}</span>}
      </button>
    </li>
  );
}

function RoomView({ id, me }: { id: string; me: Me }) {
  const audioHost = useRef<HTMLDivElement>(null);
  const [client, setClient] = useState<RoomClient>();
  const [s, setS] = useState<RoomState>();
  const [audience, setAudience] = useState<AudiencePage>();
  const [more, setMore] = useState<AudiencePage['members']>([]);
  const [person, setPerson] = useState<UserSummary>();
  const [pinging, setPinging] = useState(false);
  const [chatOpen, setChatOpen] = useState(false);
  const [reporting, setReporting] = useState<{ user?: UserSummary }>();
  const [messaging, setMessaging] = useState<UserSummary>();
  const [logOpen, setLogOpen] = useState(false);
  const [moreOpen, setMoreOpen] = useState(false);
  const [outputsOpen, setOutputsOpen] = useState(false);
  const [restreamOpen, setRestreamOpen] = useState(false);
  useEffect(() => {
    const c = new RoomClient(id, audioHost.current!);
    setClient(c);
    const unsub = c.subscribe(setS);
    c.connect();
    return () => {
      unsub();
      c.close();
    };
  }, [id]);
  useEffect(() => {
    if (s?.phase !== 'live') return;
    let alive = true;
    const load = async () => {
      try {
        const page = await get<AudiencePage>(`/rooms/${id}/audience?limit=50`);
        if (alive) setAudience(page);
      } catch {
        /* the room may have just ended; its own event will say so */
      }
    };
    void load();
    const timer = window.setInterval(load, 4000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [id, s?.phase]);

  if (!s || !client) return <main id="main"><div ref={audioHost} /></main>;
  if (s.phase === 'removed' && (s.removedReason === 'suspended' || s.removedReason === 'account_deleted')) {
    // Signed out everywhere: the only way on is the sign-in page.
    return (
      <main class="narrow center" id="main">
        <h1>{s.removedReason === 'suspended' ? t('room.suspended') : t('room.account_deleted')}</h1>
        <p class="lede">{s.notice}</p>
        <button class="primary" onClick={() => { location.href = '/'; }}>{t('common.ok')}</button>
        <div ref={audioHost} hidden />
      </main>
    );
  }
  if (s.phase === 'ended' || s.phase === 'removed' || s.phase === 'refused') {
    const title = s.phase === 'ended' ? t('room.ended') : s.phase === 'removed' ? t('room.left') : t('room.refused');
    return (
      <main class="narrow center" id="main">
        <h1>{title}</h1>
        <p class="lede">{s.phase === 'ended' ? t('room.ended_lede') : s.notice}</p>
        {s.listenLink && <button class="primary" onClick={() => navigate(s.listenLink!)}>{t('room.listen_public')}</button>}
        <button class={s.listenLink ? '' : 'primary'} onClick={() => navigate('/')}>{t('room.back')}</button>
        {s.phase === 'ended' && <RecordingsSection path={`/rooms/${id}/recordings`} title={t('recordings.replays_and_clips')} />}
        <div ref={audioHost} hidden />
      </main>
    );
  }
  const room = s.room;
  const isMod = s.role === 'moderator';
  const onStage = s.role !== 'listener';
  const stage = room?.stage ?? [];
  const members = [...(audience?.members ?? []), ...more.filter((m) => !audience?.members.some((a) => a.user.id === m.user.id))];
  const followed = members.filter((m) => m.followed_by_speakers);
  const others = members.filter((m) => !m.followed_by_speakers);
  const target = person && (stage.find((m) => m.user.id === person.id) ?? { user: person, role: 'listener' as const, muted: false });
  const act = (f: () => void) => () => {
    f();
    setPerson(undefined);
  };
  return (
    <main id="main" class="room">
      <div ref={audioHost} hidden />
      {s.phase === 'reconnecting' && <p class="banner" role="status">{t('room.reconnecting')}</p>}
      {s.phase === 'connecting' && <p class="banner" role="status">{t('room.joining')}</p>}
      <div class="bar">
        <h1>{room?.title ?? t('room.room')}</h1>
        <span class="muted">{t('room.listening', { count: room?.listener_count ?? 0 })}{room?.public_listeners ? ` · ${t('room.on_listen_link', { count: room.public_listeners })}` : ''}</span>
        {room?.outputs.recording && <span class="rec" role="status" aria-label={t('room.recorded')}>● {t('room.recording')}</span>}
        {room?.outputs.restream && <span class="rec" role="status" aria-label={t('room.restreamed')}>● {t('room.live_elsewhere')}</span>}
        {room?.e2ee && <E2eeBadge keys={s.e2ee} />}
        <ShareButton url={`${location.origin}/room/${id}`} title={room?.title ?? t('room.a_room')} />
      </div>
      {s.autoplayBlocked && (
        <button class="primary wide" onClick={() => void client.tapToListen()}>{t('room.tap_to_listen')}</button>
      )}
      {s.notice && <p class="note" role="status">{s.notice}</p>}
      {s.micError && <p class="error" role="alert">{s.micError}</p>}
      <section aria-labelledby="stage-h">
        <h2 id="stage-h" class="section">{t('room.on_stage')}</h2>
        <ul class="people stage">
          {stage.map((m) => (
            <Person key={m.user.id} user={m.user} large badge={m.role === 'moderator' ? t('role.moderator') : undefined} muted={m.muted} level={s.levels.get(m.user.id)} onOpen={() => setPerson(m.user)} />
          ))}
        </ul>
      </section>
      {followed.length > 0 && (
        <section aria-labelledby="followed-h">
          <h2 id="followed-h" class="section">{t('room.followed')}</h2>
          <ul class="people">
            {followed.map((m) => <Person key={m.user.id} user={m.user} onOpen={() => setPerson(m.user)} />)}
          </ul>
        </section>
      )}
      <section aria-labelledby="others-h">
        <h2 id="others-h" class="section">{t('room.others')}</h2>
        <ul class="people">
          {others.map((m) => <Person key={m.user.id} user={m.user} onOpen={() => setPerson(m.user)} />)}
        </ul>
        {audience?.next_offset != null && (
          <button
            onClick={async () => {
              const page = await get<AudiencePage>(`/rooms/${id}/audience?limit=50&offset=${audience.next_offset! + more.length}`);
              setMore([...more, ...page.members]);
            }}
          >
            {t('room.more_people')}
          </button>
        )}
      </section>
      {isMod && (
        <section class="panel" aria-labelledby="hands-h">
          <h2 id="hands-h" class="section">{t('room.hands')}</h2>
          <label class="inline">
            {t('room.hand_mode')}
            <select value={room?.hand_mode} onChange={(e) => client.send({ type: 'set_hand_mode', mode: (e.target as HTMLSelectElement).value as HandMode })}>
              <option value="everyone">{t('room.hand_mode.everyone')}</option>
              <option value="followed_by_speakers">{t('room.followed')}</option>
              <option value="off">{t('room.hand_mode.off')}</option>
            </select>
          </label>
          {s.hands.length === 0 ? <p class="muted">{t('room.no_hands')}</p> : (
            <ul class="hands">
              {s.hands.map((h) => (
                <li key={h.id}>
                  <Avatar user={h} size="sm" /> <span>{h.display_name}</span>
                  <button onClick={() => client.send({ type: 'invite_to_speak', user_id: h.id })}>{t('room.invite_to_speak')}</button>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      {/* With the chat open, the reactions move into its sheet, where a thumb reaches them. */}
      {!chatOpen && <ReactionBar client={client} s={s} />}
      {chatOpen && <ChatSheet client={client} s={s} onClose={() => setChatOpen(false)} onReport={(user) => setReporting({ user })} />}
      {s.captions && (
        <div class="captions" role="log" aria-live="polite" aria-label={t('captions.region')}>
          {s.captionsLowAccuracy && <p class="waiting">{t('captions.low_accuracy')}</p>}
          {s.captionLines.length === 0
            ? <p class="waiting">{t('captions.waiting')}</p>
            : s.captionLines.map((l) => (
              <p key={l.key}>{tx('captions.line', { name: <strong>{stage.find((m) => m.user.id === l.speaker)?.user.display_name ?? t('captions.someone')}</strong>, text: l.text })}</p>
            ))}
        </div>
      )}
      <div class="controls" role="toolbar" aria-label={t('room.controls')}>
        <button onClick={() => setChatOpen(!chatOpen)} aria-expanded={chatOpen}>{s.chat.messages.length > 0 ? t('room.chat_count', { count: s.chat.messages.length }) : t('room.chat')}</button>
        {s.captionsAvailable && room?.outputs.captions && <button aria-pressed={s.captions} onClick={() => client.setCaptions(!s.captions)}>{t('captions.button')}</button>}
        <button onClick={() => { client.leave(); navigate('/'); }}>{t('room.leave')}</button>
        {onStage && (s.muted
          ? <button class="primary" onClick={() => void client.setMuted(false)}>{t('room.unmute')}</button>
          : <button onClick={() => void client.setMuted(true)}>{t('room.mute')}</button>)}
        {!onStage && room?.hand_mode !== 'off' && (s.handRaised
          ? <button onClick={() => client.send({ type: 'lower_hand' })}>{t('room.lower_hand')}</button>
          : <button class="primary" onClick={() => client.send({ type: 'raise_hand' })}>{t('room.raise_hand')}</button>)}
        {(isMod || room?.visibility !== 'closed') && <button onClick={() => setPinging(true)} aria-label={t('room.ping_label')}>{t('room.ping')}</button>}
        {room?.outputs.clips && <ClipButton roomId={id} />}
        <button onClick={() => setMoreOpen(true)} aria-haspopup="dialog">{t('room.more')}</button>
        {isMod && <button class="danger" onClick={() => { if (confirm(t('room.end_confirm'))) client.send({ type: 'end_room' }); }}>{t('room.end')}</button>}
      </div>
      {moreOpen && (
        <Modal title={t('room.more')} onClose={() => setMoreOpen(false)}>
          <div class="menu">
            {isMod && <button onClick={() => { setMoreOpen(false); setOutputsOpen(true); }}>{t('outputs.title')}</button>}
            {isMod && <button onClick={() => { setMoreOpen(false); setRestreamOpen(true); }}>{t('room.restream')}</button>}
            {isMod && <button onClick={() => { setMoreOpen(false); setLogOpen(true); }}>{t('modlog.title')}</button>}
            {room?.outputs.listen_link && <button onClick={() => { setMoreOpen(false); navigate(`/listen/${id}`); }}>{t('room.public_listen_link')}</button>}
            <button aria-pressed={s.spatial} onClick={() => void client.setSpatial(!s.spatial)}>
              {s.spatial ? t('room.spatial_on') : t('room.spatial_off')}
            </button>
            <button onClick={() => { setMoreOpen(false); setReporting({}); }}>{t('room.report')}</button>
            <button onClick={() => setMoreOpen(false)}>{t('common.close')}</button>
          </div>
        </Modal>
      )}
      {reporting && <ReportDialog roomId={id} user={reporting.user} onClose={() => setReporting(undefined)} />}
      {messaging && <MessageSheet user={messaging} me={me} onClose={() => setMessaging(undefined)} />}
      {logOpen && <ModerationLogDialog roomId={id} onClose={() => setLogOpen(false)} />}
      {outputsOpen && room && <OutputsDialog client={client} room={room} onClose={() => setOutputsOpen(false)} onRestream={() => { setOutputsOpen(false); setRestreamOpen(true); }} />}
      {restreamOpen && <RestreamDialog roomId={id} onClose={() => setRestreamOpen(false)} />}
      {pinging && <PingFollowers roomId={id} me={me} onClose={() => setPinging(false)} />}
      {s.invitedBy && (
        <Modal title={t('room.invited_title')} onClose={() => client.send({ type: 'decline_invite' })}>
          <p>{t('room.invited', { name: s.invitedBy.display_name })}</p>
          <div class="actions">
            <button onClick={() => { client.send({ type: 'decline_invite' }); client.state.invitedBy = undefined; setS({ ...client.state }); }}>{t('room.maybe_later')}</button>
            <button class="primary" onClick={() => client.send({ type: 'accept_invite' })}>{t('room.join_as_speaker')}</button>
          </div>
        </Modal>
      )}
      {target && (
        <Modal title={target.user.display_name} onClose={() => setPerson(undefined)}>
          <p class="muted">@{target.user.username}{target.role !== 'listener' ? ` · ${t(`role.${target.role}`)}` : ''}</p>
          <div class="menu">
            <button onClick={act(() => navigate(`/u/${target.user.username}`))}>{t('room.view_profile')}</button>
            {isMod && target.user.id !== me.id && target.role === 'listener' && (
              <button onClick={act(() => client.send({ type: 'invite_to_speak', user_id: target.user.id }))}>{t('room.invite_to_speak')}</button>
            )}
            {isMod && target.role === 'speaker' && (
              <button onClick={act(() => client.send({ type: 'move_to_audience', user_id: target.user.id }))}>{t('room.move_to_audience')}</button>
            )}
            {isMod && target.role !== 'moderator' && (
              <button onClick={act(() => client.send({ type: 'make_moderator', user_id: target.user.id }))}>{t('room.make_moderator')}</button>
            )}
            {isMod && target.role !== 'listener' && !target.muted && target.user.id !== me.id && (
              <button onClick={act(() => client.send({ type: 'mute', user_id: target.user.id }))}>{t('room.mute')}</button>
            )}
            {isMod && target.user.id !== me.id && (
              <button class="danger" onClick={act(() => client.send({ type: 'remove', user_id: target.user.id }))}>{t('room.remove')}</button>
            )}
            {target.user.id !== me.id && (
              <button onClick={act(() => setMessaging(target.user))}>{t('profile.message')}</button>
            )}
            {target.user.id !== me.id && (
              <button onClick={act(() => setReporting({ user: target.user }))}>{t('room.report_person', { name: target.user.display_name })}</button>
            )}
            <button onClick={() => setPerson(undefined)}>{t('common.close')}</button>
          </div>
        </Modal>
      )}
    </main>
  );
}

// ---------- profile and invites ----------

function ProfileView({ username, me, onMe }: { username: string; me: Me; onMe: (m: Me) => void }) {
  const [p, setP] = useState<Profile>();
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState(false);
  const [messaging, setMessaging] = useState(false);
  const [name, setName] = useState('');
  const [bio, setBio] = useState('');
  const [links, setLinks] = useState('');
  useEffect(() => {
    get<Profile>(`/users/${username}`).then(setP, (e) => setError(message(e)));
  }, [username]);
  if (error) return <main class="narrow" id="main"><h1>{t('nav.profile')}</h1><ErrorNote message={error} /></main>;
  if (!p) return <main class="narrow" id="main"><p class="muted">{t('common.loading')}</p></main>;
  const mine = p.id === me.id;
  const run = async (f: () => Promise<Profile>) => {
    try {
      setP(await f());
      setError(undefined);
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <main class="narrow" id="main">
      <div class="profile-head">
        <Avatar user={p} size="lg" src={p.avatar} />
        <div>
          <h1>{p.display_name}</h1>
          <p class="muted">@{p.username}{p.follows_you ? ` · ${t('profile.follows_you')}` : ''}</p>
        </div>
      </div>
      {p.bio && <p class="bio">{p.bio}</p>}
      {p.links.length > 0 && (
        <ul class="links" aria-label={t('profile.links')}>
          {p.links.map((l) => <li key={l}><a href={l} rel="noopener noreferrer nofollow" target="_blank">{l.replace(/^https?:\/\//, '').replace(/\/$/, '')}</a></li>)}
        </ul>
      )}
      <p class="counts">{tx('profile.followers', { n: <strong>{num(p.followers)}</strong> }, { count: p.followers })} · {tx('profile.following', { n: <strong>{num(p.following)}</strong> }, { count: p.following })}</p>
      {p.nominated_by && (
        <p class="muted">{tx('profile.nominated_by', { name: <Link href={`/u/${p.nominated_by.username}`}>{p.nominated_by.display_name}</Link> })}</p>
      )}
      {!mine && (
        <div class="actions left">
          {!p.you_block && (p.you_follow
            ? <button onClick={() => run(() => del<Profile>(`/users/${p.username}/follow`))}>{t('profile.unfollow')}</button>
            : <button class="primary" onClick={() => run(() => post<Profile>(`/users/${p.username}/follow`))}>{t('profile.follow')}</button>)}
          {!p.you_block && <button onClick={() => setMessaging(true)}>{t('profile.message')}</button>}
          {p.you_block
            ? <button onClick={() => run(() => del<Profile>(`/users/${p.username}/block`))}>{t('profile.unblock')}</button>
            : <button class="danger" onClick={() => { if (confirm(t('profile.block_confirm', { name: p.display_name }))) void run(() => post<Profile>(`/users/${p.username}/block`)); }}>{t('profile.block')}</button>}
        </div>
      )}
      {mine && !editing && <button onClick={() => { setName(p.display_name); setBio(p.bio); setLinks(p.links.join(' ')); setEditing(true); }}>{t('profile.edit')}</button>}
      {mine && editing && (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              const updated = await patch<Me>('/me', { display_name: name, bio, links: links.split(/\s+/).filter(Boolean) });
              onMe(updated);
              setP({ ...p, display_name: updated.display_name, bio: updated.bio, links: updated.links, avatar: updated.avatar });
              setEditing(false);
            } catch (err) {
              setError(message(err));
            }
          }}
        >
          <Field label={t('account.display_name')} value={name} onInput={setName} required />
          <div class="field">
            <label for="f-bio">{t('profile.bio')}</label>
            <textarea id="f-bio" rows={3} maxLength={300} value={bio} onInput={(e) => setBio((e.target as HTMLTextAreaElement).value)} />
          </div>
          <Field label={t('profile.links')} value={links} onInput={setLinks} hint={t('profile.links_hint')} />
          <AvatarUpload onMe={(m) => { onMe(m); setP({ ...p, avatar: m.avatar }); }} />
          <div class="actions left">
            <button type="button" onClick={() => setEditing(false)}>{t('common.cancel')}</button>
            <button class="primary" type="submit">{t('common.save')}</button>
          </div>
        </form>
      )}
      <ErrorNote message={error} />
      {messaging && <MessageSheet user={p} me={me} onClose={() => setMessaging(false)} />}
      <ClubsOf username={p.username} />
      <HostedEvents username={p.username} />
      <RecordingsSection path={`/users/${p.username}/recordings`} title={t('recordings.replays')} />
      {mine && <Settings />}
    </main>
  );
}

function Invites() {
  const [list, setList] = useState<InviteList>();
  const [error, setError] = useState<string>();
  const [copied, setCopied] = useState<string>();
  // Only the newest load's answer counts: the page's first load, answered after a create's reload, would
  // otherwise put back the list from before the new invite.
  const loads = useRef(0);
  const load = () => {
    const n = ++loads.current;
    return get<InviteList>('/invites').then((l) => n === loads.current && setList(l), (e) => setError(message(e)));
  };
  useEffect(() => void load(), []);
  return (
    <main class="narrow" id="main">
      <h1>{t('nav.invites')}</h1>
      <p class="lede">{list ? t('invites.left', { count: list.remaining, quota: list.quota }) : t('common.loading')}</p>
      <button class="primary" disabled={list?.remaining === 0} onClick={async () => {
        try {
          await post('/invites');
          setError(undefined);
          await load();
        } catch (e) {
          setError(message(e));
        }
      }}>{t('invites.create')}</button>
      <ErrorNote message={error} />
      <ul class="invites" aria-label={t('invites.yours')}>
        {list?.invites.map((i) => (
          <li key={i.code}>
            <code class="invite-link">{i.url}</code>
            {i.used_by
              ? <span class="muted">{tx('invites.used_by', { name: <Link href={`/u/${i.used_by.username}`}>{i.used_by.display_name}</Link> })}</span>
              : <button onClick={async () => { await navigator.clipboard?.writeText(i.url).catch(() => undefined); setCopied(i.code); }}>{copied === i.code ? t('common.copied') : t('common.copy_link')}</button>}
          </li>
        ))}
      </ul>
    </main>
  );
}

// ---------- app ----------

function App() {
  // A new language re-renders every page in place (a room stays connected).
  const [langTick, setLangTick] = useState(0);
  useEffect(() => onLangChange(() => setLangTick((n) => n + 1)), []);
  // The query string counts as a new page (a new search), but routes match the path alone.
  const path = usePath().split('?')[0]!;
  const [me, setMe] = useState<Me | null>();
  useEffect(() => {
    get<Me>('/me').then(setMe, () => setMe(null));
  }, []);
  // What the server writes to this person (web push, the calendar feed) follows the language they read.
  useEffect(() => {
    if (me && me.language !== lang()) void patch<Me>('/me', { language: lang() }).then(setMe, () => undefined);
  }, [me?.id, me?.language, langTick]);
  const invite = path.match(/^\/invite\/([^/]+)$/);
  // The listen link is for anyone, signed in or not.
  const listen = path.match(/^\/listen\/([a-z0-9]+)$/);
  if (listen) return <Shell me={me ?? null}><ListenPage id={listen[1]!} /></Shell>;
  const recording = path.match(/^\/r\/([A-Za-z0-9]+)$/);
  if (me === undefined) return <main id="main" class="center"><p class="muted">{t('common.loading')}</p></main>;
  if (invite && !me) return <Shell me={null}><SignUp code={decodeURIComponent(invite[1]!)} onSignedIn={setMe} /></Shell>;
  if (!me) {
    // A shared link to an open room or event shows what it is before asking to sign in.
    const shared = path.match(/^\/(room|event|c)\/([a-z0-9_]+)$/);
    const signIn = <SignIn onSignedIn={setMe} />;
    const kind = shared?.[1] === 'c' ? 'club' : (shared?.[1] as 'room' | 'event');
    if (shared) return <Shell me={null}><SharePreview key={path} kind={kind} id={shared[2]!} signIn={signIn} /></Shell>;
    // An open room's clip plays for anyone; anything else asks to sign in.
    if (recording) return <Shell me={null}><RecordingPage key={path} id={recording[1]!} signIn={signIn} /></Shell>;
    return <Shell me={null}>{signIn}</Shell>;
  }
  const room = path.match(/^\/room\/([a-z0-9]+)$/);
  const user = path.match(/^\/u\/([^/]+)$/);
  const event = path.match(/^\/event\/([a-z0-9]+)$/);
  const club = path.match(/^\/c\/([A-Za-z0-9_]+)(\/requests)?$/);
  const thread = path.match(/^\/messages\/([0-9]+)$/);
  let page;
  if (room) page = <RoomView key={room[1]} id={room[1]!} me={me} />;
  else if (user) page = <ProfileView key={user[1]} username={decodeURIComponent(user[1]!)} me={me} onMe={setMe} />;
  else if (event) page = <EventPage key={event[1]} id={event[1]!} />;
  else if (recording) page = <RecordingPage key={recording[1]} id={recording[1]!} />;
  else if (club) page = <ClubPage key={club[1]} handle={club[1]!.toLowerCase()} />;
  else if (path === '/clubs') page = <ClubsPage />;
  else if (path === '/messages') page = <MessagesPage />;
  else if (path === '/messages/new') page = <NewMessagePage key={location.search} />;
  else if (thread) page = <ThreadPage key={thread[1]} id={Number(thread[1])} me={me} />;
  else if (path === '/search') page = <SearchPage key={location.search} />;
  else if (path === '/invites') page = <Invites />;
  else if (path === '/settings') page = <AccountSettings me={me} />;
  else if (path === '/admin') page = <AdminConsole />;
  else page = <Hallway me={me} />;
  return <Shell me={me} onSignOut={() => setMe(null)}>{page}</Shell>;
}

function Shell(props: { me: Me | null; onSignOut?: () => void; children: ComponentChildren }) {
  return (
    <>
      <a class="skip" href="#main">{t('nav.skip')}</a>
      <header class="top">
        <Link href="/" class="brand">Stoa</Link>
        {props.me && (
          <nav aria-label={t('nav.main')}>
            <SearchBox />
            <Bell />
            <Link href="/">{t('hallway.title')}</Link>
            <Link href="/clubs">{t('nav.clubs')}</Link>
            <MessagesLink />
            <Link href="/invites">{t('nav.invites')}</Link>
            <Link href={`/u/${props.me.username}`}>{t('nav.profile')}</Link>
            <Link href="/settings">{t('nav.settings')}</Link>
            {props.me.is_admin && <Link href="/admin">{t('nav.admin')}</Link>}
            <button class="link" onClick={async () => {
              await post('/auth/logout').catch(() => undefined);
              props.onSignOut?.();
              navigate('/');
            }}>{t('nav.sign_out')}</button>
          </nav>
        )}
      </header>
      {props.children}
    </>
  );
}

render(<App />, document.getElementById('app')!);
