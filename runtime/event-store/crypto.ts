/**
 * Payload encryption for crypto-shredding. Every stream has its own random 256-bit data key;
 * event payloads and user metadata are sealed with it (AES-256-GCM, the stream id as associated
 * data, so a ciphertext cannot be passed off as another stream's). The data key is stored on the
 * stream's shard only wrapped (AES-256-GCM) under the store's master key, which never reaches a
 * shard. Deleting a stream deletes its wrapped key: its events stay in the log (positions and
 * versions intact) but can never be decrypted again, by this store, a replay, a rebuild, or
 * anyone holding a copy of the database or its backups taken afterwards... and before, as long
 * as the master key is kept out of them.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { EventArgumentError } from "./errors";

const NONCE = 12;
const TAG = 16;

/** The master key from the option value: 32 bytes, given as base64 (44 chars) or hex (64 chars), or a Buffer. */
export function parseMasterKey(key: string | Buffer, argument = "masterKey"): Buffer {
  let buf: Buffer | undefined;
  if (Buffer.isBuffer(key)) buf = key;
  else if (typeof key === "string" && /^[0-9a-fA-F]{64}$/.test(key.trim())) buf = Buffer.from(key.trim(), "hex");
  else if (typeof key === "string" && /^[A-Za-z0-9+/]{43}=?$/.test(key.trim())) buf = Buffer.from(key.trim(), "base64");
  if (!buf || buf.length !== 32)
    throw new EventArgumentError(
      argument,
      "must be a 256-bit key: 32 bytes as base64 (44 characters) or hex (64 characters); e.g. `openssl rand -base64 32`",
    );
  return Buffer.from(buf);
}

/**
 * Nonces come from a pool of random bytes refilled 64 KiB at a time (a random 96-bit nonce per
 * message, as GCM needs under one key, without a system call per event).
 */
let noncePool = Buffer.alloc(0);
let nonceAt = 0;
function nonce(): Buffer {
  if (nonceAt + NONCE > noncePool.length) {
    noncePool = randomBytes(65_536);
    nonceAt = 0;
  }
  const n = noncePool.subarray(nonceAt, nonceAt + NONCE);
  nonceAt += NONCE;
  return n;
}

function seal(key: Buffer, plain: Buffer, aad: Buffer): Buffer {
  const iv = nonce();
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(aad);
  const body = c.update(plain);
  const rest = c.final();
  const out = Buffer.allocUnsafe(NONCE + body.length + rest.length + TAG);
  iv.copy(out, 0);
  body.copy(out, NONCE);
  rest.copy(out, NONCE + body.length);
  c.getAuthTag().copy(out, NONCE + body.length + rest.length);
  return out;
}

function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < NONCE + TAG) throw new Error("ciphertext too short");
  const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE));
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const body = d.update(sealed.subarray(NONCE, sealed.length - TAG));
  const rest = d.final(); // GCM: empty, but it is what checks the tag
  return rest.length === 0 ? body : Buffer.concat([body, rest]);
}

const KEY_AAD = Buffer.from("scaleplane-event-stream-key");

/** A stream's data key: the raw key, its wrapped form (stored) and its fingerprint (compared on append). */
export interface StreamKey {
  readonly key: Buffer;
  readonly wrapped: Buffer;
  readonly id: Buffer;
}

/** Seals and opens payloads under per-stream keys wrapped by one master key. */
export class PayloadCipher {
  readonly #master: Buffer;

  constructor(masterKey: string | Buffer) {
    this.#master = parseMasterKey(masterKey);
  }

  /** A new random data key for a stream. */
  newKey(): StreamKey {
    const key = randomBytes(32);
    const wrapped = seal(this.#master, key, KEY_AAD);
    return { key, wrapped, id: fingerprint(wrapped) };
  }

  /** The data key of a stored wrapped key. @throws when it was wrapped under another master key */
  unwrap(wrapped: Buffer): StreamKey {
    return { key: open(this.#master, wrapped, KEY_AAD), wrapped, id: fingerprint(wrapped) };
  }

  /** Seals one event's body (JSON of data and metadata) for `stream` (or its UTF-8 bytes, computed once per append). */
  seal(k: StreamKey, stream: string | Buffer, body: unknown): Buffer {
    return seal(
      k.key,
      Buffer.from(JSON.stringify(body), "utf8"),
      typeof stream === "string" ? Buffer.from(stream, "utf8") : stream,
    );
  }

  /** Opens a body sealed by {@link seal} for `stream` (or its UTF-8 bytes). */
  open(k: StreamKey, stream: string | Buffer, sealed: Buffer): unknown {
    return JSON.parse(
      open(k.key, sealed, typeof stream === "string" ? Buffer.from(stream, "utf8") : stream).toString("utf8"),
    );
  }
}

/** 16 bytes identifying a wrapped key (what the append compares: a stream keeps one key). */
export function fingerprint(wrapped: Buffer): Buffer {
  return createHash("sha256").update(wrapped).digest().subarray(0, 16);
}
