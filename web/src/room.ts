// One room connection: the room's WebSocket, a WebRTC peer with one send m-line and three receive slots,
// the microphone (asked for only when the user goes on stage), speaking levels, and reconnection.
import { SpatialMix, headphonesLikely, storeSpatial, storedSpatial } from './spatial';
import { type KeysState, RoomKeys } from './e2ee-room';
import { errorText, t } from './i18n';
import type { ChatState, ClientCommand, ReactionCount, Role, RoomInfo, ServerEvent, StageMember, UserId, UserSummary } from './wire';

const SLOTS = 3;

export type RoomPhase = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'removed' | 'left' | 'refused';

export interface RoomState {
  phase: RoomPhase;
  you?: UserSummary;
  role: Role;
  room?: RoomInfo;
  muted: boolean;
  hands: UserSummary[];
  handRaised: boolean;
  invitedBy?: UserSummary;
  levels: Map<UserId, number>;
  notice?: string;
  micError?: string;
  autoplayBlocked: boolean;
  endedReason?: string;
  /// Why the server took us out (`removed_by_moderator`, `suspended`, `account_deleted`...).
  removedReason?: string;
  chat: ChatState;
  /// A full room's public listen link, offered instead of the room.
  listenLink?: string;
  /// The last counts of reactions, with a serial that changes with each, for the animation.
  reactions: { counts: ReactionCount[]; serial: number };
  /// Each speaker's voice from their seat on the stage (spatial.ts): remembered per browser, on by default
  /// with headphones.
  spatial: boolean;
  /// Whether this server can caption (from `joined`), whether captions are on, and the last lines.
  captionsAvailable: boolean;
  /// The server's captions come from its local engine, of low accuracy: the client says so.
  captionsLowAccuracy: boolean;
  captions: boolean;
  captionLines: CaptionLine[];
  /// In an end-to-end encrypted room: this device's keys (the epoch, its safety code, or what is wrong).
  e2ee?: KeysState;
}

/// A line of live captions, as shown.
export interface CaptionLine {
  key: number;
  speaker: UserId;
  text: string;
}

/// Caption lines kept on screen.
const CAPTION_LINES = 3;

type Listener = (s: RoomState) => void;

export class RoomClient {
  state: RoomState = {
    phase: 'connecting', role: 'listener', muted: false, hands: [], handRaised: false, levels: new Map(), autoplayBlocked: false,
    chat: { mode: 'everyone', messages: [], slow_mode: false, silenced: false }, reactions: { counts: [], serial: 0 },
    spatial: storedSpatial() ?? false,
    captionsAvailable: false, captionsLowAccuracy: false, captions: false, captionLines: [],
  };
  private ws?: WebSocket;
  private pc?: RTCPeerConnection;
  /// The TURN servers and this user's credentials for them, from `joined`: the way in for a network that
  /// lets out nothing but TCP to a TURN server. (ICE-TCP to the server itself needs no configuration.)
  private iceServers: RTCIceServer[] = [];
  /// The speaker behind each source number (CSRC), from `slots` events.
  private speakers = new Map<number, UserId>();
  private mic?: MediaStream;
  /// The microphone being asked for, so that going on stage and a media move at once open it once.
  private micAsked?: Promise<MediaStream>;
  private audios: HTMLAudioElement[] = [];
  /// Each receive slot's <audio>, by slot; with spatial audio on it plays muted (Chromium feeds a remote
  /// stream to WebAudio only while an element plays it) and the slot is heard through `spatial`.
  private slotAudio = new Map<number, HTMLAudioElement>();
  private spatial = new SpatialMix();
  /// Who each slot carries, from the last `slots` event.
  private slotUsers: (UserId | null)[] = [];
  private listeners = new Set<Listener>();
  private closedByUs = false;
  private retry = 0;
  /// The delay the server suggested when it said it was restarting.
  private restartDelay?: number;
  private levelTimer?: number;
  private retryTimer?: number;
  /// A refused offer's second try.
  private offerTimer?: number;
  /// The next media connection after one failed, and how many failed in a row.
  private iceTimer?: number;
  private iceFailures = 0;
  // The browser knows when the network goes away and comes back: drop the room's connection at once
  // rather than waiting for it to time out, and rejoin as soon as the network returns.
  private onOffline = () => {
    if (this.state.phase !== 'live' && this.state.phase !== 'connecting') return;
    // A cut network cannot finish a closing handshake, so abandon the socket rather than wait for its close
    // event. When the new one joins, the server retires the old connection (a second connection from the
    // same user takes over its place).
    const ws = this.ws;
    this.ws = undefined;
    ws?.close();
    this.teardownMedia();
    this.set({ phase: 'reconnecting' });
    this.retryTimer = window.setTimeout(() => this.connect(), 1000);
  };
  private onOnline = () => {
    if (this.state.phase === 'reconnecting') {
      window.clearTimeout(this.retryTimer);
      this.connect();
    }
  };
  /// This device's part in an end-to-end encrypted room.
  private keys?: RoomKeys;
  private micAnalyser?: AnalyserNode;
  private audioCtx?: AudioContext;

