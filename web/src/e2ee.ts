// End-to-end encrypted rooms (issue 34) in the browser, on WebCrypto alone: the same epochs, sender keys,
// SFrame (RFC 9605, AES_128_GCM_SHA256_128), wrapped keys and safety codes as crates/e2ee, byte for byte
// (crates/stoa/tests/it/e2ee.rs holds the two to each other in Chromium). Used by e2ee-room.ts and
// e2ee-worker.ts.

const te = new TextEncoder();
const SUITE = 0x0004;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function be(n: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', ikm as BufferSource, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: salt as BufferSource, info: info as BufferSource }, key, length * 8);
  return new Uint8Array(bits);
}

/// A room's key for one epoch.
export interface EpochKey {
  epoch: number;
  secret: Uint8Array;
}

export function keyId(epoch: number, sender: number): bigint {
  return (BigInt(epoch) << 32n) | BigInt(sender >>> 0);
}

/// The SFrame base key of `sender` in this epoch (HKDF-SHA256, as crates/e2ee's `sender_secret`).
function senderSecret(key: EpochKey, sender: number): Promise<Uint8Array> {
  const info = concat(te.encode('stoa e2ee sender'), be(BigInt(key.epoch), 4), be(BigInt(sender >>> 0), 4));
  return hkdf(key.secret, te.encode('stoa e2ee 1'), info, 32);
}

/// RFC 9605 §4.4.2: the AEAD key and salt of a key ID from its base key.
async function sframeKey(base: Uint8Array, kid: bigint): Promise<{ key: CryptoKey; salt: Uint8Array }> {
  const suffix = concat(be(kid, 8), be(BigInt(SUITE), 2));
  const empty = new Uint8Array();
  const raw = await hkdf(base, empty, concat(te.encode('SFrame 1.0 Secret key '), suffix), 16);
  const salt = await hkdf(base, empty, concat(te.encode('SFrame 1.0 Secret salt '), suffix), 12);
  const key = await crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return { key, salt };
}

/// RFC 9605 §4.3: a value 0 to 7 in the config byte's 3 bits, else its minimal big-endian bytes after it.
function field(v: bigint): { bits: number; bytes: Uint8Array } {
  if (v < 8n) return { bits: Number(v), bytes: new Uint8Array() };
  let len = 1;
  while (v >> BigInt(8 * len) > 0n) len++;
  return { bits: 8 | (len - 1), bytes: be(v, len) };
}

function header(kid: bigint, counter: bigint): Uint8Array {
  const k = field(kid);
  const c = field(counter);
  return concat(new Uint8Array([(k.bits << 4) | c.bits]), k.bytes, c.bytes);
}

function parseHeader(frame: Uint8Array): { kid: bigint; counter: bigint; length: number } {
  const config = frame[0]!;
  let at = 1;
  const read = (bits: number): bigint => {
    if (!(bits & 8)) return BigInt(bits);
    const len = (bits & 7) + 1;
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(frame[at + i]!);
    at += len;
    return v;
  };
  const kid = read(config >> 4);
  const counter = read(config & 15);
  return { kid, counter, length: at };
}

function nonce(salt: Uint8Array, counter: bigint): Uint8Array {
  const ctr = be(counter, 12);
  return salt.map((b, i) => b ^ ctr[i]!);
}

/// One speaker's side: seals each Opus frame under the current epoch.
export class Sender {
  private counter = 0n;
  private constructor(private kid: bigint, private key: CryptoKey, private salt: Uint8Array) {}

  static async create(epoch: EpochKey, sender: number): Promise<Sender> {
    const kid = keyId(epoch.epoch, sender);
    const { key, salt } = await sframeKey(await senderSecret(epoch, sender), kid);
    return new Sender(kid, key, salt);
  }

  async seal(frame: Uint8Array): Promise<Uint8Array> {
    const h = header(this.kid, this.counter);
    const iv = nonce(this.salt, this.counter);
    this.counter++;
    const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: h as BufferSource }, this.key, frame as BufferSource);
    return concat(h, new Uint8Array(sealed));
  }
}

/// One listener's side: the epochs it was given, and the keys of the senders heard in them.
export class Receiver {
  private epochs = new Map<number, EpochKey>();
  private keys = new Map<bigint, { key: CryptoKey; salt: Uint8Array }>();

  addEpoch(key: EpochKey) {
    this.epochs.set(key.epoch, key);
  }

  /// Forgets the epochs before `epoch`, once frames under them can no longer be in flight.
  forgetBefore(epoch: number) {
    for (const e of this.epochs.keys()) if (e < epoch) this.epochs.delete(e);
    for (const kid of this.keys.keys()) if (Number(kid >> 32n) < epoch) this.keys.delete(kid);
  }

