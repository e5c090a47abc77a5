/**
 * `GET /health` (no auth): cheap checks cached 10 s per isolate; with an admin token or an API key,
 * the deep checks (storage round trip, FFmpeg probe), cached too (src/observability/health.ts).
 * Any check down makes the status `degraded` (the contract's two values are `ok` and `degraded`);
 * the answer is 503 when storage or the database is down, and 200 when only the queue or FFmpeg
 * is. `GET /metrics` serves the fleet's Prometheus text to admins.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { hasCredentials } from '../auth/authenticate';
import { authenticateRequest, requestCredentials, requireAuth, requireRole } from '../auth/middleware';
import type { AppEnv } from '../context';
import { AppError } from '../errors';
import { checkHealth } from '../observability/health';
import { fleetTotals, flushMetrics, renderPrometheus } from '../observability/metrics';
import { recordingGauges } from '../observability/recording-gauges';
import { errorResponses, security } from './schemas';
import { createRouter } from './router';

const Check = z.object({ status: z.enum(['ok', 'down', 'disabled']), latencyMs: z.number().optional(), message: z.string().optional() });
const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checkedAt: z.string().optional().openapi({ description: 'When the checks ran; results are cached for 10 s per isolate' }),
    depth: z.enum(['public', 'deep']).optional().openapi({ description: '`deep` (storage write-read-delete, FFmpeg probe) for an admin token or API key; `public` otherwise (FFmpeg then reports `disabled`)' }),
    checks: z.object({ storage: Check, database: Check, queue: Check, ffmpeg: Check }),
  })
  .openapi('Health');

export const healthRoutes = createRouter();

healthRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/health',
    tags: ['operations'],
    summary: 'Liveness and dependency checks (deep checks with an admin token or API key)',
    security: [{}, ...security],
    responses: {
      200: { content: { 'application/json': { schema: HealthSchema } }, description: 'Up (possibly degraded)' },
      503: { content: { 'application/json': { schema: HealthSchema } }, description: 'Degraded: storage or database down' },
      ...errorResponses({ 401: 'Credentials were sent and are invalid' }),
    },
  }),
  async (c) => {
    const config = c.get('config');
    if (!config.HEALTH_CHECK_ENABLED) {
      const disabled = { status: 'disabled' } as const;
      return c.json({ status: 'ok' as const, checks: { storage: disabled, database: disabled, queue: disabled, ffmpeg: disabled } }, 200);
    }
    const principal = hasCredentials(requestCredentials(c)) ? await authenticateRequest(c) : null;
    const { unavailable, ...report } = await checkHealth(c.env, config, c.get('db'), principal?.role === 'admin' ? 'deep' : 'public');
    if (unavailable) c.get('log').warn('health check failed', { storage: report.checks.storage.status, database: report.checks.database.status });
    return c.json(report, unavailable ? 503 : 200);
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
    const gauges = await recordingGauges(c.get('db'));
    // This isolate's own increments first, so that a scrape right after a request sees it.
    await flushMetrics(c.env.FLEET_METRICS);
    return c.text(renderPrometheus(await fleetTotals(c.env.FLEET_METRICS), gauges), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  },
);
