import { describe, expect, it } from 'vitest';
import { matchesAnySecret } from '../../src/auth/constant-time';

describe('matchesAnySecret', () => {
  const secrets = ['first-key-0123456789', 'second-key-abcdefghij'];

  it('accepts any configured secret, exactly', async () => {
    expect(await matchesAnySecret('first-key-0123456789', secrets)).toBe(true);
    expect(await matchesAnySecret('second-key-abcdefghij', secrets)).toBe(true);
  });

  it('refuses a prefix, an extension, a one-byte change and the empty string', async () => {
    for (const candidate of ['first-key-012345678', 'first-key-0123456789x', 'first-key-0123456788', '']) {
      expect(await matchesAnySecret(candidate, secrets)).toBe(false);
    }
  });

  it('compares inputs of different lengths without throwing (digests have one length)', async () => {
    expect(await matchesAnySecret('x'.repeat(10_000), secrets)).toBe(false);
    expect(await matchesAnySecret('anything', [])).toBe(false);
  });
});
