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

const POLICY: Record<ClubPolicy, string> = {
  open: 'Anyone can join',
  approval: 'Members are approved by its admins',
  invitation: 'Members join by invitation',
};

const ROLE: Record<ClubRole, string> = { owner: 'Owner', admin: 'Admin', leader: 'Leader', member: 'Member' };

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
        <h1>Clubs</h1>
        <button class="primary" onClick={() => setMaking(true)}>New club</button>
      </div>
      <ErrorNote message={error} />
      {of('invited').length > 0 && (
        <section class="panel" aria-labelledby="invited-h">
          <h2 id="invited-h" class="section">Invitations</h2>
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
                }}>Accept</button>
                <button onClick={async () => { await del(`/clubs/${c.club.handle}/membership`).catch(() => undefined); await load(); }}>Decline</button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="mine-h">
        <h2 id="mine-h" class="section">Your clubs</h2>
        {list && of('member').length === 0 && <p class="empty">You are in no club yet. Make one, or join one you find.</p>}
        <ul class="rooms">
          {of('member').map((c) => (
            <li key={c.club.handle}>
              <Link href={`/c/${c.club.handle}`} class="room-card">
                <span class="room-title"><ClubMark club={c.club} /> {c.club.name}</span>
                <span class="room-count">{c.club.members} members{c.role && c.role !== 'member' ? ` · ${ROLE[c.role]}` : ''}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
      {of('requested').length > 0 && (
        <section aria-labelledby="asked-h">
          <h2 id="asked-h" class="section">Waiting for approval</h2>
          <ul class="hands">{of('requested').map((c) => <li key={c.club.handle}><ClubMark club={c.club} /> <span><Link href={`/c/${c.club.handle}`}>{c.club.name}</Link></span></li>)}</ul>
        </section>
      )}
      {suggested && suggested.clubs.length > 0 && (
        <section aria-labelledby="suggested-clubs-h">
          <h2 id="suggested-clubs-h" class="section">Clubs of people you follow</h2>
          <ul class="hands">
            {suggested.clubs.map((s) => (
              <li key={s.club.handle}><ClubMark club={s.club} /> <span><Link href={`/c/${s.club.handle}`}>{s.club.name}</Link></span> <span class="muted">{s.members_you_follow} you follow</span></li>
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
    <Modal title="New club" onClose={onClose}>
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
        <Field label="Name" value={name} onInput={setName} required />
        <Field label="Handle" value={handle} onInput={setHandle} required hint="3 to 20 letters, digits or underscores: the club's address, /c/handle." />
        <div class="field">
          <label for="f-club-about">About</label>
          <textarea id="f-club-about" rows={3} maxLength={1000} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
        </div>
        <fieldset class="choices">
          <legend>Who can join</legend>
          {(['open', 'approval', 'invitation'] as ClubPolicy[]).map((p) => (
            <label key={p} class="choice">
              <input type="radio" name="policy" value={p} checked={policy === p} onChange={() => setPolicy(p)} />
              <span>{POLICY[p]}</span>
            </label>
          ))}
        </fieldset>
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button class="primary" type="submit">Make the club</button>
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
  if (!club) return <main class="narrow" id="main"><h1>Club</h1>{error ? <ErrorNote message={error} /> : <p class="muted">Loading…</p>}</main>;
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
          <p class="muted">/c/{club.handle} · {POLICY[club.policy]}</p>
        </div>
      </div>
      {club.description && <p class="bio">{club.description}</p>}
      <p class="counts"><strong>{club.members}</strong> members · <strong>{club.followers}</strong> followers{role ? ` · You: ${ROLE[role]}` : ''}</p>
      <div class="actions left">
        {club.you.standing === null && club.policy !== 'invitation' && (
          <button class="primary" onClick={() => act(() => post(`/clubs/${handle}/join`))}>{club.policy === 'open' ? 'Join' : 'Ask to join'}</button>
        )}
        {club.you.standing === 'invited' && <button class="primary" onClick={() => act(() => post(`/clubs/${handle}/join`))}>Accept invitation</button>}
        {club.you.standing === 'requested' && <button onClick={() => act(() => del(`/clubs/${handle}/membership`))}>Withdraw request</button>}
        {club.you.standing === 'member' && (
          <button onClick={() => { if (confirm(`Leave ${club.name}?`)) void act(() => del(`/clubs/${handle}/membership`)); }}>Leave</button>
        )}
        {club.you.following
          ? <button onClick={() => act(() => del(`/clubs/${handle}/follow`))}>Unfollow</button>
          : <button onClick={() => act(() => post(`/clubs/${handle}/follow`))}>Follow</button>}
        {leader && <button class="primary" onClick={() => setStarting(true)}>Start a club room</button>}
        <ShareButton url={`${location.origin}/c/${club.handle}`} title={club.name} />
      </div>
      {club.you.standing === 'requested' && <p class="muted">Your request is waiting for the club's admins.</p>}
      <ErrorNote message={error} />
      {club.rules && (
        <section aria-labelledby="rules-h">
          <h2 id="rules-h" class="section">Rules</h2>
          <p class="bio">{club.rules}</p>
        </section>
      )}
      <section aria-labelledby="club-rooms-h">
        <h2 id="club-rooms-h" class="section">Live now</h2>
        {rooms.length === 0 && <p class="muted">No live room of this club.</p>}
        <ul class="rooms">
          {rooms.map((r) => (
            <li key={r.id}>
              <Link href={`/room/${r.id}`} class="room-card">
                <span class="room-title">{r.title}</span>
                <span class="room-count">{r.listener_count} listening · {visibilityOf(r.visibility)}</span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
      {events && events.events.length > 0 && (
        <section aria-labelledby="club-events-h">
          <h2 id="club-events-h" class="section">Upcoming</h2>
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
      <RecordingsSection path={`/clubs/${handle}/recordings`} title="Replays" />
      {admin && <ClubAdmin club={club} onChange={load} />}
      <Members club={club} admin={admin} owner={role === 'owner'} onChange={load} />
      {starting && <StartClubRoom club={club} onClose={() => setStarting(false)} />}
    </main>
  );
}

function visibilityOf(v: Visibility): string {
  return v === 'open' ? 'open' : v === 'social' ? 'followers and members' : 'members only';
}

function StartClubRoom({ club, onClose }: { club: Club; onClose: () => void }) {
  const [title, setTitle] = useState('');
  const [visibility, setVisibility] = useState<Visibility>('open');
  const [error, setError] = useState<string>();
  const help: Record<Visibility, string> = {
    open: 'Anyone on Stoa can join.',
    social: 'The club’s followers and members can join.',
    closed: 'Members only: hidden from everyone else.',
  };
  return (
    <Modal title={`Start a room in ${club.name}`} onClose={onClose}>
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
        <Field label="Title" value={title} onInput={setTitle} required />
        <fieldset class="choices">
          <legend>Who can join</legend>
          {(['open', 'social', 'closed'] as Visibility[]).map((v) => (
            <label key={v} class="choice">
              <input type="radio" name="visibility" value={v} checked={visibility === v} onChange={() => setVisibility(v)} />
              <span><strong>{visibilityOf(v)[0]!.toUpperCase() + visibilityOf(v).slice(1)}</strong> <span class="muted">{help[v]}</span></span>
            </label>
          ))}
        </fieldset>
        <ErrorNote message={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button class="primary" type="submit">Let's go</button>
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
      <h2 id="club-admin-h" class="section">Run the club</h2>
      <h3>Requests to join</h3>
      {requests && requests.members.length === 0 && <p class="muted">No request is waiting.</p>}
      <ul class="hands" aria-label="Requests to join">
        {requests?.members.map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} size="sm" />
            <span><Link href={`/u/${m.user.username}`}>{m.user.display_name}</Link></span>
            <button class="primary" onClick={() => act(() => post(`/clubs/${club.handle}/requests/${m.user.username}`, { approve: true }))}>Approve</button>
            <button onClick={() => act(() => post(`/clubs/${club.handle}/requests/${m.user.username}`, { approve: false }))}>Refuse</button>
          </li>
        ))}
      </ul>
      <form class="inline-form" onSubmit={async (e) => {
        e.preventDefault();
        await act(async () => {
          const r = await post<ClubJoined>(`/clubs/${club.handle}/invitations`, { username: invitee.replace(/^@/, '').trim() });
          setNote(r.standing === 'member' ? `@${invitee} is now a member.` : `@${invitee} is invited.`);
          setInvitee('');
        });
      }}>
        <Field label="Invite by username" value={invitee} onInput={setInvitee} required />
        <button type="submit">Invite</button>
      </form>
      {note && <p class="muted" role="status">{note}</p>}
      {!editing && <button onClick={() => setEditing(true)}>Edit the club</button>}
      {editing && (
        <form onSubmit={async (e) => {
          e.preventDefault();
          await act(() => patch<Club>(`/clubs/${club.handle}`, { description, rules, policy }));
          setEditing(false);
        }}>
          <div class="field">
            <label for="f-club-description">About</label>
            <textarea id="f-club-description" rows={3} maxLength={1000} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
          </div>
          <div class="field">
            <label for="f-club-rules">Rules</label>
            <textarea id="f-club-rules" rows={3} maxLength={2000} value={rules} onInput={(e) => setRules((e.target as HTMLTextAreaElement).value)} />
          </div>
          <fieldset class="choices">
            <legend>Who can join</legend>
            {(['open', 'approval', 'invitation'] as ClubPolicy[]).map((p) => (
              <label key={p} class="choice">
                <input type="radio" name="edit-policy" value={p} checked={policy === p} onChange={() => setPolicy(p)} />
                <span>{POLICY[p]}</span>
              </label>
            ))}
          </fieldset>
          <div class="field">
            <label for="f-club-avatar">Avatar</label>
            <input id="f-club-avatar" type="file" accept="image/*" onChange={async (e) => {
              const file = (e.target as HTMLInputElement).files?.[0];
              if (!file) return;
              const res = await fetch(`/api/v1/clubs/${club.handle}/avatar`, { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
              if (!res.ok) setError((await res.json().catch(() => undefined))?.error?.message ?? 'The image was refused.');
              else onChange();
            }} />
          </div>
          <div class="actions left">
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
            <button class="primary" type="submit">Save</button>
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
      <h2 id="members-h" class="section">Members</h2>
      <ul class="hands" aria-label="Members">
        {members.map((m) => (
          <li key={m.user.id}>
            <Avatar user={m.user} size="sm" />
            <span><Link href={`/u/${m.user.username}`}>{m.user.display_name}</Link> <span class="muted">{m.role ? ROLE[m.role] : ''}</span></span>
            {admin && m.role !== 'owner' && (m.role !== 'admin' || owner) && (
              <>
                <label class="sr-only" for={`role-${m.user.id}`}>Role of {m.user.display_name}</label>
                <select id={`role-${m.user.id}`} value={m.role ?? 'member'} onChange={(e) => act(() => put(`/clubs/${club.handle}/members/${m.user.username}/role`, { role: (e.target as HTMLSelectElement).value }))}>
                  {(owner ? ['admin', 'leader', 'member'] : ['leader', 'member']).map((r) => <option key={r} value={r}>{ROLE[r as ClubRole]}</option>)}
                </select>
                <button onClick={() => { if (confirm(`Remove ${m.user.display_name} from the club?`)) void act(() => del(`/clubs/${club.handle}/members/${m.user.username}`)); }}>Remove</button>
                <button class="danger" onClick={() => { if (confirm(`Ban ${m.user.display_name}? They will be out of the club and its rooms.`)) void act(() => post(`/clubs/${club.handle}/bans`, { username: m.user.username })); }}>Ban</button>
                {owner && <button onClick={() => { if (confirm(`Hand ${club.name} to ${m.user.display_name}? They become its owner, and you stay on as an admin.`)) void act(() => post(`/clubs/${club.handle}/transfer`, { username: m.user.username })); }}>Make owner</button>}
              </>
            )}
          </li>
        ))}
      </ul>
      {next != null && <button onClick={() => void page(next).catch((e) => setError(message(e)))}>More members</button>}
      {admin && bans.length > 0 && (
        <>
          <h3 class="section">Banned</h3>
          <ul class="hands" aria-label="Banned">
            {bans.map((m) => (
              <li key={m.user.id}>
                <Avatar user={m.user} size="sm" />
                <span><Link href={`/u/${m.user.username}`}>{m.user.display_name}</Link></span>
                <button onClick={() => act(() => del(`/clubs/${club.handle}/bans/${m.user.username}`))} aria-label={`Lift the ban on ${m.user.display_name}`}>Lift ban</button>
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
      <h2 id="clubs-of-h" class="section">Clubs</h2>
      <ul class="hands">
        {member.map((c) => (
          <li key={c.club.handle}><ClubMark club={c.club} /> <span><Link href={`/c/${c.club.handle}`}>{c.club.name}</Link></span> {c.role && c.role !== 'member' && <span class="muted">{ROLE[c.role]}</span>}</li>
        ))}
      </ul>
    </section>
  );
}
