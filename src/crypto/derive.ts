/**
 * Purpose-bound keys derived from MASTER_ENCRYPTION_KEY with HKDF-SHA-256. Each purpose has its
 * own `info` label, so the audit-chain key can never be used to sign a playback URL.
 */
export type KeyPurpose = 'audit-chain' | 'playback-url' | 'phone-anonymization' | 'user-secret-wrap' | 'webhook-id';

const masterCache = new Map<string, Promise<CryptoKey>>();

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) throw new TypeError('invalid hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

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
