/**
 * `GET /health` (no auth) runs real checks: a D1 query, a write-read-delete round trip through the
 * configured storage provider, the queue binding, and the FFmpeg worker's probe. Any check down
 * makes the status `degraded` (the contract's two values are `ok` and `degraded`); the answer is
 * 503 when storage or the database is down, since no recording can be stored or read then, and
 * 200 when only the queue or FFmpeg is. `GET /metrics` serves Prometheus text to admins.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { requireAuth, requireRole } from '../auth/middleware';
import type { AppEnv } from '../context';
import { AppError } from '../errors';
import { renderPrometheus, type Gauge } from '../observability/metrics';
import { checkFfmpeg } from '../media/ffmpeg-client';
import { createBlobStore } from '../storage/select';
import { errorResponses, security } from './schemas';
import { createRouter } from './router';

const Check = z.object({ status: z.enum(['ok', 'down', 'disabled']), latencyMs: z.number().optional(), message: z.string().optional() });
const HealthSchema = z
  .object({ status: z.enum(['ok', 'degraded']), checks: z.object({ storage: Check, database: Check, queue: Check, ffmpeg: Check }) })
  .openapi('Health');
type CheckResult = z.infer<typeof Check>;

async function timed(fn: () => Promise<void>): Promise<CheckResult> {
  const started = Date.now();
  try {
    await fn();
    return { status: 'ok', latencyMs: Date.now() - started };
  } catch (error) {
    return { status: 'down', latencyMs: Date.now() - started, message: error instanceof AppError ? error.message : 'check failed' };
  }
}

export const healthRoutes = createRouter();

healthRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/health',
    tags: ['operations'],
    summary: 'Liveness and dependency checks',
    responses: {
      200: { content: { 'application/json': { schema: HealthSchema } }, description: 'Up (possibly degraded)' },
      503: { content: { 'application/json': { schema: HealthSchema } }, description: 'Degraded: storage or database down' },
    },
  }),
  async (c) => {
    const config = c.get('config');
    if (!config.HEALTH_CHECK_ENABLED) {
      const disabled = { status: 'disabled' } as const;
      return c.json({ status: 'ok' as const, checks: { storage: disabled, database: disabled, queue: disabled, ffmpeg: disabled } }, 200);
    }
    const [database, storage, ffmpeg] = await Promise.all([
      timed(async () => {
        await c.get('db').run(sql`select 1`);
      }),
      timed(() => createBlobStore(c.env, config).selfTest()),
      timed(() => checkFfmpeg(c.env, config)),
    ]);
    const queue: CheckResult = typeof c.env.MEDIA_QUEUE?.send === 'function' ? { status: 'ok' } : { status: 'down', message: 'queue binding missing' };
    const checks = { storage, database, queue, ffmpeg };
    const unavailable = storage.status === 'down' || database.status === 'down';
    const degraded = unavailable || queue.status === 'down' || ffmpeg.status === 'down';
    if (unavailable) c.get('log').warn('health check failed', { storage: storage.status, database: database.status });
    return c.json({ status: degraded ? ('degraded' as const) : ('ok' as const), checks }, unavailable ? 503 : 200);
  },
);

healthRoutes.use('/metrics', requireAuth);
healthRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics (API key or admin token)',
    security,
    responses: {
      200: { content: { 'text/plain': { schema: z.string() } }, description: 'Prometheus text format 0.0.4' },
      ...errorResponses({ 401: 'No or bad credentials', 403: 'Not an admin', 404: 'PROMETHEUS_ENABLED is false' }),
    },
  }),
  async (c) => {
    if (!c.get('config').PROMETHEUS_ENABLED) throw new AppError('not_found', 'Metrics are disabled');
    await requireRole(c, ['admin'], 'metrics.read');
    const rows = await c.get('db').all<{ status: string; tier: string; n: number }>(
      sql`select status, storage_tier as tier, count(*) as n from recordings where deleted_at is null group by status, storage_tier`,
    );
    const gauges: Gauge[] = [
      {
        name: 'recordings',
        help: 'Recordings by status and storage tier',
        samples: rows.map((r) => ({ labels: { status: r.status, tier: r.tier }, value: Number(r.n) })),
      },
    ];
    return c.text(renderPrometheus(gauges), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  },
);
