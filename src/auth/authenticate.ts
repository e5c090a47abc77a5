/**
 * Authentication on plain values, one function for every way in: HTTP routes (the middleware
 * reads the headers), the plain WebSocket upgrade (headers or `?token=`) and Socket.IO's namespace
 * CONNECT (`auth: { token }` or `auth: { apiKey }`). Each caller gathers the `Credentials` its
 * protocol carries and audits a refusal in its own way; the rules are here only.
 */
import { decodeJwt } from 'jose';
import type { Config } from '../config';
import { AppError } from '../errors';
import { bytesToHex } from '../encoding';
import { matchesAnySecret } from './constant-time';
import { verifyJwt, JwtRejected } from './jwt';
import { ROLES, type Principal, type Role } from './principal';

/** What a caller presents. An API key wins over a token; `authorization` over a bare `token`. */
export interface Credentials {
  /** `X-API-Key`, or Socket.IO's `auth.apiKey`. */
  apiKey?: string;
  /** The `Authorization` header as sent (`Bearer <jwt>`). */
  authorization?: string;
  /** A bare JWT: `?token=` on a WebSocket upgrade, or Socket.IO's `auth.token` (a `Bearer ` prefix is allowed). */
  token?: string;
}

export type AuthConfig = Pick<
  Config,
  'API_KEYS' | 'JWT_SECRET' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_CLOCK_TOLERANCE_SECONDS'
>;

/** Refused credentials: 401 `unauthorized` to the client; `reason` is for the log and the audit log only. */
export class Unauthenticated extends AppError {
  constructor(readonly reason: string) {
    super('unauthorized', 'Missing or invalid credentials', { headers: { 'www-authenticate': 'Bearer' } });
  }
}

export const hasCredentials = (credentials: Credentials) =>
  credentials.apiKey !== undefined || credentials.authorization !== undefined || credentials.token !== undefined;

async function fingerprint(apiKey: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(apiKey));
  return bytesToHex(new Uint8Array(digest)).slice(0, 12);
}

/** The JWT the credentials carry, if they are a token (undefined for an API key or a malformed header). */
export function bearerToken(credentials: Credentials): string | undefined {
  if (credentials.apiKey !== undefined) return undefined;
  if (credentials.authorization !== undefined) return /^Bearer\s+(\S+)\s*$/i.exec(credentials.authorization)?.[1];
  const token = credentials.token?.replace(/^Bearer\s+/i, '').trim();
  return token ? token : undefined;
}

/** The caller the credentials name; throws `Unauthenticated` (with its reason) when they are missing or invalid. */
export async function authenticate(credentials: Credentials, config: AuthConfig): Promise<Principal> {
  if (credentials.apiKey !== undefined) {
    if (await matchesAnySecret(credentials.apiKey, config.API_KEYS)) {
      return { id: `service:${await fingerprint(credentials.apiKey)}`, role: 'admin', kind: 'service' };
    }
    throw new Unauthenticated('unknown api key');
  }
  if (!hasCredentials(credentials)) throw new Unauthenticated('missing credentials');
  const token = bearerToken(credentials);
  if (!token) throw new Unauthenticated(credentials.authorization !== undefined ? 'malformed authorization header' : 'empty token');
  try {
    const claims = await verifyJwt(token, {
      secret: config.JWT_SECRET,
      jwksUrl: config.JWT_JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
    });
    const role = claims.role === undefined ? 'user' : claims.role;
    if (typeof role !== 'string' || !ROLES.includes(role as Role)) throw new JwtRejected('unknown role');
    return { id: claims.sub, role: role as Role, kind: 'user' };
  } catch (error) {
    if (error instanceof JwtRejected) throw new Unauthenticated(error.reason);
    throw error;
  }
}

/**
 * When credentials that were just authenticated stop being valid, in ms: the JWT's `exp` plus the
 * clock tolerance verification allows; null for an API key or a token without `exp`.
 */
export function credentialsExpireAt(credentials: Credentials, config: Pick<AuthConfig, 'JWT_CLOCK_TOLERANCE_SECONDS'>): number | null {
  const token = bearerToken(credentials);
  if (token === undefined) return null;
  const { exp } = decodeJwt(token);
  return typeof exp === 'number' ? (exp + config.JWT_CLOCK_TOLERANCE_SECONDS) * 1000 : null;
}

/** Socket.IO's CONNECT `auth` payload as credentials (anything that is not a string field is ignored). */
export function credentialsFromSocketIoAuth(auth: unknown): Credentials {
  const fields = typeof auth === 'object' && auth !== null ? (auth as Record<string, unknown>) : {};
  if (typeof fields.apiKey === 'string') return { apiKey: fields.apiKey };
  if (typeof fields.token === 'string') return { token: fields.token };
  return {};
}
