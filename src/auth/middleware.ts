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
import { matchesAnySecret } from './constant-time';
import { verifyJwt, JwtRejected } from './jwt';
import { ROLES, type Principal, type Role } from './principal';
import { bytesToHex } from '../encoding';

async function fingerprint(apiKey: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(apiKey));
  return bytesToHex(new Uint8Array(digest)).slice(0, 12);
}

/** The client's address as Cloudflare's edge saw it (a client cannot set this header through the edge). */
export const clientAddress = (c: AppContext) => c.req.header('cf-connecting-ip') ?? 'unknown';

/** Resolve the caller from a token (header or, for browsers opening WebSockets, `?token=`). */
export async function authenticateRequest(c: AppContext, options: { allowQueryToken?: boolean } = {}): Promise<Principal> {
  const config = c.get('config');
  const apiKey = c.req.header('x-api-key');
  const authorization = c.req.header('authorization');
  const queryToken = options.allowQueryToken ? c.req.query('token') : undefined;
  let reason = 'missing credentials';
  if (apiKey !== undefined) {
    if (await matchesAnySecret(apiKey, config.API_KEYS)) return { id: `service:${await fingerprint(apiKey)}`, role: 'admin', kind: 'service' };
    reason = 'unknown api key';
  } else if (authorization !== undefined || queryToken !== undefined) {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    const token = match?.[1] ?? (authorization === undefined ? queryToken : undefined);
    if (!token) {
      reason = 'malformed authorization header';
    } else {
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
        if (!(error instanceof JwtRejected)) throw error;
        reason = error.reason;
      }
    }
  }
  c.get('log').info('authentication failed', { reason });
  await recordDeniedAuth(c.get('db'), auditLedger(c.env, config), { source: clientAddress(c), reason, path: new URL(c.req.url).pathname });
  throw new AppError('unauthorized', 'Missing or invalid credentials', { headers: { 'www-authenticate': 'Bearer' } });
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
