import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { flushDeniedAuth } from '../../src/compliance/denied-auth';
import { createDb } from '../../src/db/client';
import { settleAudit, testLedger } from '../support/audit';
import { API_KEY, call, tokenFor } from '../support/auth';
import { TEST_SECRETS } from '../support/secrets';

const secret = new TextEncoder().encode(TEST_SECRETS.JWT_SECRET);
const consent = (headers: Record<string, string>) => call('/api/v1/gdpr/consent', { headers });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function expectUnauthorized(res: Response) {
  expect(res.status).toBe(401);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('unauthorized');
  expect(JSON.stringify(body)).not.toMatch(/stack|at \w+ \(/);
}

describe('authentication', () => {
  it('accepts a valid HS256 token and an API key', async () => {
    expect((await consent(bearer(await tokenFor('alice')))).status).toBe(200);
    expect((await call('/api/v1/gdpr/consent?userId=alice', { headers: { 'x-api-key': API_KEY } })).status).toBe(200);
  });

  it('rejects a missing credential, a malformed header and a garbage token with 401', async () => {
    await expectUnauthorized(await consent({}));
    await expectUnauthorized(await consent({ authorization: 'Basic abc' }));
    await expectUnauthorized(await consent(bearer('not-a-jwt')));
    await expectUnauthorized(await consent(bearer('a.b.c')));
    await expectUnauthorized(await consent(bearer('eyJhbGciOiJIUzI1NiJ9.%%%.***')));
  });

  it('rejects a wrong signature and an unknown API key', async () => {
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-another-secret-0123'));
    await expectUnauthorized(await consent(bearer(forged)));
    await expectUnauthorized(await consent({ 'x-api-key': 'not-a-real-key-0123456789' }));
    await expectUnauthorized(await consent({ 'x-api-key': API_KEY.slice(0, -1) }));
  });

  it('rejects alg none', async () => {
    const unsecured = new UnsecuredJWT({ role: 'admin' }).setSubject('mallory').setExpirationTime('1h').encode();
    await expectUnauthorized(await consent(bearer(unsecured)));
  });

  it('rejects HS/RS confusion: an RS256 token when no JWKS is set, and HS256 signed with a public key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const rs = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('mallory').setExpirationTime('1h').sign(privateKey);
    await expectUnauthorized(await consent(bearer(rs)));
    const jwk: JWK = await exportJWK(publicKey);
    const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode(JSON.stringify(jwk)));
    await expectUnauthorized(await consent(bearer(confused)));
  });

  it('rejects expired, not-yet-valid and exp-less tokens, beyond the clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime(now - 120).sign(secret);
    await expectUnauthorized(await consent(bearer(expired)));
    const early = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setNotBefore(now + 600).setExpirationTime(now + 1200).sign(secret);
    await expectUnauthorized(await consent(bearer(early)));
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').sign(secret);
    await expectUnauthorized(await consent(bearer(noExp)));
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secret);
    await expectUnauthorized(await consent(bearer(noSub)));
    const withinTolerance = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime(now - 5).sign(secret);
    expect((await consent(bearer(withinTolerance))).status).toBe(200);
  });

  it('rejects an unknown role claim', async () => {
    await expectUnauthorized(await consent(bearer(await tokenFor('eve', undefined, { role: 'root' }))));
  });

  it('audits denied authentications: counted per address, written once the minute is over', async () => {
    const source = '192.0.2.71';
    await consent({ ...bearer('garbage-token-for-audit'), 'cf-connecting-ip': source });
    await consent({ 'cf-connecting-ip': source });
    await flushDeniedAuth(createDb(env.DB), testLedger, new Date(Date.now() + 66_000));
    await settleAudit();
    const res = await call('/api/v1/audit?action=auth.denied&limit=50', { headers: { 'x-api-key': API_KEY } });
    const body = (await res.json()) as { items: { outcome: string; actor: string; details: { source: string; count: number; reasons: Record<string, number> } }[] };
    const events = body.items.filter((e) => e.details.source === source);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'denied', actor: 'anonymous', details: { count: 2, reasons: { ERR_JWT_MALFORMED: 1, 'missing credentials': 1 } } });
  });
});

describe('roles', () => {
  it('lets admins and auditors read the audit log, and forbids users (403)', async () => {
    expect((await call('/api/v1/audit', { headers: bearer(await tokenFor('adm', 'admin')) })).status).toBe(200);
    expect((await call('/api/v1/audit', { headers: bearer(await tokenFor('aud', 'auditor')) })).status).toBe(200);
    const res = await call('/api/v1/audit', { headers: bearer(await tokenFor('usr', 'user')) });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
  });

  it("forbids a user from acting on another user's consent, and lets an admin", async () => {
    expect((await call('/api/v1/gdpr/consent?userId=someone-else', { headers: bearer(await tokenFor('usr')) })).status).toBe(403);
    expect((await call('/api/v1/gdpr/consent?userId=someone-else', { headers: bearer(await tokenFor('adm', 'admin')) })).status).toBe(200);
  });
});
