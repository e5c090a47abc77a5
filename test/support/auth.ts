/** Tokens and requests for tests: real HS256 JWTs signed with the test secret. */
import { SignJWT } from 'jose';
import { exports } from 'cloudflare:workers';
import { TEST_SECRETS } from './secrets';

export const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;

export async function tokenFor(sub: string, role?: 'user' | 'admin' | 'auditor', extra: Record<string, unknown> = {}, expiresIn: string | number = '1h') {
  return new SignJWT({ ...(role ? { role } : {}), ...extra })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(TEST_SECRETS.JWT_SECRET));
}

/** Send a request to the Worker under test. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return (exports as unknown as { default: Fetcher }).default.fetch(new Request(new URL(path, 'http://recorder.test'), init));
}

export async function as(sub: string, role?: 'user' | 'admin' | 'auditor'): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await tokenFor(sub, role)}` };
}