  constructor(private roomId: string, private audioHost: HTMLElement) {
    if (storedSpatial() === undefined) {
      void headphonesLikely().then((yes) => {
        if (yes && storedSpatial() === undefined) void this.applySpatial(true);
      });
    }
  }

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    f(this.state);
    return () => this.listeners.delete(f);
  }

  private set(patch: Partial<RoomState>) {
    this.state = { ...this.state, ...patch };
    if (patch.room) this.spatial.setStage(patch.room.stage.map((m) => m.user.id), this.state.you?.id);
    for (const f of this.listeners) f(this.state);
  }

  connect() {
    this.closedByUs = false;
    window.addEventListener('offline', this.onOffline);
    window.addEventListener('online', this.onOnline);
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/rooms/${this.roomId}/ws`);
    this.ws = ws;
    ws.onmessage = (m) => this.onEvent(JSON.parse(m.data) as ServerEvent);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.teardownMedia();
      const final = ['ended', 'removed', 'left', 'refused'].includes(this.state.phase);
      if (this.closedByUs || final) return;
      if (this.state.phase === 'connecting' && this.retry === 0) {
        // Refused before the upgrade (hidden, removed, full): the server said why over HTTP.
        this.explainRefusal();
        return;
      }
      this.set({ phase: 'reconnecting' });
      // Exponential backoff with jitter (half to one and a half times), so that a whole audience cut off
      // at once (a server restart) does not come back in the same instant.
      const base = this.restartDelay ?? Math.min(10_000, 500 * 2 ** this.retry);
      this.retry++;
      this.restartDelay = undefined;
      this.retryTimer = window.setTimeout(() => this.connect(), base * (0.5 + Math.random()));
    };
    if (!this.levelTimer) this.levelTimer = window.setInterval(() => this.pollLevels(), 150);
  }

  private async explainRefusal() {
    try {
      const res = await fetch(`/api/v1/rooms/${this.roomId}`, { credentials: 'same-origin' });
      const body = await res.json();
      // A room we may see but could not join is full (a removed person is told why before the upgrade);
      // if its hosts turned the listen link on, that is offered instead.
      const listenLink = res.ok && body.outputs?.listen_link ? `/listen/${this.roomId}` : undefined;
      const message = !res.ok
        ? (body.error ? errorText(body.error.code, body.error.message) : t('room.cannot_join'))
        : listenLink ? t('room.full_listen') : t('room.full_or_removed');
      this.set({ phase: 'refused', notice: message, listenLink });
    } catch {
      this.set({ phase: 'refused', notice: t('room.cannot_join') });
    }
  }

  send(command: ClientCommand) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(command));
  }

  leave() {
    this.send({ type: 'leave' });
    this.set({ phase: 'left' });
    this.close();
  }

  close() {
    this.closedByUs = true;
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.levelTimer);
    this.levelTimer = undefined;
    this.ws?.close();
    this.teardownMedia();
    this.keys?.close();
    this.keys = undefined;
    this.spatial.close();
    this.mic?.getTracks().forEach((t) => t.stop());
    this.mic = undefined;
    if (this.audioCtx && this.audioCtx.state !== 'closed') void this.audioCtx.close();
    this.audioCtx = undefined;
    this.micAnalyser = undefined;
  }

  /// Plays the room's audio after a tap, when the browser blocked autoplay.
  async tapToListen() {
    for (const a of this.audios) await a.play().catch(() => undefined);
    if (this.state.spatial) await this.spatial.resume();
    this.set({ autoplayBlocked: false });
  }

  /// Turns live captions on or off for this connection (they are per connection: a rejoin asks again).
  setCaptions(on: boolean) {
    this.set({ captions: on, captionLines: on ? this.state.captionLines : [] });
    this.send({ type: 'set_captions', on });
  }

  /// Turns spatial audio on or off, and remembers the choice in this browser.
  async setSpatial(on: boolean) {
    storeSpatial(on);
    await this.applySpatial(on);
  }

  private async applySpatial(on: boolean) {
    this.set({ spatial: on });
    if (!on) this.spatial.close();
    for (const [slot, audio] of this.slotAudio) this.route(slot, audio);
    if (on && !(await this.spatial.resume())) this.set({ autoplayBlocked: true });
  }

  /// A slot's sound goes through its panner (spatial audio on) or straight out of its <audio> (off, or a
  /// browser without WebAudio).
  private route(slot: number, audio: HTMLAudioElement) {
    const stream = audio.srcObject as MediaStream | null;
    audio.muted = this.state.spatial && slot >= 0 && stream !== null && this.spatial.attach(slot, stream);
  }

  async setMuted(muted: boolean) {
    if (!muted) await this.ensureMic();
    this.mic?.getAudioTracks().forEach((t) => (t.enabled = !muted));
    this.send({ type: 'set_muted', muted });
  }

  private onEvent(e: ServerEvent) {
    switch (e.type) {
      case 'joined': {
        this.retry = 0;
        this.iceServers = e.ice_servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
        const me = e.room.stage.find((m) => m.user.id === e.you.id);
        this.set({ phase: 'live', you: e.you, role: e.role, room: e.room, hands: e.hands, muted: me?.muted ?? false, notice: undefined, chat: e.chat, captionsAvailable: e.captions, captionsLowAccuracy: e.captions_low_accuracy });
        // Captions are the connection's: a rejoin (a reconnect) asks for them again.
        if (this.state.captions && e.captions) this.send({ type: 'set_captions', on: true });
        // An end-to-end encrypted room's audio is sealed on this device (issue 34): a browser that cannot
        // takes no part in the room's media rather than send a word in the clear.
        if (e.room.e2ee && !RoomKeys.supported()) this.set({ notice: t('room.e2ee_unsupported'), e2ee: { epoch: 0, problem: 'unsupported' } });
        else if (e.room.e2ee) {
          this.keys ??= new RoomKeys(this.roomId, e.you.id, (c) => this.send(c), (k) => this.set({ e2ee: k }));
          this.set({ e2ee: this.keys.state });
          void this.keys.announce().then(() => this.startMedia());
        } else void this.startMedia();
        break;
      }
      case 'stage_changed': {
        const room = this.state.room && { ...this.state.room, stage: e.stage };
        const me = e.stage.find((m: StageMember) => m.user.id === this.state.you?.id);
        this.set({ room, muted: me?.muted ?? false });
        this.mic?.getAudioTracks().forEach((t) => (t.enabled = !(me?.muted ?? true)));
        break;
      }
      case 'role_changed':
        this.set({ role: e.role, invitedBy: undefined, handRaised: e.role === 'listener' ? this.state.handRaised : false });
        void this.syncMic();
        break;
      case 'listener_count':
        if (this.state.room) this.set({ room: { ...this.state.room, listener_count: e.count, public_listeners: e.public } });
        break;
      case 'outputs_changed':
        if (this.state.room) this.set({ room: { ...this.state.room, outputs: e.outputs } });
        // The moderators turned captions off: they stop for everyone.
        if (!e.outputs.captions && this.state.captions) this.set({ captions: false, captionLines: [] });
        break;
      case 'recording_stopped':
      case 'restream_stopped':
        this.set({ notice: errorText(`${e.type}.${e.reason}`, e.message) });
        break;
      case 'hand_mode_changed':
        if (this.state.room) this.set({ room: { ...this.state.room, hand_mode: e.mode }, ...(e.mode === 'off' ? { hands: [], handRaised: false } : {}) });
        break;
      case 'hand_raised':
        if (e.user.id === this.state.you?.id) this.set({ handRaised: true });
        if (this.state.role === 'moderator' && !this.state.hands.some((h) => h.id === e.user.id)) this.set({ hands: [...this.state.hands, e.user] });
        break;
      case 'hand_lowered':
        this.set({ hands: this.state.hands.filter((h) => h.id !== e.user_id), ...(e.user_id === this.state.you?.id ? { handRaised: false } : {}) });
        break;
      case 'invited_to_speak':
        this.set({ invitedBy: e.by });
        break;
      case 'invite_declined':
        break;
      case 'muted':
        this.set({ notice: t('room.muted_by', { name: e.by.display_name }) });
        break;
      case 'removed':
        this.set({ phase: 'removed', notice: errorText(`removed.${e.reason}`, e.message), removedReason: e.reason });
        this.close();
        break;
      case 'room_ended':
        this.set({ phase: 'ended', endedReason: e.reason });
        this.close();
        break;
      case 'error':
        if (e.code === 'rate_limited' && this.pc?.signalingState === 'have-local-offer') {
          // The server refused this connection's offer as too soon after another (one a second, ten a
          // minute): it will not answer it, so offer again after a pause rather than stay silent.
          const pc = this.pc;
          window.clearTimeout(this.offerTimer);
          this.offerTimer = window.setTimeout(() => {
            if (pc === this.pc) void this.startMedia();
          }, 2000);
          break;
        }
        if (e.code === 'no_captions' || e.code === 'captions_off') {
          this.set({ captions: false, captionsAvailable: e.code === 'captions_off', notice: errorText(e.code, e.message) });
          break;
        }
        this.set({ notice: errorText(e.code, e.message) });
        break;
      case 'answer':
        void this.pc?.setRemoteDescription({ type: 'answer', sdp: e.sdp });
        break;
      case 'e2ee_rekey':
      case 'e2ee_epoch':
      case 'e2ee_key':
        void this.keys?.onEvent(e);
        break;
      case 'slots':
        // Packets name their speaker by an opaque source number (RTP headers travel in the clear); this
        // event is the only place that says whose it is. Bounded: the map restarts in a very long room.
        if (this.speakers.size > 4096) this.speakers.clear();
        this.slotUsers = e.slots;
        this.spatial.setSlots(e.slots);
        e.slots.forEach((user, i) => {
          const source = e.sources[i];
          if (user !== null && source !== null && source !== undefined) this.speakers.set(source, user);
        });
        break;
      case 'chat_message':
        // The last 100, as a late joiner gets them.
        this.set({ chat: { ...this.state.chat, messages: [...this.state.chat.messages, e.message].slice(-100) } });
        break;
      case 'chat_deleted':
        this.set({ chat: { ...this.state.chat, messages: this.state.chat.messages.filter((m) => m.id !== e.message_id) } });
        break;
      case 'chat_mode_changed':
        this.set({ chat: { ...this.state.chat, mode: e.mode } });
        break;
      case 'chat_slow_mode':
        this.set({ chat: { ...this.state.chat, slow_mode: e.on } });
        break;
      case 'chat_silenced':
        this.set({ chat: { ...this.state.chat, silenced: e.silenced } });
        break;
      case 'reactions':
        this.set({ reactions: { counts: e.counts, serial: this.state.reactions.serial + 1 } });
        break;
      case 'caption':
        if (!this.state.captions || e.text === '') break;
        this.set({ captionLines: [...this.state.captionLines, { key: e.start_ms * 1000 + e.speaker, speaker: e.speaker, text: e.text }].slice(-CAPTION_LINES) });
        break;
      case 'pong':
        break;
      case 'server_restarting':
        // The socket closes next; come back after the suggested delay (the room and your place survive).
        this.restartDelay = e.retry_after_ms;
        this.set({ notice: t('room.restarting') });
        break;
    }
  }

  private async startMedia() {
    this.teardownMedia();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    pc.addTransceiver('audio', { direction: 'sendonly' });
    for (let i = 0; i < SLOTS; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
    if (this.keys) {
      // Before any frame flows: every frame sent is sealed, every frame received opened.
      const [send, ...slots] = pc.getTransceivers();
      send!.sender.transform = this.keys.transform('send');
      for (const slot of slots) slot.receiver.transform = this.keys.transform('receive');
    }
    pc.ontrack = (ev) => this.attach(pc.getTransceivers().indexOf(ev.transceiver) - 1, ev.streams[0] ?? new MediaStream([ev.track]));
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'connected') this.iceFailures = 0;
      if (pc.connectionState !== 'failed') return;
      // ICE restart: a fresh offer replaces the media connection without leaving the room, after a pause
      // that doubles with each failure in a row (1 s up to 30 s), so that a network that stays down is not
      // offered to again and again.
      const pause = Math.min(30_000, 1000 * 2 ** this.iceFailures);
      this.iceFailures++;
      window.clearTimeout(this.iceTimer);
      this.iceTimer = window.setTimeout(() => {
        if (pc === this.pc) void this.startMedia();
      }, pause);
    };
    await this.syncMic();
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'offer', sdp: pc.localDescription!.sdp });
  }

  private attach(slot: number, stream: MediaStream) {
    const audio = document.createElement('audio');
    audio.autoplay = true;
    audio.srcObject = stream;
    this.audioHost.appendChild(audio);
    this.audios.push(audio);
    this.slotAudio.get(slot)?.remove();
    this.slotAudio.set(slot, audio);
    this.spatial.setSlots(this.slotUsers);
    this.route(slot, audio);
    audio.play().catch(() => this.set({ autoplayBlocked: true }));
    if (this.state.spatial) void this.spatial.resume().then((ok) => ok || this.set({ autoplayBlocked: true }));
  }

  private teardownMedia() {
    window.clearTimeout(this.offerTimer);
    window.clearTimeout(this.iceTimer);
    this.pc?.close();
    this.pc = undefined;
    for (const a of this.audios) a.remove();
    this.audios = [];
    this.slotAudio.clear();
    this.spatial.close();
  }

  private onStage() {
    return this.state.role !== 'listener';
  }

  /// The microphone follows the stage: asked for when the user goes on stage, released when they leave it.
  private async syncMic() {
    if (this.onStage()) {
      await this.ensureMic();
    } else if (this.mic) {
      this.mic.getTracks().forEach((t) => t.stop());
      this.mic = undefined;
      await this.sender()?.replaceTrack(null);
    }
  }

  private sender(): RTCRtpSender | undefined {
    return this.pc?.getTransceivers()[0]?.sender;
  }

  private async ensureMic(): Promise<void> {
    if (!this.mic) {
      try {
        this.micAsked ??= navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
        const mic = await this.micAsked.finally(() => (this.micAsked = undefined));
        if (this.mic) {
          // Another call opened it while this one waited for the same answer.
          if (this.mic !== mic) mic.getTracks().forEach((t) => t.stop());
          return this.ensureMic();
        }
        this.mic = mic;
        this.set({ micError: undefined });
      } catch (err) {
        const name = (err as DOMException).name;
        const micError = name === 'NotAllowedError' || name === 'SecurityError'
          ? t('mic.refused')
          : name === 'NotFoundError' || name === 'OverconstrainedError'
            ? t('mic.none')
            : t('mic.failed');
        this.set({ micError });
        return;
      }
      this.audioCtx ??= new AudioContext();
      const source = this.audioCtx.createMediaStreamSource(this.mic);
      this.micAnalyser = this.audioCtx.createAnalyser();
      this.micAnalyser.fftSize = 512;
      source.connect(this.micAnalyser);
    }
    this.mic.getAudioTracks().forEach((t) => (t.enabled = !this.state.muted));
    await this.sender()?.replaceTrack(this.mic.getAudioTracks()[0] ?? null);
  }

  /// Who is speaking, and how loudly: each forwarded packet names its speaker's source number as its CSRC,
  /// with the speaker's audio level; the browser exposes both on each receiver, and `slots` events say
  /// whose source it is. No message per packet needed.
  private pollLevels() {
    const levels = new Map<UserId, number>();
    for (const t of this.pc?.getTransceivers().slice(1) ?? []) {
      const now = performance.timeOrigin + performance.now();
      for (const c of t.receiver.getContributingSources()) {
        const user = this.speakers.get(c.source);
        if (user !== undefined && now - c.timestamp < 500) levels.set(user, Math.max(levels.get(user) ?? 0, c.audioLevel ?? 0.3));
      }
    }
    if (this.micAnalyser && this.state.you && !this.state.muted && this.onStage()) {
      const data = new Float32Array(this.micAnalyser.fftSize);
      this.micAnalyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      levels.set(this.state.you.id, Math.min(1, Math.sqrt(sum / data.length) * 4));
    }
    const changed = levels.size !== this.state.levels.size || [...levels].some(([k, v]) => Math.abs((this.state.levels.get(k) ?? 0) - v) > 0.02);
    if (changed) this.set({ levels });
  }
}
