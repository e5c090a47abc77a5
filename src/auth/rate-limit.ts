/**
 * Rate limiting with the Workers rate-limiting binding, in two places (limits in wrangler.toml):
 * per client address before authentication, so that floods without credentials or with bad ones
 * are cut off before they cost a JWT check and a D1 write; and per principal after it, so that
 * callers sharing one address (NAT) each keep their own budget under the address's larger one.
 */
import { createMiddleware } from 'hono/factory';
import type { AppContext, AppEnv } from '../context';
import { AppError } from '../errors';
import { clientAddress } from './middleware';

/** `periodSeconds` is the limiter's period in wrangler.toml: by then the window has rolled over. */
async function limit(c: AppContext, limiter: RateLimit, key: string, periodSeconds: number): Promise<void> {
  const { success } = await limiter.limit({ key });
  if (success) return;
  c.get('log').warn('rate limited', { key });
  throw new AppError('rate_limited', 'Too many requests; slow down and retry later', { headers: { 'retry-after': String(periodSeconds) } });
}

/** Every request the Worker serves, by CF-Connecting-IP (requests without one, e.g. from the Worker's own tests, are not counted here). */
export const rateLimitByAddress = createMiddleware<AppEnv>(async (c, next) => {
  const address = c.req.header('cf-connecting-ip');
  if (!c.get('config').RATE_LIMIT_DISABLED && address !== undefined) await limit(c, c.env.IP_RATE_LIMITER, `ip:${address}`, 10);
  await next();
});

/** Every authenticated API request, by principal (unauthenticated ones by address). */
export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get('config').RATE_LIMIT_DISABLED) return next();
  const principal = c.get('principal');
  await limit(c, c.env.RATE_LIMITER, principal ? `p:${principal.id}` : `ip:${clientAddress(c)}`, 60);
  await next();
});
