/**
 * The webhook queue's consumer in workerd with real D1: capped exponential backoff for at least
 * 24 hours, then a dead-letter row an admin lists and replays with the same event id. The receiver
 * is an injected fetch (workerd cannot listen); test/node/webhook-queue-e2e.test.ts runs the same
 * paths through `wrangler dev` against a real HTTP receiver.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { getConfig, type Config } from '../../src/config';
import { createDb } from '../../src/db/client';
import { listDeadLetterPage, replayDeadLetter } from '../../src/compliance/webhook-dead-letters';
import {
  WEBHOOK_DEAD_LETTER_QUEUE_NAME,
  WEBHOOK_QUEUE_MAX_RETRIES,
  WEBHOOK_QUEUE_NAME,
  runWebhookBatch,
  webhookRetryDelaySeconds,
} from '../../src/compliance/webhook-queue';
import { emitEvent, type WebhookMessage } from '../../src/compliance/webhooks';
import { auditLedger } from '../../src/compliance/audit-log';
import { createLogger } from '../../src/observability/logger';
import { as, call } from '../support/auth';

const HOUR = 3_600_000;
const config: Config = { ...getConfig(env), WEBHOOK_URL: 'https://hooks.example.test/recorder' };
const db = createDb(env.DB);
const log = createLogger({}, 'error');

/** Answers with `statuses` in turn (the last from then on) and keeps the event id of every request. */
function receiver(statuses: (number | Error)[]) {
  const ids: string[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    ids.push(JSON.parse(await request.text()).id);
    const next = statuses[Math.min(ids.length, statuses.length) - 1]!;
    if (next instanceof Error) throw next;
    return new Response(next === 204 ? null : 'ok', { status: next });
  }) as typeof globalThis.fetch;
  return { fetch, ids };
}

function capturingQueue() {
  const sent: unknown[] = [];
  return { sent, queue: { send: async (body: unknown) => void sent.push(body), sendBatch: async () => undefined } as unknown as Queue };
}

async function emitted(data: Record<string, unknown> = { recordingId: 'rec_W' }): Promise<WebhookMessage> {
  const { sent, queue } = capturingQueue();
  await emitEvent({ queue, config }, 'recording.completed', data);
  return sent[0] as WebhookMessage;
}

/** One delivery of `body` as the Queue would make it: attempt `attempts`, queued at `queuedAt`. */
async function deliverOnce(body: unknown, options: { attempts: number; queuedAt: Date; fetch: typeof fetch; queue?: string; now?: number }) {
  const id = `m-${crypto.randomUUID()}`;
  const batch = createMessageBatch(options.queue ?? WEBHOOK_QUEUE_NAME, [{ id, timestamp: options.queuedAt, attempts: options.attempts, body }]);
  const message = batch.messages[0]!;
  const retry = message.retry.bind(message);
  let delay: number | undefined;
  message.retry = (retryOptions) => {
    delay = retryOptions?.delaySeconds;
    retry(retryOptions);
  };
  const now = options.now;
  await runWebhookBatch({ db, ledger: auditLedger(env, config), config, log, fetch: options.fetch, now: now === undefined ? undefined : () => now }, batch, options.queue === WEBHOOK_DEAD_LETTER_QUEUE_NAME);
  const result = await getQueueResult(batch, createExecutionContext());
  return result.explicitAcks.includes(id) ? 'ack' : `retry ${delay}s`;
}

describe('the webhook retry schedule', () => {
  it('doubles from 30 s, is capped at an hour, and spans at least 24 hours within the queue’s 100 retries', () => {
    expect([1, 2, 3, 4, 7, 8, 30, 1000].map((n) => webhookRetryDelaySeconds(n, config))).toEqual([30, 60, 120, 240, 1920, 3600, 3600, 3600]);
    let elapsed = 0;
    let attempts = 1;
    while (elapsed < config.WEBHOOK_RETRY_HOURS * 3600) elapsed += webhookRetryDelaySeconds(attempts++, config);
    expect(elapsed).toBeGreaterThanOrEqual(24 * 3600);
    expect(attempts).toBeLessThanOrEqual(WEBHOOK_QUEUE_MAX_RETRIES + 1);
  });
});