  /// The Opus frame inside an SFrame ciphertext; throws if this receiver lacks its epoch or it was altered.
  async open(sealed: Uint8Array): Promise<Uint8Array> {
    const { kid, counter, length } = parseHeader(sealed);
    let k = this.keys.get(kid);
    if (!k) {
      const epoch = this.epochs.get(Number(kid >> 32n));
      if (!epoch) throw new Error(`no key for epoch ${kid >> 32n}`);
      k = await sframeKey(await senderSecret(epoch, Number(kid & 0xffffffffn)), kid);
      this.keys.set(kid, k);
    }
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: nonce(k.salt, counter) as BufferSource, additionalData: sealed.subarray(0, length) as BufferSource },
      k.key,
      sealed.subarray(length) as BufferSource,
    );
    return new Uint8Array(plain);
  }
}

/// The epoch's safety code in `room` with these members (user ID and device key, in any order): twelve
/// digits in three groups, as crates/e2ee writes it.
export async function safetyCode(key: EpochKey, room: string, members: { user: number; device: Uint8Array }[]): Promise<string> {
  const r = te.encode(room);
  const sorted = [...members].sort((a, b) => a.user - b.user || compare(a.device, b.device));
  const parts = [te.encode('stoa safety code'), be(BigInt(r.length), 4), r, be(BigInt(key.epoch), 4), key.secret, be(BigInt(sorted.length), 4)];
  for (const m of sorted) parts.push(be(BigInt(m.user >>> 0), 4), m.device);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts) as BufferSource));
  let n = 0n;
  for (const b of digest.subarray(0, 8)) n = (n << 8n) | BigInt(b);
  const digits = (n % 1_000_000_000_000n).toString().padStart(12, '0');
  return `${digits.slice(0, 4)} ${digits.slice(4, 8)} ${digits.slice(8)}`;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const BLOB_LEN = 1 + 4 + 32 + 12 + 48;

async function x25519(secret: CryptoKey, publicRaw: Uint8Array): Promise<Uint8Array> {
  const theirs = await crypto.subtle.importKey('raw', publicRaw as BufferSource, { name: 'X25519' }, false, []);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: theirs }, secret, 256));
}

/// The wrap's AES-256-GCM key and associated data, as crates/e2ee's `cipher` and `aad` make them.
async function wrapKey(
  ephemeralShared: Uint8Array, staticShared: Uint8Array, ephemeral: Uint8Array, keyholder: Uint8Array,
  recipient: Uint8Array, room: string, epoch: number, usage: KeyUsage,
): Promise<{ key: CryptoKey; aad: Uint8Array }> {
  const raw = await hkdf(concat(ephemeralShared, staticShared), te.encode('stoa e2ee 1'), concat(te.encode('stoa e2ee wrap'), ephemeral, keyholder, recipient), 32);
  const key = await crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, [usage]);
  const r = te.encode(room);
  const aad = concat(te.encode('stoa e2ee wrap'), be(BigInt(r.length), 4), r, be(BigInt(epoch), 4), keyholder, recipient);
  return { key, aad };
}

/// Opens a blob that the keyholder whose device key is `keyholder` wrapped for this device (its X25519
/// private key and public key) in `room`; throws for any other.
export async function unwrap(device: CryptoKey, devicePublic: Uint8Array, keyholder: Uint8Array, room: string, blob: Uint8Array): Promise<EpochKey> {
  if (blob.length !== BLOB_LEN || blob[0] !== 1) throw new Error('not a wrapped key');
  const epoch = new DataView(blob.buffer, blob.byteOffset + 1, 4).getUint32(0);
  const ephemeral = blob.subarray(5, 37);
  const { key, aad } = await wrapKey(await x25519(device, ephemeral), await x25519(device, keyholder), ephemeral, keyholder, devicePublic, room, epoch, 'decrypt');
  const secret = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: blob.subarray(37, 49) as BufferSource, additionalData: aad as BufferSource }, key, blob.subarray(49) as BufferSource);
  return { epoch, secret: new Uint8Array(secret) };
}

/// `epoch`'s key wrapped by this device (the keyholder's: its private and public key) for `recipient`.
export async function wrap(epoch: EpochKey, room: string, device: CryptoKey, devicePublic: Uint8Array, recipient: Uint8Array): Promise<Uint8Array> {
  const pair = (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  const ephemeral = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const { key, aad } = await wrapKey(await x25519(pair.privateKey, recipient), await x25519(device, recipient), ephemeral, devicePublic, recipient, room, epoch.epoch, 'encrypt');
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: aad as BufferSource }, key, epoch.secret as BufferSource));
  return concat(new Uint8Array([1]), be(BigInt(epoch.epoch), 4), ephemeral, iv, sealed);
}

/// A new random key for `epoch`.
export function randomEpoch(epoch: number): EpochKey {
  return { epoch, secret: crypto.getRandomValues(new Uint8Array(32)) };
}
