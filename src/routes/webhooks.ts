/** Webhook dead letters (admin): events whose delivery gave up, listed and replayed. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../auth/middleware';
import { listDeadLetterPage, replayDeadLetter } from '../compliance/webhook-dead-letters';
import { audit } from '../context';
import { authErrors, errorResponses, json, security } from './schemas';
import { createRouter } from './router';

const DeadLetterSchema = z
  .object({
    id: z.string().openapi({ description: 'The event id (`evt_…`), the same the receiver deduplicates by', example: 'evt_7f0c2a4e-0b1d-4c5e-9f3a-2d6b8e1c4a7f' }),
    event: z.string().openapi({ example: 'recording.completed' }),
    data: z.record(z.string(), z.unknown()),
    createdAt: z.string().openapi({ description: 'When the event was emitted' }),
    failedAt: z.string().openapi({ description: 'When delivery last gave up' }),
    attempts: z.number().int().openapi({ description: 'Delivery attempts made, replays included' }),
    lastError: z.string().openapi({ example: 'receiver answered 503' }),
    replayedAt: z.string().nullable(),
    replayedBy: z.string().nullable(),
  })
  .openapi('WebhookDeadLetter');

const EventId = z.string().regex(/^evt_[0-9a-f-]{36}$/, 'must be a webhook event id (evt_ and a UUID)');

export const webhookRoutes = createRouter();

webhookRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/webhooks/dead-letters',
    tags: ['webhooks'],
    summary: 'Webhook events whose delivery gave up, newest first (admin)',
    description:
      'An event lands here once its deliveries have failed for WEBHOOK_RETRY_HOURS (24 by default; capped exponential backoff between attempts) or the webhook queue ran out of retries. `pending=true` leaves out those already replayed.',
    security,
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(200).default(50),
        cursor: z.string().max(200).optional(),
        pending: z.enum(['true', 'false']).optional().transform((v) => v === 'true'),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(DeadLetterSchema), nextCursor: z.string().nullable() }), 'A page of dead letters'), ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin'], 'webhook.dead_letters.read');
    return c.json(await listDeadLetterPage(c.get('db'), c.req.valid('query')), 200);
  },
);

webhookRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/webhooks/dead-letters/{id}/replay',
    tags: ['webhooks'],
    summary: 'Queue a dead-lettered event for delivery again, with the same id (admin)',
    description: 'The event is delivered as it was first emitted (same `id`, `createdAt` and data, a fresh signature), with a new retry window. If that delivery gives up too, the dead letter is pending again.',
    security,
    request: { params: z.object({ id: EventId.openapi({ param: { name: 'id', in: 'path' } }) }) },
    responses: {
      202: json(DeadLetterSchema, 'Queued; the dead letter, marked replayed'),
      ...authErrors,
      ...errorResponses({ 409: 'WEBHOOK_URL is not set' }),
    },
  }),
  async (c) => {
    const principal = await requireRole(c, ['admin'], 'webhook.replay');
    const { id } = c.req.valid('param');
    const replayed = await replayDeadLetter({ db: c.get('db'), queue: c.env.WEBHOOK_QUEUE, config: c.get('config') }, id, principal.id);
    await audit(c, { action: 'webhook.replay', outcome: 'success', details: { webhookId: id, event: replayed.event } });
    return c.json(replayed, 202);
  },
);
