/**
 * Per-principal rate limiting with the Workers rate-limiting binding (limits in wrangler.toml).
 * Runs after authentication, so the key is the caller's id, not an address that NAT shares.
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context';
import { AppError } from '../errors';

export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get('config').RATE_LIMIT_DISABLED) return next();
  const principal = c.get('principal');
  const key = principal ? `p:${principal.id}` : `ip:${c.req.header('cf-connecting-ip') ?? 'unknown'}`;
  const { success } = await c.env.RATE_LIMITER.limit({ key });
  if (!success) {
    c.get('log').warn('rate limited', { principal: principal?.id });
    throw new AppError('rate_limited', 'Too many requests; slow down and retry later', { headers: { 'retry-after': '60' } });
  }
  await next();
});
