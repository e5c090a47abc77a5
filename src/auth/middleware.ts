/**
 * Authentication middleware: a bearer JWT or an `X-API-Key`. No or bad credentials → 401
 * `unauthorized`, counted into the client address's `auth.denied` audit event of that minute; the
 * reason stays in the log and the audit log, never in the response.
 */
import { createMiddleware } from 'hono/factory';
import { AppError } from '../errors';
import { auditLedger } from '../compliance/audit-log';
import { recordDeniedAuth } from '../compliance/denied-auth';
import { audit, type AppContext, type AppEnv } from '../context';
import { authenticate, Unauthenticated, type Credentials } from './authenticate';
import { decideRecordingAccess, type Access, type Decision, type AccessOptions } from './permissions';
import type { Principal, Role } from './principal';
import type { RecordingRow } from '../db/recordings';

/** The client's address as Cloudflare's edge saw it (a client cannot set this header through the edge). */
export const clientAddress = (c: AppContext) => c.req.header('cf-connecting-ip') ?? 'unknown';

/** The credentials a request carries: headers, and for browsers opening WebSockets `?token=`. */
export function requestCredentials(c: AppContext, options: { allowQueryToken?: boolean } = {}): Credentials {
  return {
    apiKey: c.req.header('x-api-key'),
    authorization: c.req.header('authorization'),
    token: options.allowQueryToken ? c.req.query('token') : undefined,
  };
}

/** Resolve the caller of this request (src/auth/authenticate.ts); a refusal is logged and counted into its address's minute. */
export async function authenticateRequest(c: AppContext, options: { allowQueryToken?: boolean } = {}): Promise<Principal> {
  try {
    return await authenticate(requestCredentials(c, options), c.get('config'));
  } catch (error) {
    if (!(error instanceof Unauthenticated)) throw error;
    c.get('log').info('authentication failed', { reason: error.reason });
    await recordDeniedAuth(c.get('db'), auditLedger(c.env, c.get('config')), { source: clientAddress(c), reason: error.reason, path: new URL(c.req.url).pathname });
    throw error;
  }
}

/** Require credentials on every route below this middleware. */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  c.set('principal', await authenticateRequest(c));
  await next();
});

/** Require one of `roles` (403 `forbidden` otherwise, audited). */
export async function requireRole(c: AppContext, roles: readonly Role[], action: string): Promise<Principal> {
  const principal = c.get('principal');
  if (!roles.includes(principal.role)) {
    await audit(c, { action, outcome: 'denied', details: { reason: 'role' } });
    throw new AppError('forbidden', `This action needs the ${roles.join(' or ')} role`);
  }
  return principal;
}

/**
 * Go on when `decision` (a rule of src/auth/permissions.ts) allows; otherwise audit the denial as
 * `event` with the rule's reason and answer its error.
 */
export async function enforce<D extends Decision>(c: AppContext, decision: D, event: { action: string; recordingId?: string; subjectUserId?: string | null }): Promise<Extract<D, { allowed: true }>> {
  if (decision.allowed) return decision as Extract<D, { allowed: true }>;
  await audit(c, { ...event, outcome: 'denied', details: { reason: decision.reason } });
  throw decision.error;
}

/** Load the recording for `access` by the caller of this request, or throw 404/403 (audited as `action`). */
export async function loadRecordingFor(c: AppContext, id: string, access: Access, action: string, options: AccessOptions = {}): Promise<RecordingRow> {
  const decision = await decideRecordingAccess(c.get('db'), c.get('principal'), id, access, options);
  // The owner is the subject of a refused attempt (so `GET /audit?userId=` shows it), even where the caller is told 404.
  return (await enforce(c, decision, { action, recordingId: id, subjectUserId: decision.allowed ? undefined : (decision.owner ?? null) })).row;
}
