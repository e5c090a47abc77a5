/**
 * Who is signed in. The credential lives in sessionStorage (one tab, gone when it closes), never
 * in a cookie: the API reads `Authorization` / `X-API-Key`, so nothing is sent implicitly.
 * In local mode a developer may mint a token in the page from the JWT secret (HS256 with jose,
 * which runs on the browser's Web Crypto); the secret is used once and not stored.
 */
import { decodeJwt, SignJWT, type JWTPayload } from 'jose';
import type { Role } from './api-types';

export type Credentials = { kind: 'token'; token: string } | { kind: 'apiKey'; apiKey: string };

export interface Session {
  credentials: Credentials;
  userId: string;
  role: Role;
  /** Milliseconds since the epoch; null for API keys. */
  expiresAt: number | null;
}

const STORAGE_KEY = 'call-recorder.session';
const ROLES: readonly Role[] = ['user', 'admin', 'auditor'];

/** Local mode: the page is served by `npm start` on this machine. */
export function isLocalMode(hostname = location.hostname): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]' || hostname.endsWith('.localhost');
}

/**
 * Reads the claims the page needs to shape itself (who, which role, until when). The signature
 * is the server's business: a forged token only changes what the page offers, never what the
 * API allows.
 */
export function sessionFromToken(raw: string): Session {
  const token = raw.trim().replace(/^Bearer\s+/i, '');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('A token has three parts separated by dots (header.payload.signature)');
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new Error('The token’s payload is not readable JSON');
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new Error('The token has no subject (sub)');
  const role = claims.role === undefined ? 'user' : claims.role;
  if (!ROLES.includes(role as Role)) throw new Error(`Unknown role in the token: ${String(role)}`);
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  if (expiresAt !== null && expiresAt <= Date.now()) throw new Error('The token has expired');
  return { credentials: { kind: 'token', token }, userId: claims.sub, role: role as Role, expiresAt };
}

/** An API key is a service principal with admin rights; its id is known to the server only. */
export function sessionFromApiKey(apiKey: string): Session {
  const key = apiKey.trim();
  if (key.length < 8) throw new Error('That API key is too short');
  return { credentials: { kind: 'apiKey', apiKey: key }, userId: 'service', role: 'admin', expiresAt: null };
}

/** HS256 JWT for `sub` and `role`, signed in the page with the service's JWT secret. */
export async function mintDevToken(secret: string, sub: string, role: Role, lifetimeSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(new TextEncoder().encode(secret));
}

export function loadSession(): Session | null {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (!stored) return null;
  try {
    const credentials = JSON.parse(stored) as Credentials;
    const session = credentials.kind === 'token' ? sessionFromToken(credentials.token) : sessionFromApiKey(credentials.apiKey);
    return session;
  } catch {
    sessionStorage.removeItem(STORAGE_KEY);
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session.credentials));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Headers that authenticate a fetch. */
export function authHeaders(session: Session): Record<string, string> {
  return session.credentials.kind === 'token' ? { authorization: `Bearer ${session.credentials.token}` } : { 'x-api-key': session.credentials.apiKey };
}

export const isAdmin = (session: Session) => session.role === 'admin';
