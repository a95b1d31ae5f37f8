// This device in an end-to-end encrypted room (issue 34): its key pair, kept in IndexedDB with the private
// key non-extractable; the keyholder's work when the room asks for an epoch's key; each epoch taken once
// its announcement and its wrapped key are both here, its wrap opened as from the keyholder's device and
// this device listed under its own key; and the worker whose encoded transforms seal and open the audio.
import { randomEpoch, safetyCode, unwrap, wrap } from './e2ee';
import type { ClientCommand, E2eeMember, ServerEvent } from './wire';

/// What the room shows of its keys.
export interface KeysState {
  /// The newest epoch taken, and its safety code.
  epoch: number;
  code?: string;
  /// Why this device holds no key: none yet, no way to keep one, or an epoch refused.
  problem?: 'waiting' | 'unsupported' | 'refused';
}

interface Device {
  privateKey: CryptoKey;
  publicRaw: Uint8Array;
}

const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64 = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));

/// This browser's device key: made once, kept in IndexedDB (a CryptoKey is stored as it is, so the private
/// key never exists as bytes the page could read).
async function deviceKey(): Promise<Device> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open('stoa', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('device');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const request = <T>(r: IDBRequest<T>) => new Promise<T>((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const kept = await request<Device | undefined>(db.transaction('device').objectStore('device').get('x25519'));
  if (kept) return kept;
  const pair = (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  const device = { privateKey: pair.privateKey, publicRaw: new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)) };
  await request(db.transaction('device', 'readwrite').objectStore('device').put(device, 'x25519'));
  return device;
}

export class RoomKeys {
  state: KeysState = { epoch: 0, problem: 'waiting' };
  private device?: Promise<Device>;
  private announced = new Map<number, { keyholder: string; members: E2eeMember[] }>();
  private wrapped = new Map<number, string>();
  private worker = new Worker(new URL('./e2ee-worker.ts', import.meta.url), { type: 'module' });

  constructor(private room: string, private me: number, private send: (c: ClientCommand) => void, private changed: (s: KeysState) => void) {}

  /// Whether this browser can take part: encoded transforms and X25519 in WebCrypto.
  static supported(): boolean {
    return typeof RTCRtpScriptTransform === 'function' && typeof indexedDB !== 'undefined' && !!crypto.subtle;
  }

  /// Announces this device to the room (again after a reconnect: the room makes a new epoch for it).
  async announce() {
    this.device ??= deviceKey();
    try {
      const device = await this.device;
      this.send({ type: 'device_key', public_key: b64(device.publicRaw) });
    } catch {
      this.set({ problem: 'unsupported' });
    }
  }

  /// The transform for the send m-line or a receive slot.
  transform(side: 'send' | 'receive'): RTCRtpScriptTransform {
    return new RTCRtpScriptTransform(this.worker, { side });
  }

  close() {
    this.worker.terminate();
  }

  async onEvent(e: ServerEvent) {
    if (e.type === 'e2ee_rekey') {
      // This device is the keyholder: a new key, wrapped for every device in the room.
      const device = await this.device;
      if (!device) return;
      const key = randomEpoch(e.epoch);
      const wrapped = await Promise.all(e.members.map(async (m) => b64(await wrap(key, this.room, device.privateKey, device.publicRaw, unb64(m.device_key)))));
      this.send({ type: 'e2ee_keys', epoch: e.epoch, wrapped });
    } else if (e.type === 'e2ee_epoch') {
      this.announced.set(e.epoch, { keyholder: e.keyholder.device_key, members: e.members });
      await this.take(e.epoch);
    } else if (e.type === 'e2ee_key') {
      this.wrapped.set(e.epoch, e.wrapped);
      await this.take(e.epoch);
    }
  }

  private async take(epoch: number) {
    const announced = this.announced.get(epoch);
    const wrapped = this.wrapped.get(epoch);
    const device = await this.device;
    if (!announced || !wrapped || !device) return;
    this.announced.delete(epoch);
    this.wrapped.delete(epoch);
    const mine = b64(device.publicRaw);
    const listed = announced.members.filter((m) => m.user_id === this.me).map((m) => m.device_key);
    try {
      // Another key under this account's name would be a device the server slipped in: refused.
      if (listed.length !== 1 || listed[0] !== mine) throw new Error('another device is listed under this account');
      const key = await unwrap(device.privateKey, device.publicRaw, unb64(announced.keyholder), this.room, unb64(wrapped));
      if (key.epoch !== epoch) throw new Error('a key of another epoch');
      const code = await safetyCode(key, this.room, announced.members.map((m) => ({ user: m.user_id, device: unb64(m.device_key) })));
      this.worker.postMessage({ type: 'epoch', epoch, secret: key.secret, me: this.me });
      if (epoch > this.state.epoch) this.set({ epoch, code, problem: undefined });
    } catch {
      this.set({ problem: 'refused' });
    }
  }

  private set(patch: Partial<KeysState>) {
    this.state = { ...this.state, ...patch };
    this.changed(this.state);
  }
}
