// The audience beyond the room: the public listen page (HLS, no account), recordings (replays and clips)
// with their pages, the moderators' outputs and restream dialogs, and the clip button.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, del, get, post } from './api';
import { ErrorNote, Link, Modal, message, navigate } from './ui';
import type { ListenInfo, Recording, RecordingList, RestreamStatus, RoomInfo, Transcript, TranscriptLine, Webhook, WebhookDelivery, WebhookDeliveries, WebhookList } from './wire';
import type { RoomClient } from './room';
import { dateTime, num, t, tx, type Key } from './i18n';

const duration = (ms: number | null) => {
  if (ms == null) return t('recordings.recording');
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
};
const when = (ms: number) => dateTime(ms);

/// `/listen/ROOM`: plays an open room's listen link in any browser, with no account, through hls.js
/// (loaded only here) or, where it cannot run, the browser's own HLS (iPhone Safari).
export function ListenPage({ id }: { id: string }) {
  const [info, setInfo] = useState<ListenInfo>();
  const [error, setError] = useState<string>();
  const [playing, setPlaying] = useState(false);
  const audio = useRef<HTMLAudioElement>(null);
  const [captionsOn, setCaptionsOn] = useState(false);
  const captions = useListenCaptions(id, captionsOn && !!info?.captions_url);
  useEffect(() => {
    let alive = true;
    const load = () => get<ListenInfo>(`/rooms/${id}/listen`).then((i) => alive && setInfo(i), (e) => {
      if (alive) setError(e instanceof ApiError && e.status === 404 ? t('listen.none') : message(e));
    });
    void load();
    const timer = window.setInterval(load, 10_000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [id]);
  useEffect(() => {
    const el = audio.current;
    if (!info || !el) return;
    let destroy = () => {};
    // hls.js wherever Media Source Extensions exist (Chromium, Firefox, iPadOS, iOS 17.1+); the browser's
    // own HLS elsewhere (older iPhone Safari). Chromium's own HLS, new and partial, is not relied on.
    void import('hls.js/light').then(({ default: Hls }) => {
      if (Hls.isSupported()) {
        const hls = new Hls({ liveSyncDurationCount: 2 });
        hls.loadSource(info.playlist_url);
        hls.attachMedia(el);
        destroy = () => hls.destroy();
      } else if (el.canPlayType('application/vnd.apple.mpegurl')) {
        el.src = info.playlist_url;
      } else {
        setError(t('listen.cannot_play'));
      }
    });
    return () => destroy();
  }, [info?.playlist_url]);
  if (error && !info) return <main class="narrow center" id="main"><h1>{t('listen.title')}</h1><ErrorNote message={error} /></main>;
  if (!info) return <main class="narrow center" id="main"><p class="muted">{t('common.loading')}</p></main>;
  return (
    <main class="narrow" id="main">
      <p class="muted">{t('listen.kicker')}</p>
      <h1>{info.title}</h1>
      <p class="muted">{t('listen.in_room', { count: info.listener_count })} · {t('listen.here', { count: info.public_listeners })}</p>
      <h2 class="section">{t('room.on_stage')}</h2>
      <ul class="names">{info.stage.map((m) => <li key={m.user.id}>{m.role === 'moderator' ? t('listen.host', { name: m.user.display_name }) : m.user.display_name}</li>)}</ul>
      <audio ref={audio} controls aria-label={t('listen.audio')} onPlaying={() => setPlaying(true)} onPause={() => setPlaying(false)} />
      {!playing && <button class="primary wide" onClick={() => void audio.current?.play().catch(() => undefined)}>{t('listen.play')}</button>}
      {info.captions_url && <button aria-pressed={captionsOn} onClick={() => setCaptionsOn(!captionsOn)}>{t('captions.button')}</button>}
      {captionsOn && info.captions_url && (
        <div class="captions inline" role="log" aria-live="polite" aria-label={t('captions.region')}>
          {info.captions_low_accuracy && <p class="waiting">{t('captions.low_accuracy')}</p>}
          {captions.length === 0 ? <p class="waiting">{t('captions.waiting')}</p> : captions.map((c) => <p key={c}>{c}</p>)}
        </div>
      )}
      <ErrorNote message={error} />
      <p class="muted">{t('listen.behind')}</p>
    </main>
  );
}

/// The listen link's live captions, as its subtitle rendition carries them (`subs.m3u8` and its WebVTT
/// segments, polled as a player would): the last three lines, shown as they come. Players that show HLS
/// subtitles themselves (Safari, VLC) take the multivariant playlist, `captions_url`, instead.
function useListenCaptions(id: string, on: boolean): string[] {
  const [lines, setLines] = useState<string[]>([]);
  useEffect(() => {
    if (!on) {
      setLines([]);
      return;
    }
    let alive = true;
    const seen = new Set<string>();
    const shown = new Set<string>();
    const poll = async () => {
      try {
        const list = await (await fetch(`/listen/${id}/subs.m3u8`)).text();
        for (const name of list.split('\n').filter((l) => l.endsWith('.vtt'))) {
          if (seen.has(name)) continue;
          const vtt = await (await fetch(`/listen/${id}/${name}`)).text();
          // A segment is final once listed: remember it, and show each cue (by its timing line) once.
          seen.add(name);
          const blocks = vtt.split('\n\n').filter((b) => b.includes(' --> '));
          const fresh = blocks.filter((b) => !shown.has(b));
          fresh.forEach((b) => shown.add(b));
          const text = fresh.map((b) => b.split('\n').slice(1).join(' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
          if (alive && text.length > 0) setLines((old) => [...old, ...text].slice(-3));
        }
      } catch {
        /* the stream is starting, or stopped: the next poll tries again */
      }
    };
    void poll();
    const timer = window.setInterval(() => void poll(), 2000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [id, on]);
  return lines;
}

/// One recording's row: its player and what can be done with it.
export function RecordingItem({ r, onDeleted }: { r: Recording; onDeleted?: () => void }) {
  const [error, setError] = useState<string>();
  return (
    <li class="recording">
      <div>
        <Link href={`/r/${r.id}`}>{r.kind === 'clip' ? t('recordings.clip_title', { title: r.title }) : r.title}</Link>
        <span class="muted"> · {duration(r.duration_ms)} · {when(r.started_at_ms)}{r.kind === 'clip' ? ` · ${t('recordings.clip_by', { name: r.made_by.display_name })}` : ''}</span>
      </div>
      {r.duration_ms != null && <audio controls preload="none" src={r.audio_url} aria-label={t('recordings.play', { title: r.title })} />}
      {r.can_delete && r.duration_ms != null && onDeleted && (
        <button class="danger" onClick={async () => {
          if (!confirm(t(`recordings.delete_confirm.${r.kind}`))) return;
          try {
            await del(`/recordings/${r.id}`);
            onDeleted();
          } catch (e) {
            setError(message(e));
          }
        }}>{t('chat.delete')}</button>
      )}
      <ErrorNote message={error} />
    </li>
  );
}

/// A list of recordings from `path` (a profile's replays, a room's replays and clips).
export function RecordingsSection({ path, title }: { path: string; title: string }) {
  const [list, setList] = useState<Recording[]>();
  const load = () => get<RecordingList>(path).then((l) => setList(l.recordings), () => setList([]));
  useEffect(() => {
    void load();
  }, [path]);
  if (!list || list.length === 0) return null;
  return (
    <section aria-label={title}>
      <h2 class="section">{title}</h2>
      <ul class="recordings">{list.map((r) => <RecordingItem key={r.id} r={r} onDeleted={load} />)}</ul>
    </section>
  );
}

/// `/r/ID`: a replay's or a clip's own page, with its player (seekable) and its share link.
export function RecordingPage({ id, signIn }: { id: string; signIn?: preact.JSX.Element }) {
  const [r, setR] = useState<Recording>();
  const [error, setError] = useState<string>();
  const [copied, setCopied] = useState(false);
  const player = useRef<HTMLAudioElement>(null);
  useEffect(() => {
    get<Recording>(`/recordings/${id}`).then(setR, (e) => setError(message(e)));
  }, [id]);
  if (error && signIn) return signIn;
  if (error) return <main class="narrow" id="main"><h1>{t('recordings.recording_title')}</h1><ErrorNote message={error} /></main>;
  if (!r) return <main class="narrow" id="main"><p class="muted">{t('common.loading')}</p></main>;
  const url = `${location.origin}/r/${r.id}`;
  return (
    <main class="narrow" id="main">
      <p class="muted">{r.kind === 'clip' ? t('recordings.a_clip_by', { name: r.made_by.display_name }) : t('recordings.a_replay_of', { name: r.host.display_name })}</p>
      <h1>{r.title}</h1>
      <p class="muted">{duration(r.duration_ms)} · {when(r.started_at_ms)}</p>
      {r.duration_ms != null ? <audio ref={player} controls preload="metadata" src={r.audio_url} aria-label={t('recordings.play', { title: r.title })} class="wide" /> : <p>{t('recordings.still_recording')}</p>}
      <div class="actions">
        <button onClick={async () => { await navigator.clipboard?.writeText(url).catch(() => undefined); setCopied(true); }}>{copied ? t('common.copied') : t('common.copy_link')}</button>
        <a class="button" href={r.audio_url} download={`${r.title}.opus`}>{t('recordings.download')}</a>
        {r.can_delete && r.duration_ms != null && (
          <button class="danger" onClick={async () => {
            if (!confirm(t(`recordings.delete_confirm.${r.kind}`))) return;
            try {
              await del(`/recordings/${r.id}`);
              navigate('/');
            } catch (e) {
              setError(message(e));
            }
          }}>{t('chat.delete')}</button>
        )}
      </div>
      {r.kind === 'replay' && r.duration_ms != null && <TranscriptView id={r.id} player={player} />}
    </main>
  );
}

/// A replay's transcript, playing along: the line being heard is marked, and a line's time plays from it.
function TranscriptView({ id, player }: { id: string; player: { current: HTMLAudioElement | null } }) {
  const [lines, setLines] = useState<TranscriptLine[]>([]);
  const [now, setNow] = useState(0);
  useEffect(() => {
    get<Transcript>(`/recordings/${id}/transcript`).then((tr) => setLines(tr.lines), () => setLines([]));
  }, [id]);
  useEffect(() => {
    const el = player.current;
    if (!el) return;
    const on = () => setNow(el.currentTime * 1000);
    el.addEventListener('timeupdate', on);
    el.addEventListener('seeked', on);
    return () => {
      el.removeEventListener('timeupdate', on);
      el.removeEventListener('seeked', on);
    };
  }, [player.current, lines.length]);
  if (lines.length === 0) return null;
  // The line being heard: the last one started (a line stays marked through the pause after it).
  const current = lines.reduce((found, l, i) => (l.at_ms <= now ? i : found), -1);
  return (
    <section aria-labelledby="transcript-h">
      <h2 id="transcript-h" class="section">{t('transcript.title')}</h2>
      <ol class="transcript">
        {lines.map((l, i) => (
          <li key={i} aria-current={i === current ? 'true' : undefined} class={i === current ? 'now' : ''}>
            <button class="link" aria-label={t('transcript.play_from', { time: duration(l.at_ms) })} onClick={() => {
              const el = player.current;
              if (!el) return;
              el.currentTime = l.at_ms / 1000;
              void el.play().catch(() => undefined);
            }}>{duration(l.at_ms)}</button>{' '}
            {tx('captions.line', { name: <strong>{l.speaker.display_name}</strong>, text: l.text })}
          </li>
        ))}
      </ol>
    </section>
  );
}

/// The moderators' switches for what the room's mix goes to.
export function OutputsDialog({ client, room, onClose, onRestream }: { client: RoomClient; room: RoomInfo; onClose: () => void; onRestream: () => void }) {
  const o = room.outputs;
  const set = (change: { recording?: boolean; clips?: boolean; listen_link?: boolean; captions?: boolean }) =>
    client.send({ type: 'set_outputs', recording: change.recording ?? null, clips: change.clips ?? null, listen_link: change.listen_link ?? null, captions: change.captions ?? null });
  return (
    <Modal title={t('outputs.title')} onClose={onClose}>
      {room.e2ee ? (
        // The server cannot hear the room: nothing that needs its audio can be offered, and the room says why.
        <p>{t('error.e2ee_room')}</p>
      ) : (<>
      <label class="check"><input type="checkbox" checked={o.recording} onChange={(e) => set({ recording: (e.target as HTMLInputElement).checked })} /> {tx('outputs.record', { note: <span class="muted">{t('outputs.record_note')}</span> })}</label>
      <label class="check"><input type="checkbox" checked={o.clips} onChange={(e) => set({ clips: (e.target as HTMLInputElement).checked })} /> {t('outputs.clips')}</label>
      {room.visibility === 'open' && (
        <label class="check"><input type="checkbox" checked={o.listen_link} onChange={(e) => set({ listen_link: (e.target as HTMLInputElement).checked })} /> {tx('outputs.listen_link', { note: <span class="muted">{t('outputs.listen_link_note', { path: `/listen/${room.id}` })}</span> })}</label>
      )}
      {o.listen_link && <p><Link href={`/listen/${room.id}`}>{`${location.origin}/listen/${room.id}`}</Link></p>}
      {client.state.captionsAvailable && (
        <label class="check"><input type="checkbox" checked={o.captions} onChange={(e) => set({ captions: (e.target as HTMLInputElement).checked })} /> {tx('outputs.captions', { note: <span class="muted">{t('outputs.captions_note')}</span> })}</label>
      )}
      </>)}
      <div class="actions">
        {!room.e2ee && <button onClick={onRestream}>{t('outputs.restream')}</button>}
        <button class="primary" onClick={onClose}>{t('common.done')}</button>
      </div>
    </Modal>
  );
}

/// Sends the room's mix to an RTMP server, and shows where it stands.
export function RestreamDialog({ roomId, onClose }: { roomId: string; onClose: () => void }) {
  const [status, setStatus] = useState<RestreamStatus>();
  const [url, setUrl] = useState('');
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    const load = () => get<RestreamStatus>(`/rooms/${roomId}/restream`).then((s) => alive && setStatus(s), (e) => alive && setError(message(e)));
    void load();
    const timer = window.setInterval(load, 2000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [roomId]);
  const on = status && ['connecting', 'live', 'retrying'].includes(status.state);
  return (
    <Modal title={t('room.restream')} onClose={onClose}>
      <p class="muted">{t('restream.about')}</p>
      {status && <p role="status">{tx('restream.state', { state: <strong>{t(`restream.state.${status.state}` as Key)}</strong> })}{status.url ? ` → ${status.url}` : ''}{status.error ? ` — ${status.error}` : ''}</p>}
      {on ? (
        <button class="danger" onClick={async () => {
          try {
            await del(`/rooms/${roomId}/restream`);
            setStatus(await get<RestreamStatus>(`/rooms/${roomId}/restream`));
          } catch (e) {
            setError(message(e));
          }
        }}>{t('restream.stop')}</button>
      ) : (
        <form onSubmit={async (e) => {
          e.preventDefault();
          try {
            setStatus(await post<RestreamStatus>(`/rooms/${roomId}/restream`, { url, stream_key: key }));
            setKey('');
            setError(undefined);
          } catch (err) {
            setError(message(err));
          }
        }}>
          <label>{t('restream.url')} <input value={url} placeholder="rtmp://a.rtmp.youtube.com/live2" onInput={(e) => setUrl((e.target as HTMLInputElement).value)} required /></label>
          <label>{t('restream.key')} <input type="password" value={key} autocomplete="off" onInput={(e) => setKey((e.target as HTMLInputElement).value)} required /></label>
          <button class="primary" type="submit">{t('restream.start')}</button>
        </form>
      )}
      <ErrorNote message={error} />
    </Modal>
  );
}

/// A listener's clip of the last 30 seconds, and its share link once made.
export function ClipButton({ roomId }: { roomId: string }) {
  const [clip, setClip] = useState<Recording>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <>
      <button disabled={busy} onClick={async () => {
        setBusy(true);
        try {
          setClip(await post<Recording>(`/rooms/${roomId}/clips`));
          setError(undefined);
        } catch (e) {
          setError(message(e));
        } finally {
          setBusy(false);
        }
      }}>{busy ? t('clip.busy') : t('clip.button')}</button>
      {(clip || error) && (
        <Modal title={clip ? t('clip.yours') : t('clip.none')} onClose={() => { setClip(undefined); setError(undefined); }}>
          {clip && <>
            <audio controls src={clip.audio_url} aria-label={t('clip.yours')} />
            <p><Link href={`/r/${clip.id}`}>{`${location.origin}/r/${clip.id}`}</Link></p>
          </>}
          <ErrorNote message={error} />
          <div class="actions"><button class="primary" onClick={() => { setClip(undefined); setError(undefined); }}>{t('common.close')}</button></div>
        </Modal>
      )}
    </>
  );
}

const WEBHOOK_EVENTS = ['room.started', 'room.ended', 'event.scheduled', 'recording.ready', 'report.filed'];

/// The admin console's webhooks: register a URL for events (its secret shown once), see each one's
/// deliveries with their state and last error, remove it.
export function WebhooksPanel() {
  const [list, setList] = useState<Webhook[]>();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>(['room.started', 'room.ended']);
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<string>();
  const [shown, setShown] = useState<number>();
  const [deliveries, setDeliveries] = useState<WebhookDelivery[]>();
  const load = () => get<WebhookList>('/admin/webhooks').then((l) => setList(l.webhooks), (e) => setError(message(e)));
  useEffect(() => void load(), []);
  const show = async (id: number) => {
    setShown(id);
    try {
      setDeliveries((await get<WebhookDeliveries>(`/admin/webhooks/${id}/deliveries`)).deliveries);
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <section aria-labelledby="webhooks-h">
      <h2 id="webhooks-h">{t('webhooks.title')}</h2>
      <p class="muted">{t('webhooks.about')}</p>
      <form class="panel" onSubmit={async (e) => {
        e.preventDefault();
        try {
          const made = await post<Webhook>('/admin/webhooks', { url, events });
          setSecret(made.secret ?? undefined);
          setUrl('');
          setError(undefined);
          await load();
        } catch (err) {
          setError(message(err));
        }
      }}>
        <label>{t('webhooks.url')} <input type="url" value={url} placeholder="https://example.org/stoa-hook" onInput={(e) => setUrl((e.target as HTMLInputElement).value)} required /></label>
        <fieldset>
          <legend>{t('webhooks.events')}</legend>
          {WEBHOOK_EVENTS.map((ev) => (
            <label class="check" key={ev}><input type="checkbox" checked={events.includes(ev)} onChange={(e) => setEvents((e.target as HTMLInputElement).checked ? [...events, ev] : events.filter((x) => x !== ev))} /> {ev}</label>
          ))}
        </fieldset>
        <button class="primary" type="submit">{t('webhooks.add')}</button>
      </form>
      {secret && <p role="status">{tx('webhooks.secret', { secret: <code>{secret}</code> })}</p>}
      <ErrorNote message={error} />
      {list && list.length === 0 && <p class="muted">{t('webhooks.none')}</p>}
      <ul class="recordings">
        {list?.map((w) => (
          <li key={w.id} class="recording">
            <div><code>{w.url}</code> <span class="muted">{w.events.join(', ')}</span></div>
            <div class="actions">
              <button onClick={() => void show(w.id)}>{t('webhooks.deliveries')}</button>
              <button class="danger" onClick={async () => {
                if (!confirm(t('webhooks.remove_confirm', { url: w.url }))) return;
                try {
                  await del(`/admin/webhooks/${w.id}`);
                  await load();
                } catch (e) {
                  setError(message(e));
                }
              }}>{t('common.remove')}</button>
            </div>
            {shown === w.id && deliveries && (
              deliveries.length === 0 ? <p class="muted">{t('webhooks.no_deliveries')}</p> : (
                <ol class="log">
                  {deliveries.map((d) => (
                    <li key={d.id}>{when(d.created_at_ms)} · {d.event} · {tx('webhooks.delivery', { state: <strong>{d.state}</strong> }, { count: d.attempts })}{d.last_status != null ? ` · HTTP ${num(d.last_status)}` : ''}{d.last_error ? ` · ${d.last_error}` : ''}</li>
                  ))}
                </ol>
              )
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
