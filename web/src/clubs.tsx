// Clubs: a person's clubs, invitations and requests (/clubs), making a club, a club's page (/c/HANDLE) with
// its rooms, events, replays and members, joining and following, and, for its admins, requests,
// invitations, roles, bans and its avatar; its leaders start its rooms from there.
import { useEffect, useState } from 'preact/hooks';
import { del, get, patch, post, put } from './api';
import { Avatar, ErrorNote, Field, Link, Modal, message, navigate } from './ui';
import { RecordingsSection } from './egress';
import { ShareButton, when } from './social';
import type {
  Club,
  ClubJoined,
  ClubList,
  ClubMember,
  ClubMemberPage,
  ClubPolicy,
  ClubRole,
  EventList,
  Hallway,
  RoomInfo,
  Suggestions,
  Visibility,
} from './wire';
import { errorText, num, t, tx } from './i18n';

const policyText = (p: ClubPolicy) => t(`club.policy.${p}`);
const roleText = (r: ClubRole) => t(`club.role.${r}`);

function ClubMark({ club, size = 'sm' }: { club: { handle: string; name: string; avatar?: string | null }; size?: 'sm' | 'md' | 'lg' }) {
  return <Avatar user={{ id: 0, username: club.handle, display_name: club.name }} size={size} src={club.avatar} />;
}

