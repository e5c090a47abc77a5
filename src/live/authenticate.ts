/**
 * Authentication of a Socket.IO namespace connect: the client sends its credentials in the
 * CONNECT packet (`auth: { token }`, or `auth: { apiKey }`), after the upgrade. They go through
 * the very same `authenticateRequest` the HTTP routes use (same JWT rules, API keys, audited
 * denials), run on a request built from them.
 */
import { Hono, type ExecutionContext } from 'hono';
import { decodeJwt } from 'jose';
import { authenticateRequest } from '../auth/middleware';
import type { Principal } from '../auth/principal';
import { getConfig } from '../config';
import { createDb, type AppEnv, type Bindings } from '../context';
import { AppError } from '../errors';
import { createLogger, type LogLevel } from '../observability/logger';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** The request below is built here, never taken from a client, so its x-request-id is ours. */
const app = new Hono<AppEnv>();
app.all('*', async (c) => {
  const requestId = c.req.header('x-request-id') ?? crypto.randomUUID();
  const level = LEVELS.find((l) => l === c.env.LOG_LEVEL) ?? 'info';
  c.set('requestId', requestId);
  c.set('log', createLogger({ requestId }, level));
  c.set('config', getConfig(c.env));
  c.set('db', createDb(c.env.DB));
  return c.json(await authenticateRequest(c));
});
app.onError((error) => {
  if (error instanceof AppError) return error.toResponse();
  throw error;
});

/**
 * When credentials that were just verified stop being valid, in ms: the JWT's `exp` plus the
 * clock tolerance verification allows; null for an API key (no expiry).
 */
export function credentialsExpireAt(token: string | undefined, toleranceSeconds: number): number | null {
  if (token === undefined) return null;
  const { exp } = decodeJwt(token);
  return typeof exp === 'number' ? (exp + toleranceSeconds) * 1000 : null;
}

/**
 * The principal the credentials name and when they expire, or null when they are missing or
 * invalid (the denial is audited, after the answer: `waitUntil` is the calling object's).
 */
export async function authenticateCredentials(
  env: Bindings,
  auth: unknown,
  requestId: string,
  waitUntil: (work: Promise<unknown>) => void,
): Promise<{ principal: Principal; expiresAtMs: number | null } | null> {
  const fields = typeof auth === 'object' && auth !== null ? (auth as Record<string, unknown>) : {};
  const headers = new Headers({ 'x-request-id': requestId });
  let token: string | undefined;
  if (typeof fields.apiKey === 'string') headers.set('x-api-key', fields.apiKey);
  else if (typeof fields.token === 'string') {
    token = fields.token.replace(/^Bearer\s+/i, '');
    headers.set('authorization', `Bearer ${token}`);
  }
  const executionContext: ExecutionContext = { waitUntil, passThroughOnException: () => undefined, props: {} };
  const response = await app.request('/socket.io/', { headers }, env, executionContext);
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`authentication answered ${response.status}`);
  const principal = (await response.json()) as Principal;
  return { principal, expiresAtMs: credentialsExpireAt(token, getConfig(env).JWT_CLOCK_TOLERANCE_SECONDS) };
}
