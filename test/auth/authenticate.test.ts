/**
 * `authenticate` on plain values: the one rule set behind the HTTP middleware, the plain
 * WebSocket upgrade and Socket.IO's CONNECT (their wire behaviour is tested in test/live and
 * test/node). No request, no Hono context: credentials and a config in, a principal or a reason out.
 */
import { env } from 'cloudflare:test';
import { decodeJwt, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { authenticate, credentialsExpireAt, credentialsFromSocketIoAuth, Unauthenticated, type Credentials } from '../../src/auth/authenticate';
import { getConfig } from '../../src/config';
import { API_KEY, tokenFor } from '../support/auth';
import { TEST_SECRETS } from '../support/secrets';

const config = getConfig(env);

async function refusal(credentials: Credentials): Promise<string> {
  const error = await authenticate(credentials, config).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Unauthenticated);
  const refused = error as Unauthenticated;
  expect(refused.status).toBe(401);
  // What a client would see says nothing about why.
  expect(JSON.stringify(await refused.toResponse().json())).not.toContain(refused.reason);
  return refused.reason;
}

describe('authenticate', () => {
  it('names the user of a valid JWT, from a header or a bare token alike, with its role', async () => {
    const token = await tokenFor('alice', 'auditor');
    expect(await authenticate({ authorization: `Bearer ${token}` }, config)).toEqual({ id: 'alice', role: 'auditor', kind: 'user' });
    expect(await authenticate({ token }, config)).toEqual({ id: 'alice', role: 'auditor', kind: 'user' });
    expect(await authenticate({ token: `Bearer ${token}` }, config)).toEqual({ id: 'alice', role: 'auditor', kind: 'user' });
    expect((await authenticate({ token: await tokenFor('bob') }, config)).role).toBe('user');
  });

  it('gives an API key admin rights as a service, named by a fingerprint, never the key', async () => {
    const principal = await authenticate({ apiKey: API_KEY, authorization: 'Bearer not-even-a-token' }, config);
    expect(principal.role).toBe('admin');
    expect(principal.kind).toBe('service');
    expect(principal.id).toMatch(/^service:[0-9a-f]{12}$/);
    expect(principal.id).not.toContain(API_KEY.slice(0, 8));
  });

  it('refuses every bad credential with its own reason', async () => {
    expect(await refusal({})).toBe('missing credentials');
    expect(await refusal({ apiKey: `${API_KEY}x` })).toBe('unknown api key');
    expect(await refusal({ authorization: 'Basic dXNlcjpwYXNz' })).toBe('malformed authorization header');
    expect(await refusal({ token: '   ' })).toBe('empty token');
    expect(await refusal({ token: await tokenFor('eve', 'user', {}, -120) })).toMatch(/exp/i);
    expect(await refusal({ token: await tokenFor('eve', 'user', { role: 'root' }) })).toBe('unknown role');
    expect(await refusal({ token: new UnsecuredJWT({}).setSubject('eve').setExpirationTime('1h').encode() })).toBeTruthy();
    const otherSecret = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('eve').setExpirationTime('1h').sign(new TextEncoder().encode(`${TEST_SECRETS.JWT_SECRET}-not`));
    expect(await refusal({ token: otherSecret })).toBeTruthy();
    // A malformed header is not rescued by a good bare token beside it.
    expect(await refusal({ authorization: 'Bearer', token: await tokenFor('alice') })).toBe('malformed authorization header');
  });

  it('says when a token stops being valid (exp plus the tolerance), and never for an API key', async () => {
    const token = await tokenFor('alice', 'user', {}, 600);
    const exp = decodeJwt(token).exp!;
    expect(credentialsExpireAt({ token }, config)).toBe((exp + config.JWT_CLOCK_TOLERANCE_SECONDS) * 1000);
    expect(credentialsExpireAt({ authorization: `Bearer ${token}` }, config)).toBe((exp + config.JWT_CLOCK_TOLERANCE_SECONDS) * 1000);
    expect(credentialsExpireAt({ apiKey: API_KEY, token }, config)).toBeNull();
  });

  it("reads Socket.IO's CONNECT auth payload, ignoring anything that is not a string field", () => {
    expect(credentialsFromSocketIoAuth({ token: 't' })).toEqual({ token: 't' });
    expect(credentialsFromSocketIoAuth({ apiKey: 'k', token: 't' })).toEqual({ apiKey: 'k' });
    expect(credentialsFromSocketIoAuth({ token: 42, apiKey: ['k'] })).toEqual({});
    expect(credentialsFromSocketIoAuth('token')).toEqual({});
    expect(credentialsFromSocketIoAuth(null)).toEqual({});
  });
});
