// Stoa's web client: sign-up and sign-in, the hallway, rooms, profiles and invites, in one small Preact app.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { del, get, patch, post } from './api';
import { Avatar, ErrorNote, Field, Link, Modal, message, navigate } from './ui';
import { RoomClient, type RoomState } from './room';
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
      <h1>Welcome back</h1>
      <p class="lede">Sign in to hear who is talking.</p>
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
        <Field label="Username" value={username} onInput={setUsername} autocomplete="username" required />
        <Field label="Password" value={password} onInput={setPassword} type="password" autocomplete="current-password" required />
        <ErrorNote message={error} />
        <button class="primary" type="submit" disabled={busy}>Sign in</button>
      </form>
      <p class="muted">Stoa is invite-only: ask a member for an invite link to sign up.</p>
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
      <h1>You're invited to Stoa</h1>
      <p class="lede">Live conversations you can drop into. Pick a name and you're in.</p>
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
        <Field label="Username" value={username} onInput={setUsername} autocomplete="username" required hint="3 to 20 letters, digits or underscores." />
        <Field label="Display name" value={displayName} onInput={setDisplayName} autocomplete="name" required />
        <Field label="Password" value={password} onInput={setPassword} type="password" autocomplete="new-password" required hint="At least 8 characters." />
        <ErrorNote message={error} />
        <button class="primary" type="submit" disabled={busy}>Sign up</button>
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
        <h1>Hallway</h1>
        <button class="primary" onClick={() => setStarting(true)}>Start a room</button>
      </div>
      <ErrorNote message={error} />
      {rooms === undefined && !error && <p class="muted">Looking for live rooms…</p>}
      {rooms?.length === 0 && <p class="empty">No live rooms right now. Start one, and your followers will find it here.</p>}
      {rooms?.length === 0 && <SuggestedPeople />}
      <ul class="rooms" aria-label="Live rooms">
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
              <span class="room-count">{r.listener_count} listening · {r.club ? `${r.club.name} · ${r.visibility === 'closed' ? 'members only' : r.visibility === 'social' ? 'followers and members' : 'open'}` : r.visibility}</span>
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
  const [error, setError] = useState<string>();
  const help: Record<Visibility, string> = {
    open: 'Anyone on Stoa can join.',
    social: 'People you follow can join.',
    closed: 'Only the people you invite can join.',
  };
  return (
    <Modal title="Start a room" onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const names = invited.split(/[\s,]+/).map((n) => n.replace(/^@/, '')).filter(Boolean);
            const room = await post<RoomInfo>('/rooms', { title, visibility, invited: visibility === 'closed' ? names : [] });
            onClose();
            navigate(`/room/${room.id}`);
          } catch (err) {
            setError(message(err));
          }
        }}
      >
        <Field label="Title" value={title} onInput={setTitle} required />
        <fieldset class="choices">
          <legend>Who can join</legend>
          {(['open', 'social', 'closed'] as Visibility[]).map((v) => (
            <label key={v} class="choice">
              <input type="radio" name="visibility" value={v} checked={visibility === v} onChange={() => setVisibility(v)} />
              <span>
                <strong>{v[0]!.toUpperCase() + v.slice(1)}</strong> <span class="muted">{help[v]}</span>
              </span>
            </label>
          ))}
        </fieldset>
        {visibility === 'closed' && (
          <Field label="People to invite" value={invited} onInput={setInvited} hint="Usernames, separated by spaces or commas." />
        )}
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button class="primary" type="submit">Let's go</button>
        </div>
      </form>
    </Modal>
  );
}

// ---------- room ----------