describe('the webhook queue consumer', () => {
  it('a receiver that fails three times gets the event, same id, once it recovers', async () => {
    const message = await emitted();
    const { fetch, ids } = receiver([503, 500, new TypeError('connection reset'), 204]);
    const queuedAt = new Date();
    const decisions = [];
    for (let attempts = 1; attempts <= 4; attempts++) decisions.push(await deliverOnce(message, { attempts, queuedAt, fetch }));
    expect(decisions).toEqual(['retry 30s', 'retry 60s', 'retry 120s', 'ack']);
    expect(ids).toEqual([message.id, message.id, message.id, message.id]);
  });

  it('keeps retrying at 23 hours, dead-letters after 24, and the admin replay delivers the same event id', async () => {
    const message = await emitted({ recordingId: 'rec_DEAD', userId: 'u-dead' });
    const down = receiver([503]);
    const queuedAt = new Date(Date.now() - 23 * HOUR);
    expect(await deliverOnce(message, { attempts: 30, queuedAt, fetch: down.fetch })).toBe('retry 3600s');
    expect(await deliverOnce(message, { attempts: 31, queuedAt, fetch: down.fetch, now: queuedAt.getTime() + 24 * HOUR })).toBe('ack');

    const { items } = await listDeadLetterPage(db, { limit: 50, pending: true });
    const row = items.find((item) => item.id === message.id);
    expect(row).toMatchObject({ event: 'recording.completed', data: { recordingId: 'rec_DEAD', userId: 'u-dead' }, createdAt: message.createdAt, attempts: 31, lastError: 'receiver answered 503', replayedAt: null });

    const { sent, queue } = capturingQueue();
    const replayed = await replayDeadLetter({ db, queue, config }, message.id, 'admin-1');
    expect(replayed).toMatchObject({ id: message.id, replayedBy: 'admin-1' });
    expect(sent).toEqual([message]);
    expect((await listDeadLetterPage(db, { limit: 50, pending: true })).items.map((i) => i.id)).not.toContain(message.id);

    const up = receiver([200]);
    expect(await deliverOnce(sent[0], { attempts: 1, queuedAt: new Date(), fetch: up.fetch })).toBe('ack');
    expect(up.ids).toEqual([message.id]);
  });

  it('a replay that fails for its whole window is pending again, its attempts added up', async () => {
    const message = await emitted({ recordingId: 'rec_TWICE' });
    const down = receiver([500]);
    const old = new Date(Date.now() - 25 * HOUR);
    expect(await deliverOnce(message, { attempts: 31, queuedAt: old, fetch: down.fetch })).toBe('ack');
    await replayDeadLetter({ db, queue: capturingQueue().queue, config }, message.id, 'admin-1');
    expect(await deliverOnce(message, { attempts: 2, queuedAt: old, fetch: down.fetch })).toBe('ack');
    const row = (await listDeadLetterPage(db, { limit: 50, pending: true })).items.find((item) => item.id === message.id);
    expect(row).toMatchObject({ attempts: 33, replayedAt: null, replayedBy: null });
  });

  it('what the webhook queue moves to its dead-letter queue becomes a dead-letter row', async () => {
    const message = await emitted({ recordingId: 'rec_DLQ' });
    const never = receiver([200]);
    expect(await deliverOnce(message, { attempts: 1, queuedAt: new Date(), fetch: never.fetch, queue: WEBHOOK_DEAD_LETTER_QUEUE_NAME })).toBe('ack');
    expect(never.ids).toEqual([]);
    const row = (await listDeadLetterPage(db, { limit: 50 })).items.find((item) => item.id === message.id);
    expect(row).toMatchObject({ attempts: WEBHOOK_QUEUE_MAX_RETRIES + 1, lastError: 'the webhook queue ran out of retries' });
  });

  it('the media queue hands a webhook event queued there by an older version over to the webhook queue', async () => {
    const message = await emitted({ recordingId: 'rec_OLD' });
    const { sent, queue } = capturingQueue();
    const { default: worker } = await import('../../src/index');
    const batch = createMessageBatch('call-recorder-media', [{ id: 'old-1', timestamp: new Date(), attempts: 1, body: message }]);
    await worker.queue(batch, { ...env, WEBHOOK_QUEUE: queue });
    expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toEqual(['old-1']);
    expect(sent).toEqual([message]);
  });
});

describe('GET /api/v1/webhooks/dead-letters and POST …/replay', () => {
  it('are for admins only, and a replay of an unknown id is 404', async () => {
    expect((await call('/api/v1/webhooks/dead-letters', { headers: await as('someone', 'user') })).status).toBe(403);
    expect((await call('/api/v1/webhooks/dead-letters', { headers: await as('auditor-1', 'auditor') })).status).toBe(403);
    const admin = await as('admin-1', 'admin');
    const list = await call('/api/v1/webhooks/dead-letters?limit=2', { headers: admin });
    expect(list.status).toBe(200);
    expect(await list.json()).toMatchObject({ items: expect.any(Array) });
    const missing = await call(`/api/v1/webhooks/dead-letters/evt_${crypto.randomUUID()}/replay`, { method: 'POST', headers: admin });
    expect(missing.status).toBe(404);
    const bad = await call('/api/v1/webhooks/dead-letters/not-an-id/replay', { method: 'POST', headers: admin });
    expect(bad.status).toBe(400);
  });
});
