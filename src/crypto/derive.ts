/**
 * Purpose-bound keys derived from MASTER_ENCRYPTION_KEY with HKDF-SHA-256. Each purpose has its
 * own `info` label, so the webhook-id key can never be used to sign a playback URL.
 */
import { base64ToBytes, bytesToHex } from '../encoding';

export type KeyPurpose = 'playback-url' | 'phone-anonymization' | 'user-secret-wrap' | 'webhook-id' | 'transcript-search';

const masterCache = new Map<string, Promise<CryptoKey>>();

/** The master key as an HKDF base key (imported once per isolate). */
export function importMasterKey(masterB64: string): Promise<CryptoKey> {
  let key = masterCache.get(masterB64);
  if (!key) {
    key = crypto.subtle.importKey('raw', base64ToBytes(masterB64), 'HKDF', false, ['deriveBits', 'deriveKey']);
    masterCache.set(masterB64, key);
  }
  return key;
}

/** 32 raw bytes for `purpose`, derived from the master key (and an optional salt). */
export async function deriveBytes(masterB64: string, purpose: KeyPurpose | string, salt: Uint8Array = new Uint8Array()): Promise<Uint8Array> {
  const master = await importMasterKey(masterB64);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt, info: new TextEncoder().encode(`call-recorder/${purpose}/v1`) },
    master,
    256,
  );
  return new Uint8Array(bits);
}

const hmacCache = new Map<string, Promise<CryptoKey>>();

/** An HMAC-SHA-256 key for `purpose`, derived from the master key. */
export function deriveHmacKey(masterB64: string, purpose: KeyPurpose): Promise<CryptoKey> {
  const cacheKey = `${purpose}\u0000${masterB64}`;
  let key = hmacCache.get(cacheKey);
  if (!key) {
    key = deriveBytes(masterB64, purpose).then((raw) =>
      crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']),
    );
    hmacCache.set(cacheKey, key);
  }
  return key;
}

/** Hex HMAC-SHA-256 of `message` under `key`. */
export async function hmacHex(key: CryptoKey, message: string | Uint8Array): Promise<string> {
  const data = typeof message === 'string' ? new TextEncoder().encode(message) : message;
  return bytesToHex(new Uint8Array(await crypto.subtle.sign('HMAC', key, data)));
}