function Person(props: { user: UserSummary; badge?: string; level?: number; muted?: boolean; onOpen: () => void; large?: boolean }) {
  const speaking = (props.level ?? 0) > 0.02;
  return (
    <li class={`person ${props.large ? 'on-stage' : ''}`}>
      <button class="person-button" onClick={props.onOpen}>
        <span class={`ring ${speaking ? 'speaking' : ''}`} style={{ '--level': String(Math.min(1, props.level ?? 0)) }}>
          <Avatar user={props.user} size={props.large ? 'lg' : 'md'} />
          {props.muted && <span class="badge muted-badge">Muted</span>}
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
        <h1>{s.removedReason === 'suspended' ? 'Your account is suspended' : 'Your account was deleted'}</h1>
        <p class="lede">{s.notice}</p>
        <button class="primary" onClick={() => { location.href = '/'; }}>OK</button>
        <div ref={audioHost} hidden />
      </main>
    );
  }
  if (s.phase === 'ended' || s.phase === 'removed' || s.phase === 'refused') {
    const title = s.phase === 'ended' ? 'This room has ended' : s.phase === 'removed' ? 'You left the room' : 'You can’t join this room';
    return (
      <main class="narrow center" id="main">
        <h1>{title}</h1>
        <p class="lede">{s.phase === 'ended' ? 'Thanks for listening. The conversation is over.' : s.notice}</p>
        {s.listenLink && <button class="primary" onClick={() => navigate(s.listenLink!)}>Listen on the public stream</button>}
        <button class={s.listenLink ? '' : 'primary'} onClick={() => navigate('/')}>Back to the hallway</button>
        {s.phase === 'ended' && <RecordingsSection path={`/rooms/${id}/recordings`} title="Replays and clips" />}
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
      {s.phase === 'reconnecting' && <p class="banner" role="status">Reconnecting…</p>}
      {s.phase === 'connecting' && <p class="banner" role="status">Joining…</p>}
      <div class="bar">
        <h1>{room?.title ?? 'Room'}</h1>
        <span class="muted">{room?.listener_count ?? 0} listening{room?.public_listeners ? ` · ${room.public_listeners} on the listen link` : ''}</span>
        {room?.outputs.recording && <span class="rec" role="status" aria-label="This room is being recorded">● Recording</span>}
        {room?.outputs.restream && <span class="rec" role="status" aria-label="This room is being streamed out live">● Live elsewhere</span>}
        <ShareButton url={`${location.origin}/room/${id}`} title={room?.title ?? 'A room on Stoa'} />
      </div>
      {s.autoplayBlocked && (
        <button class="primary wide" onClick={() => void client.tapToListen()}>Tap to listen</button>
      )}
      {s.notice && <p class="note" role="status">{s.notice}</p>}
      {s.micError && <p class="error" role="alert">{s.micError}</p>}
      <section aria-labelledby="stage-h">
        <h2 id="stage-h" class="section">On stage</h2>
        <ul class="people stage">
          {stage.map((m) => (
            <Person key={m.user.id} user={m.user} large badge={m.role === 'moderator' ? 'Moderator' : undefined} muted={m.muted} level={s.levels.get(m.user.id)} onOpen={() => setPerson(m.user)} />
          ))}
        </ul>
      </section>
      {followed.length > 0 && (
        <section aria-labelledby="followed-h">
          <h2 id="followed-h" class="section">Followed by the speakers</h2>
          <ul class="people">
            {followed.map((m) => <Person key={m.user.id} user={m.user} onOpen={() => setPerson(m.user)} />)}
          </ul>
        </section>
      )}
      <section aria-labelledby="others-h">
        <h2 id="others-h" class="section">Others in the room</h2>
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
            Show more people
          </button>
        )}
      </section>
      {isMod && (
        <section class="panel" aria-labelledby="hands-h">
          <h2 id="hands-h" class="section">Raised hands</h2>
          <label class="inline">
            Who can raise hands
            <select value={room?.hand_mode} onChange={(e) => client.send({ type: 'set_hand_mode', mode: (e.target as HTMLSelectElement).value as HandMode })}>
              <option value="everyone">Everyone</option>
              <option value="followed_by_speakers">Followed by the speakers</option>
              <option value="off">Nobody</option>
            </select>
          </label>
          {s.hands.length === 0 ? <p class="muted">No hands raised.</p> : (
            <ul class="hands">
              {s.hands.map((h) => (
                <li key={h.id}>
                  <Avatar user={h} size="sm" /> <span>{h.display_name}</span>
                  <button onClick={() => client.send({ type: 'invite_to_speak', user_id: h.id })}>Invite to speak</button>
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
        <div class="captions" role="log" aria-live="polite" aria-label="Live captions">
          {s.captionsLowAccuracy && <p class="waiting">Automatic captions of low accuracy: they miss many words.</p>}
          {s.captionLines.length === 0
            ? <p class="waiting">Captions appear here as people speak.</p>
            : s.captionLines.map((l) => (
              <p key={l.key}><strong>{stage.find((m) => m.user.id === l.speaker)?.user.display_name ?? 'Someone'}:</strong> {l.text}</p>
            ))}
        </div>
      )}
      <div class="controls" role="toolbar" aria-label="Room controls">
        <button onClick={() => setChatOpen(!chatOpen)} aria-expanded={chatOpen}>Chat{s.chat.messages.length > 0 ? ` (${s.chat.messages.length})` : ''}</button>
        {s.captionsAvailable && room?.outputs.captions && <button aria-pressed={s.captions} onClick={() => client.setCaptions(!s.captions)}>Captions</button>}
        <button onClick={() => { client.leave(); navigate('/'); }}>Leave quietly</button>
        {onStage && (s.muted
          ? <button class="primary" onClick={() => void client.setMuted(false)}>Unmute</button>
          : <button onClick={() => void client.setMuted(true)}>Mute</button>)}
        {!onStage && room?.hand_mode !== 'off' && (s.handRaised
          ? <button onClick={() => client.send({ type: 'lower_hand' })}>Lower hand</button>
          : <button class="primary" onClick={() => client.send({ type: 'raise_hand' })}>Raise hand</button>)}
        {(isMod || room?.visibility !== 'closed') && <button onClick={() => setPinging(true)} aria-label="Ping followers into the room">+ Ping</button>}
        {room?.outputs.clips && <ClipButton roomId={id} />}
        <button onClick={() => setMoreOpen(true)} aria-haspopup="dialog">More</button>
        {isMod && <button class="danger" onClick={() => { if (confirm('End this room for everyone?')) client.send({ type: 'end_room' }); }}>End room</button>}
      </div>
      {moreOpen && (
        <Modal title="More" onClose={() => setMoreOpen(false)}>
          <div class="menu">
            {isMod && <button onClick={() => { setMoreOpen(false); setOutputsOpen(true); }}>Recording and sharing</button>}
            {isMod && <button onClick={() => { setMoreOpen(false); setRestreamOpen(true); }}>Restream</button>}
            {isMod && <button onClick={() => { setMoreOpen(false); setLogOpen(true); }}>Moderation log</button>}
            {room?.outputs.listen_link && <button onClick={() => { setMoreOpen(false); navigate(`/listen/${id}`); }}>Public listen link</button>}
            <button aria-pressed={s.spatial} onClick={() => void client.setSpatial(!s.spatial)}>
              Spatial audio, for headphones: {s.spatial ? 'on' : 'off'}
            </button>
            <button onClick={() => { setMoreOpen(false); setReporting({}); }}>Report this room</button>
            <button onClick={() => setMoreOpen(false)}>Close</button>
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
        <Modal title="You're invited to speak" onClose={() => client.send({ type: 'decline_invite' })}>
          <p>{s.invitedBy.display_name} invites you on stage. Your microphone will be used.</p>
          <div class="actions">
            <button onClick={() => { client.send({ type: 'decline_invite' }); client.state.invitedBy = undefined; setS({ ...client.state }); }}>Maybe later</button>
            <button class="primary" onClick={() => client.send({ type: 'accept_invite' })}>Join as speaker</button>
          </div>
        </Modal>
      )}
      {target && (
        <Modal title={target.user.display_name} onClose={() => setPerson(undefined)}>
          <p class="muted">@{target.user.username}{target.role !== 'listener' ? ` · ${target.role}` : ''}</p>
          <div class="menu">
            <button onClick={act(() => navigate(`/u/${target.user.username}`))}>View profile</button>
            {isMod && target.user.id !== me.id && target.role === 'listener' && (
              <button onClick={act(() => client.send({ type: 'invite_to_speak', user_id: target.user.id }))}>Invite to speak</button>
            )}
            {isMod && target.role === 'speaker' && (
              <button onClick={act(() => client.send({ type: 'move_to_audience', user_id: target.user.id }))}>Move to audience</button>
            )}
            {isMod && target.role !== 'moderator' && (
              <button onClick={act(() => client.send({ type: 'make_moderator', user_id: target.user.id }))}>Make moderator</button>
            )}
            {isMod && target.role !== 'listener' && !target.muted && target.user.id !== me.id && (
              <button onClick={act(() => client.send({ type: 'mute', user_id: target.user.id }))}>Mute</button>
            )}
            {isMod && target.user.id !== me.id && (
              <button class="danger" onClick={act(() => client.send({ type: 'remove', user_id: target.user.id }))}>Remove from room</button>
            )}
            {target.user.id !== me.id && (
              <button onClick={act(() => setMessaging(target.user))}>Message</button>
            )}
            {target.user.id !== me.id && (
              <button onClick={act(() => setReporting({ user: target.user }))}>Report {target.user.display_name}</button>
            )}
            <button onClick={() => setPerson(undefined)}>Close</button>
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
  if (error) return <main class="narrow" id="main"><h1>Profile</h1><ErrorNote message={error} /></main>;
  if (!p) return <main class="narrow" id="main"><p class="muted">Loading…</p></main>;
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
          <p class="muted">@{p.username}{p.follows_you ? ' · Follows you' : ''}</p>
        </div>
      </div>
      {p.bio && <p class="bio">{p.bio}</p>}
      {p.links.length > 0 && (
        <ul class="links" aria-label="Links">
          {p.links.map((l) => <li key={l}><a href={l} rel="noopener noreferrer nofollow" target="_blank">{l.replace(/^https?:\/\//, '').replace(/\/$/, '')}</a></li>)}
        </ul>
      )}
      <p class="counts"><strong>{p.followers}</strong> followers · <strong>{p.following}</strong> following</p>
      {p.nominated_by && (
        <p class="muted">Nominated by <Link href={`/u/${p.nominated_by.username}`}>{p.nominated_by.display_name}</Link></p>
      )}
      {!mine && (
        <div class="actions left">
          {!p.you_block && (p.you_follow
            ? <button onClick={() => run(() => del<Profile>(`/users/${p.username}/follow`))}>Unfollow</button>
            : <button class="primary" onClick={() => run(() => post<Profile>(`/users/${p.username}/follow`))}>Follow</button>)}
          {!p.you_block && <button onClick={() => setMessaging(true)}>Message</button>}
          {p.you_block
            ? <button onClick={() => run(() => del<Profile>(`/users/${p.username}/block`))}>Unblock</button>
            : <button class="danger" onClick={() => { if (confirm(`Block ${p.display_name}? They won't be able to follow you or join rooms you moderate.`)) void run(() => post<Profile>(`/users/${p.username}/block`)); }}>Block</button>}
        </div>
      )}
      {mine && !editing && <button onClick={() => { setName(p.display_name); setBio(p.bio); setLinks(p.links.join(' ')); setEditing(true); }}>Edit profile</button>}
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
          <Field label="Display name" value={name} onInput={setName} required />
          <div class="field">
            <label for="f-bio">Bio</label>
            <textarea id="f-bio" rows={3} maxLength={300} value={bio} onInput={(e) => setBio((e.target as HTMLTextAreaElement).value)} />
          </div>
          <Field label="Links" value={links} onInput={setLinks} hint="Up to two web addresses, separated by a space." />
          <AvatarUpload onMe={(m) => { onMe(m); setP({ ...p, avatar: m.avatar }); }} />
          <div class="actions left">
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
            <button class="primary" type="submit">Save</button>
          </div>
        </form>
      )}
      <ErrorNote message={error} />
      {messaging && <MessageSheet user={p} me={me} onClose={() => setMessaging(false)} />}
      <ClubsOf username={p.username} />
      <HostedEvents username={p.username} />
      <RecordingsSection path={`/users/${p.username}/recordings`} title="Replays" />
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
      <h1>Invites</h1>
      <p class="lede">{list ? `You have ${list.remaining} of ${list.quota} invites left.` : 'Loading…'}</p>
      <button class="primary" disabled={list?.remaining === 0} onClick={async () => {
        try {
          await post('/invites');
          setError(undefined);
          await load();
        } catch (e) {
          setError(message(e));
        }
      }}>Create invite</button>
      <ErrorNote message={error} />
      <ul class="invites" aria-label="Your invites">
        {list?.invites.map((i) => (
          <li key={i.code}>
            <code class="invite-link">{i.url}</code>
            {i.used_by
              ? <span class="muted">Used by <Link href={`/u/${i.used_by.username}`}>{i.used_by.display_name}</Link></span>
              : <button onClick={async () => { await navigator.clipboard?.writeText(i.url).catch(() => undefined); setCopied(i.code); }}>{copied === i.code ? 'Copied' : 'Copy link'}</button>}
          </li>
        ))}
      </ul>
    </main>
  );
}

// ---------- app ----------

function App() {
  // The query string counts as a new page (a new search), but routes match the path alone.
  const path = usePath().split('?')[0]!;
  const [me, setMe] = useState<Me | null>();
  useEffect(() => {
    get<Me>('/me').then(setMe, () => setMe(null));
  }, []);
  const invite = path.match(/^\/invite\/([^/]+)$/);
  // The listen link is for anyone, signed in or not.
  const listen = path.match(/^\/listen\/([a-z0-9]+)$/);
  if (listen) return <Shell me={me ?? null}><ListenPage id={listen[1]!} /></Shell>;
  const recording = path.match(/^\/r\/([A-Za-z0-9]+)$/);
  if (me === undefined) return <main id="main" class="center"><p class="muted">Loading…</p></main>;
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
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <Link href="/" class="brand">Stoa</Link>
        {props.me && (
          <nav aria-label="Main">
            <SearchBox />
            <Bell />
            <Link href="/">Hallway</Link>
            <Link href="/clubs">Clubs</Link>
            <MessagesLink />
            <Link href="/invites">Invites</Link>
            <Link href={`/u/${props.me.username}`}>Profile</Link>
            <Link href="/settings">Settings</Link>
            {props.me.is_admin && <Link href="/admin">Admin</Link>}
            <button class="link" onClick={async () => {
              await post('/auth/logout').catch(() => undefined);
              props.onSignOut?.();
              navigate('/');
            }}>Sign out</button>
          </nav>
        )}
      </header>
      {props.children}
    </>
  );
}

render(<App />, document.getElementById('app')!);
