// Spatial audio: each receive slot plays through its own stereo panner, placed at the seat of the speaker it
// carries, so that a panel's voices come from different places in headphones. Off, the slots play through
// their <audio> elements exactly as without it (mono output is never worse).
import type { UserId } from './wire';

const KEY = 'stoa.spatial';

/// Where each seat sits in the stereo field (-1 is all left), in the order seats are given: the first two
/// apart, the third between them, then the gaps. A seat keeps its place whoever else comes and goes.
const SEATS = [-0.6, 0.6, 0, -0.9, 0.9, -0.3, 0.3, -0.75, 0.75, -0.15, 0.15];

/// How quickly a slot glides to a new speaker's place (a time constant, in seconds): fast enough to follow
/// the voice, slow enough not to click.
const GLIDE = 0.04;

/// The remembered choice, if any: it belongs to the device (its headphones), so it is kept in the browser.
export function storedSpatial(): boolean | undefined {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'on' ? true : v === 'off' ? false : undefined;
  } catch {
    return undefined;
  }
}

export function storeSpatial(on: boolean) {
  try {
    localStorage.setItem(KEY, on ? 'on' : 'off');
  } catch {
    /* private browsing: the choice lasts this page */
  }
}

/// On by default only where the output can be told to be headphones: a device's label says so (labels are
/// shown once the site may use the microphone). Anything else, or nothing to tell by, is off.
export async function headphonesLikely(): Promise<boolean> {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.some((d) => d.kind === 'audiooutput' && /head(phone|set)|ear(bud|phone)|airpods|buds/i.test(d.label));
  } catch {
    return false;
  }
}

/// The stage's seats: each person on stage gets the lowest free seat when they arrive and keeps it until
/// they leave the stage. The listener's own seat is not heard, so they get none.
export class Seats {
  private seat = new Map<UserId, number>();

  /// The stage now, in its order; `me` is left out.
  update(stage: UserId[], me?: UserId) {
    const present = new Set(stage.filter((u) => u !== me));
    for (const u of [...this.seat.keys()]) if (!present.has(u)) this.seat.delete(u);
    const taken = new Set(this.seat.values());
    let next = 0;
    for (const u of present) {
      if (this.seat.has(u)) continue;
      while (taken.has(next)) next++;
      this.seat.set(u, next);
      taken.add(next);
    }
  }

  /// Where `user` sits in the stereo field, -1 to 1; the middle for someone without a seat.
  pan(user: UserId | null | undefined): number {
    const s = user === null || user === undefined ? undefined : this.seat.get(user);
    return s === undefined ? 0 : SEATS[s % SEATS.length];
  }
}

/// The slots' WebAudio graph: one source and one panner per receive slot, into the context's output.
export class SpatialMix {
  private ctx?: AudioContext;
  private slots: ({ source: MediaStreamAudioSourceNode; panner: StereoPannerNode; stream: MediaStream } | undefined)[] = [];
  private who: (UserId | null)[] = [];
  readonly seats = new Seats();

  /// Plays `stream` for receive slot `slot` through its panner. False if this browser has no WebAudio.
  attach(slot: number, stream: MediaStream): boolean {
    if (typeof AudioContext === 'undefined' || stream.getAudioTracks().length === 0) return false;
    this.ctx ??= new AudioContext({ latencyHint: 'interactive' });
    this.slots[slot]?.source.disconnect();
    const source = this.ctx.createMediaStreamSource(stream);
    const panner = this.ctx.createStereoPanner();
    panner.pan.value = this.seats.pan(this.who[slot]);
    source.connect(panner).connect(this.ctx.destination);
    this.slots[slot] = { source, panner, stream };
    return true;
  }

  /// Whether the graph may play (a browser that blocks autoplay keeps a context suspended until a tap).
  async resume(): Promise<boolean> {
    if (!this.ctx) return true;
    await this.ctx.resume().catch(() => undefined);
    return this.ctx.state === 'running';
  }

  /// Who each slot carries now (from `slots` events): each slot's panner glides to its speaker's seat.
  setSlots(who: (UserId | null)[]) {
    this.who = who;
    this.place();
  }

  /// The stage changed: seats are given and freed, and the slots follow.
  setStage(stage: UserId[], me?: UserId) {
    this.seats.update(stage, me);
    this.place();
  }

  private place() {
    if (!this.ctx) return;
    this.slots.forEach((s, i) => s?.panner.pan.setTargetAtTime(this.seats.pan(this.who[i]), this.ctx!.currentTime, GLIDE));
  }

  /// Stops playing: the graph is taken apart and its context closed.
  close() {
    for (const s of this.slots) s?.source.disconnect();
    this.slots = [];
    void this.ctx?.close().catch(() => undefined);
    this.ctx = undefined;
  }

  /// The streams being played, so that turning it off hands them back to their <audio> elements.
  streams(): MediaStream[] {
    return this.slots.flatMap((s) => (s ? [s.stream] : []));
  }
}