/// `/clubs`: the caller's clubs, the invitations waiting for them, their requests, and clubs to discover.
export function ClubsPage() {
  const [list, setList] = useState<ClubList>();
  const [suggested, setSuggested] = useState<Suggestions>();
  const [making, setMaking] = useState(false);
  const [error, setError] = useState<string>();
  const load = () => get<ClubList>('/me/clubs').then(setList, (e) => setError(message(e)));
  useEffect(() => {
    void load();
    get<Suggestions>('/suggestions').then(setSuggested, () => undefined);
  }, []);
  const of = (standing: string) => list?.clubs.filter((c) => c.standing === standing) ?? [];
  return (
    <main class="narrow" id="main">
      <div class="bar">
        <h1>{t('nav.clubs')}</h1>
        <button class="primary" onClick={() => setMaking(true)}>{t('club.new')}</button>
      </div>
      <ErrorNote message={error} />
      {of('invited').length > 0 && (
        <section class="panel" aria-labelledby="invited-h">
          <h2 id="invited-h" class="section">{t('club.invitations')}</h2>
          <ul class="hands">
            {of('invited').map((c) => (
              <li key={c.club.handle}>
                <ClubMark club={c.club} />
                <span><Link href={`/c/${c.club.handle}`}>{c.club.name}</Link></span>
                <button class="primary" onClick={async () => {
                  try {
                    await post<ClubJoined>(`/clubs/${c.club.handle}/join`);
                    await load();
                  } catch (e) {
                    setError(message(e));
                  }
                }}>{t('messages.accept')}</button>
                <button onClick={async () => { await del(`/clubs/${c.club.handle}/membership`).catch(() => undefined); await load(); }}>{t('messages.decline')}</button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="mine-h">
        <h2 id="mine-h" class="section">{t('club.yours')}</h2>
        {list && of('member').length === 0 && <p class="empty">{t('club.none_yet')}</p>}
        <ul class="rooms">
          {of('member').map((c) => (
            <li key={c.club.handle}>
              <Link href={`/c/${c.club.handle}`} class="room-card">
                <span class="room-title"><ClubMark club={c.club} /> {c.club.name}</span>
                <span class="room-count">{t('club.members_n', { count: c.club.members })}{c.role && c.role !== 'member' ? ` · ${roleText(c.role)}` : ''}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
      {of('requested').length > 0 && (
        <section aria-labelledby="asked-h">
          <h2 id="asked-h" class="section">{t('club.waiting')}</h2>
          <ul class="hands">{of('requested').map((c) => <li key={c.club.handle}><ClubMark club={c.club} /> <span><Link href={`/c/${c.club.handle}`}>{c.club.name}</Link></span></li>)}</ul>
        </section>
      )}
      {suggested && suggested.clubs.length > 0 && (
        <section aria-labelledby="suggested-clubs-h">
          <h2 id="suggested-clubs-h" class="section">{t('club.suggested')}</h2>
          <ul class="hands">
            {suggested.clubs.map((s) => (
              <li key={s.club.handle}><ClubMark club={s.club} /> <span><Link href={`/c/${s.club.handle}`}>{s.club.name}</Link></span> <span class="muted">{t('club.you_follow', { count: s.members_you_follow })}</span></li>
            ))}
          </ul>
        </section>
      )}
      {making && <NewClub onClose={() => setMaking(false)} />}
    </main>
  );
}

function NewClub({ onClose }: { onClose: () => void }) {
  const [handle, setHandle] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [policy, setPolicy] = useState<ClubPolicy>('open');
  const [error, setError] = useState<string>();
  return (
    <Modal title={t('club.new')} onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          const club = await post<Club>('/clubs', { handle, name, description, policy });
          onClose();
          navigate(`/c/${club.handle}`);
        } catch (err) {
          setError(message(err));
        }
      }}>
        <Field label={t('club.name')} value={name} onInput={setName} required />
        <Field label={t('club.handle')} value={handle} onInput={setHandle} required hint={t('club.handle_hint')} />
        <div class="field">
          <label for="f-club-about">{t('admin.about')}</label>
          <textarea id="f-club-about" rows={3} maxLength={1000} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
        </div>
        <fieldset class="choices">
          <legend>{t('start.who')}</legend>
          {(['open', 'approval', 'invitation'] as ClubPolicy[]).map((p) => (
            <label key={p} class="choice">
              <input type="radio" name="policy" value={p} checked={policy === p} onChange={() => setPolicy(p)} />
              <span>{policyText(p)}</span>
            </label>
          ))}
        </fieldset>
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>{t('common.cancel')}</button>
          <button class="primary" type="submit">{t('club.make')}</button>
        </div>
      </form>
    </Modal>
  );
}

/// `/c/HANDLE`: the club's page.
export function ClubPage({ handle }: { handle: string }) {
  const [club, setClub] = useState<Club>();
  const [error, setError] = useState<string>();
  const [starting, setStarting] = useState(false);
  const [rooms, setRooms] = useState<RoomInfo[]>([]);
  const [events, setEvents] = useState<EventList>();
  const load = () => get<Club>(`/clubs/${handle}`).then((c) => { setClub(c); setError(undefined); }, (e) => setError(message(e)));
  useEffect(() => {
    void load();
    get<Hallway>(`/clubs/${handle}/rooms`).then((h) => setRooms(h.rooms), () => undefined);
    get<EventList>(`/clubs/${handle}/events`).then(setEvents, () => undefined);
  }, [handle]);
  if (!club) return <main class="narrow" id="main"><h1>{t('club.club')}</h1>{error ? <ErrorNote message={error} /> : <p class="muted">{t('common.loading')}</p>}</main>;
  const role = club.you.standing === 'member' ? club.you.role : null;
  const admin = role === 'owner' || role === 'admin';
  const leader = admin || role === 'leader';
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      await load();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <main class="narrow" id="main">
      <div class="profile-head">
        <ClubMark club={club} size="lg" />
        <div>
          <h1>{club.name}</h1>
          <p class="muted">/c/{club.handle} · {policyText(club.policy)}</p>
        </div>
      </div>
      {club.description && <p class="bio">{club.description}</p>}
      <p class="counts">{tx('club.members_strong', { n: <strong>{num(club.members)}</strong> }, { count: club.members })} · {tx('profile.followers', { n: <strong>{num(club.followers)}</strong> }, { count: club.followers })}{role ? ` · ${t('club.you_are', { role: roleText(role) })}` : ''}</p>
      <div class="actions left">
        {club.you.standing === null && club.policy !== 'invitation' && (
          <button class="primary" onClick={() => act(() => post(`/clubs/${handle}/join`))}>{club.policy === 'open' ? t('club.join') : t('club.ask')}</button>
        )}
        {club.you.standing === 'invited' && <button class="primary" onClick={() => act(() => post(`/clubs/${handle}/join`))}>{t('club.accept')}</button>}
        {club.you.standing === 'requested' && <button onClick={() => act(() => del(`/clubs/${handle}/membership`))}>{t('club.withdraw')}</button>}
        {club.you.standing === 'member' && (
          <button onClick={() => { if (confirm(t('club.leave_confirm', { name: club.name }))) void act(() => del(`/clubs/${handle}/membership`)); }}>{t('club.leave')}</button>
        )}
        {club.you.following
          ? <button onClick={() => act(() => del(`/clubs/${handle}/follow`))}>{t('profile.unfollow')}</button>
          : <button onClick={() => act(() => post(`/clubs/${handle}/follow`))}>{t('profile.follow')}</button>}
        {leader && <button class="primary" onClick={() => setStarting(true)}>{t('club.start_room')}</button>}
        <ShareButton url={`${location.origin}/c/${club.handle}`} title={club.name} />
      </div>
      {club.you.standing === 'requested' && <p class="muted">{t('club.request_waiting')}</p>}
      <ErrorNote message={error} />
      {club.rules && (
        <section aria-labelledby="rules-h">
          <h2 id="rules-h" class="section">{t('club.rules')}</h2>
          <p class="bio">{club.rules}</p>
        </section>
      )}
      <section aria-labelledby="club-rooms-h">
        <h2 id="club-rooms-h" class="section">{t('event.state.live')}</h2>
        {rooms.length === 0 && <p class="muted">{t('club.no_live')}</p>}
        <ul class="rooms">
          {rooms.map((r) => (
            <li key={r.id}>
              <Link href={`/room/${r.id}`} class="room-card">
                <span class="room-title">{r.title}</span>
                <span class="room-count">{t('room.listening', { count: r.listener_count })} · {visibilityOf(r.visibility)}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
      {events && events.events.length > 0 && (
        <section aria-labelledby="club-events-h">
          <h2 id="club-events-h" class="section">{t('event.state.scheduled')}</h2>
          <ul class="rooms">
            {events.events.map((ev) => (
              <li key={ev.id}>
                <Link href={`/event/${ev.id}`} class="room-card event-card">
                  <span class="event-when">{when(ev.starts_at)}</span>
                  <span class="room-title">{ev.title}</span>
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
      <RecordingsSection path={`/clubs/${handle}/recordings`} title={t('recordings.replays')} />
      {admin && <ClubAdmin club={club} onChange={load} />}
      <Members club={club} admin={admin} owner={role === 'owner'} onChange={load} />
      {starting && <StartClubRoom club={club} onClose={() => setStarting(false)} />}
    </main>
  );
}

function visibilityOf(v: Visibility): string {
  return t(`club.room_visibility.${v}`);
}

function StartClubRoom({ club, onClose }: { club: Club; onClose: () => void }) {
  const [title, setTitle] = useState('');
  const [visibility, setVisibility] = useState<Visibility>('open');
  const [error, setError] = useState<string>();
  const help: Record<Visibility, string> = {
    open: t('start.help.open'),
    social: t('club.help.social'),
    closed: t('club.help.closed'),
  };
  return (
    <Modal title={t('club.start_in', { name: club.name })} onClose={onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        try {
          const room = await post<RoomInfo>('/rooms', { title, visibility, club: club.handle });
          onClose();
          navigate(`/room/${room.id}`);
        } catch (err) {
          setError(message(err));
        }
      }}>
        <Field label={t('start.title')} value={title} onInput={setTitle} required />
        <fieldset class="choices">
          <legend>{t('start.who')}</legend>
          {(['open', 'social', 'closed'] as Visibility[]).map((v) => (
            <label key={v} class="choice">
              <input type="radio" name="visibility" value={v} checked={visibility === v} onChange={() => setVisibility(v)} />
              <span><strong>{t(`club.visibility.${v}`)}</strong> <span class="muted">{help[v]}</span></span>
            </label>
          ))}
        </fieldset>
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>{t('common.cancel')}</button>
          <button class="primary" type="submit">{t('start.go')}</button>
        </div>
      </form>
    </Modal>
  );
}

/// What the club's admins manage: requests, invitations, and the club's description, rules and policy.
function ClubAdmin({ club, onChange }: { club: Club; onChange: () => void }) {
  const [requests, setRequests] = useState<ClubMemberPage>();
  const [invitee, setInvitee] = useState('');
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState(false);
  const [description, setDescription] = useState(club.description);
  const [rules, setRules] = useState(club.rules);
  const [policy, setPolicy] = useState<ClubPolicy>(club.policy);
  const loadRequests = () => get<ClubMemberPage>(`/clubs/${club.handle}/requests`).then(setRequests, (e) => setError(message(e)));
  useEffect(() => { void loadRequests(); }, [club.handle]);
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(undefined);
      await loadRequests();
      onChange();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <section class="panel" aria-labelledby="club-admin-h">
      <h2 id="club-admin-h" class="section">{t('club.run')}</h2>
      <h3>{t('club.requests')}</h3>
      {requests && requests.members.length === 0 && <p class="muted">{t('club.no_requests')}</p>}
      <ul class="hands" aria-label={t('club.requests')}>
        {requests?.members.map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} size="sm" />
            <span><Link href={`/u/${m.user.username}`}>{m.user.display_name}</Link></span>
            <button class="primary" onClick={() => act(() => post(`/clubs/${club.handle}/requests/${m.user.username}`, { approve: true }))}>{t('club.approve')}</button>
            <button onClick={() => act(() => post(`/clubs/${club.handle}/requests/${m.user.username}`, { approve: false }))}>{t('club.refuse')}</button>
          </li>
        ))}
      </ul>
      <form class="inline-form" onSubmit={async (e) => {
        e.preventDefault();
        await act(async () => {
          const r = await post<ClubJoined>(`/clubs/${club.handle}/invitations`, { username: invitee.replace(/^@/, '').trim() });
          setNote(r.standing === 'member' ? t('club.now_member', { name: `@${invitee}` }) : t('club.is_invited', { name: `@${invitee}` }));
          setInvitee('');
        });
      }}>
        <Field label={t('club.invite_by')} value={invitee} onInput={setInvitee} required />
        <button type="submit">{t('club.invite')}</button>
      </form>
      {note && <p class="muted" role="status">{note}</p>}
      {!editing && <button onClick={() => setEditing(true)}>{t('club.edit')}</button>}
      {editing && (
        <form onSubmit={async (e) => {
          e.preventDefault();
          await act(() => patch<Club>(`/clubs/${club.handle}`, { description, rules, policy }));
          setEditing(false);
        }}>
          <div class="field">
            <label for="f-club-description">{t('admin.about')}</label>
            <textarea id="f-club-description" rows={3} maxLength={1000} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
          </div>
          <div class="field">
            <label for="f-club-rules">{t('club.rules')}</label>
            <textarea id="f-club-rules" rows={3} maxLength={2000} value={rules} onInput={(e) => setRules((e.target as HTMLTextAreaElement).value)} />
          </div>
          <fieldset class="choices">
            <legend>{t('start.who')}</legend>
            {(['open', 'approval', 'invitation'] as ClubPolicy[]).map((p) => (
              <label key={p} class="choice">
                <input type="radio" name="edit-policy" value={p} checked={policy === p} onChange={() => setPolicy(p)} />
                <span>{policyText(p)}</span>
              </label>
            ))}
          </fieldset>
          <div class="field">
            <label for="f-club-avatar">{t('club.avatar')}</label>
            <input id="f-club-avatar" type="file" accept="image/*" onChange={async (e) => {
              const file = (e.target as HTMLInputElement).files?.[0];
              if (!file) return;
              const res = await fetch(`/api/v1/clubs/${club.handle}/avatar`, { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
              if (!res.ok) {
                const body = await res.json().catch(() => undefined);
                setError(body?.error ? errorText(body.error.code, body.error.message) : t('club.image_refused'));
              }
              else onChange();
            }} />
          </div>
          <div class="actions left">
            <button type="button" onClick={() => setEditing(false)}>{t('common.cancel')}</button>
            <button class="primary" type="submit">{t('common.save')}</button>
          </div>
        </form>
      )}
      <ErrorNote message={error} />
    </section>
  );
}

/// The club's members with their roles, a page at a time; its admins change roles, remove and ban, its owner
/// hands the club over, and its admins see who is banned and lift bans.
function Members({ club, admin, owner, onChange }: { club: Club; admin: boolean; owner: boolean; onChange: () => void }) {
  const [members, setMembers] = useState<ClubMember[]>([]);
  const [next, setNext] = useState<number | null>();
  const [bans, setBans] = useState<ClubMember[]>([]);
  const [error, setError] = useState<string>();
  const page = async (cursor?: number | null) => {
    const p = await get<ClubMemberPage>(`/clubs/${club.handle}/members?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
    setMembers((old) => (cursor ? [...old, ...p.members] : p.members));
    setNext(p.next_cursor);
  };
  const load = async () => {
    try {
      await page();
      if (admin) setBans((await get<ClubMemberPage>(`/clubs/${club.handle}/bans?limit=200`)).members);
    } catch (e) {
      setError(message(e));
    }
  };
  useEffect(() => { void load(); }, [club.handle, club.members, admin]);
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(undefined);
      await load();
      onChange();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <section aria-labelledby="members-h">
      <h2 id="members-h" class="section">{t('messages.members')}</h2>
      <ul class="hands" aria-label={t('messages.members')}>
        {members.map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} size="sm" />
            <span><Link href={`/u/${m.user.username}`}>{m.user.display_name}</Link> <span class="muted">{m.role ? roleText(m.role) : ''}</span></span>
            {admin && m.role !== 'owner' && (m.role !== 'admin' || owner) && (
              <>
                <label class="sr-only" for={`role-${m.user.id}`}>{t('club.role_of', { name: m.user.display_name })}</label>
                <select id={`role-${m.user.id}`} value={m.role ?? 'member'} onChange={(e) => act(() => put(`/clubs/${club.handle}/members/${m.user.username}/role`, { role: (e.target as HTMLSelectElement).value }))}>
                  {(owner ? ['admin', 'leader', 'member'] : ['leader', 'member']).map((r) => <option key={r} value={r}>{roleText(r as ClubRole)}</option>)}
                </select>
                <button onClick={() => { if (confirm(t('club.remove_confirm', { name: m.user.display_name }))) void act(() => del(`/clubs/${club.handle}/members/${m.user.username}`)); }}>{t('common.remove')}</button>
                <button class="danger" onClick={() => { if (confirm(t('club.ban_confirm', { name: m.user.display_name }))) void act(() => post(`/clubs/${club.handle}/bans`, { username: m.user.username })); }}>{t('club.ban')}</button>
                {owner && <button onClick={() => { if (confirm(t('club.transfer_confirm', { club: club.name, name: m.user.display_name }))) void act(() => post(`/clubs/${club.handle}/transfer`, { username: m.user.username })); }}>{t('club.make_owner')}</button>}
              </>
            )}
          </li>
        ))}
      </ul>
      {next != null && <button onClick={() => void page(next).catch((e) => setError(message(e)))}>{t('club.more_members')}</button>}
      {admin && bans.length > 0 && (
        <>
          <h3 class="section">{t('club.banned')}</h3>
          <ul class="hands" aria-label={t('club.banned')}>
            {bans.map((m) => (
              <li key={m.user.id}>
                <Avatar user={m.user} size="sm" />
                <span><Link href={`/u/${m.user.username}`}>{m.user.display_name}</Link></span>
                <button onClick={() => act(() => del(`/clubs/${club.handle}/bans/${m.user.username}`))} aria-label={t('club.lift_ban_label', { name: m.user.display_name })}>{t('club.lift_ban')}</button>
              </li>
            ))}
          </ul>
        </>
      )}
      <ErrorNote message={error} />
    </section>
  );
}

/// A person's clubs, on their profile.
export function ClubsOf({ username }: { username: string }) {
  const [list, setList] = useState<ClubList>();
  useEffect(() => {
    get<ClubList>(`/users/${username}/clubs`).then(setList, () => undefined);
  }, [username]);
  const member = list?.clubs.filter((c) => c.standing === 'member') ?? [];
  if (member.length === 0) return null;
  return (
    <section aria-labelledby="clubs-of-h">
      <h2 id="clubs-of-h" class="section">{t('nav.clubs')}</h2>
      <ul class="hands">
        {member.map((c) => (
          <li key={c.club.handle}><ClubMark club={c.club} /> <span><Link href={`/c/${c.club.handle}`}>{c.club.name}</Link></span> {c.role && c.role !== 'member' && <span class="muted">{roleText(c.role)}</span>}</li>
        ))}
      </ul>
    </section>
  );
}
