/**
 * Constant-time comparison of secrets. Both sides are first reduced to HMAC-SHA-256 digests under
 * a random per-isolate key, so the two inputs to `crypto.subtle.timingSafeEqual` always have the
 * same length (it throws on unequal lengths) and the time taken reveals neither the secret's
 * length nor where the first differing byte is.
 */
const encoder = new TextEncoder();
let comparisonKey: Promise<CryptoKey> | undefined;

function getComparisonKey(): Promise<CryptoKey> {
  comparisonKey ??= crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return comparisonKey;
}

async function digestsEqual(a: string, b: string): Promise<boolean> {
  const key = await getComparisonKey();
  const [da, db] = await Promise.all([crypto.subtle.sign('HMAC', key, encoder.encode(a)), crypto.subtle.sign('HMAC', key, encoder.encode(b))]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/** True when `candidate` equals any of `secrets`; every secret is compared, whatever matches first. */
export async function matchesAnySecret(candidate: string, secrets: readonly string[]): Promise<boolean> {
  const results = await Promise.all(secrets.map((secret) => digestsEqual(candidate, secret)));
  return results.some(Boolean);
}
