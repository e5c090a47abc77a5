/**
 * Constant-time comparison of secrets. Both sides are first reduced to HMAC digests under a
 * random per-isolate key, so the comparison takes the same time whatever the lengths and
 * wherever the first differing byte is.
 */
const encoder = new TextEncoder();
let comparisonKey: Promise<CryptoKey> | undefined;

function getComparisonKey(): Promise<CryptoKey> {
  comparisonKey ??= crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return comparisonKey;
}

/** Compare two byte strings in constant time. */
export async function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): Promise<boolean> {
  const key = await getComparisonKey();
  const [da, db] = await Promise.all([crypto.subtle.sign('HMAC', key, a), crypto.subtle.sign('HMAC', key, b)]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export const timingSafeEqualString = (a: string, b: string) => timingSafeEqualBytes(encoder.encode(a), encoder.encode(b));

/** True when `candidate` equals any of `secrets`; every secret is compared, whatever matches first. */
export async function matchesAnySecret(candidate: string, secrets: readonly string[]): Promise<boolean> {
  const results = await Promise.all(secrets.map((s) => timingSafeEqualString(candidate, s)));
  return results.some(Boolean);
}
