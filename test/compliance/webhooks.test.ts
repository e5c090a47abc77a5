/**
 * Webhook events in the Workers runtime: queued only when WEBHOOK_URL is set, each with its own id;
 * POSTed with a signature Node's crypto agrees with; any non-2xx or network failure is a retry (the
 * webhook queue's consumer, tested in webhook-queue.test.ts, schedules it). The receiver is an
 * injected fetch (workerd cannot listen); a real HTTP receiver is in test/node/webhook-signature.test.ts.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deliverWebhook, emitEvent, isWebhookMessage, signWebhook, type WebhookMessage } from '../../src/compliance/webhooks';
import { TEST_SECRETS } from '../support/secrets';

const config = { WEBHOOK_URL: 'https://hooks.example.test/recorder', WEBHOOK_SECRET: TEST_SECRETS.WEBHOOK_SECRET };

function capturingQueue() {
  const sent: unknown[] = [];
  return { sent, queue: { send: async (body: unknown) => void sent.push(body), sendBatch: async () => undefined } as unknown as Queue };
}

/** A receiver: answers with `statuses` in turn (the last one from then on) and keeps every request. */
function receiver(statuses: (number | Error)[]) {
  const requests: { url: string; headers: Headers; body: string }[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push({ url: request.url, headers: request.headers, body: await request.text() });
    const next = statuses[Math.min(requests.length, statuses.length) - 1]!;
    if (next instanceof Error) throw next;
    return new Response(next === 204 ? null : 'ok', { status: next });
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

/** What a receiver does: recompute the HMAC of "t.body" with Node's crypto and compare. */
function signatureValid(header: string | null, body: string, secret: string = config.WEBHOOK_SECRET): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  return !!match && createHmac('sha256', secret).update(`${match[1]}.${body}`).digest('hex') === match[2];
}

async function emitted(event: WebhookMessage['event'] = 'recording.ready', data: Record<string, unknown> = { recordingId: 'rec_X' }): Promise<WebhookMessage> {
  const { queue } = capturingQueue();
  return (await emitEvent({ queue, config }, event, data))!;
}

describe('emitEvent', () => {
  it('queues nothing when WEBHOOK_URL is not set', async () => {
    const { sent, queue } = capturingQueue();
    expect(await emitEvent({ queue, config: { WEBHOOK_URL: undefined } }, 'gdpr.erased', { userId: 'u' })).toBeNull();
    expect(sent).toEqual([]);
  });

  it('queues a webhook message with a unique id that the consumer can tell from a media job', async () => {
    const { sent, queue } = capturingQueue();
    const a = await emitEvent({ queue, config }, 'recording.deleted', { recordingId: 'rec_A' });
    const b = await emitEvent({ queue, config }, 'recording.deleted', { recordingId: 'rec_A' });
    expect(sent).toEqual([a, b]);
    expect(a).toMatchObject({ type: 'webhook', event: 'recording.deleted', data: { recordingId: 'rec_A' } });
    expect(a!.id).toMatch(/^evt_[0-9a-f-]{36}$/);
    expect(a!.id).not.toBe(b!.id);
    expect(isWebhookMessage(a)).toBe(true);
    expect(isWebhookMessage({ type: 'process', recordingId: 'rec_A' })).toBe(false);
    expect(isWebhookMessage({ ...a, event: 'recording.unknown' })).toBe(false);
    expect(isWebhookMessage(null)).toBe(false);
  });
});

describe('deliverWebhook', () => {
  it('POSTs {id,type,createdAt,data} as JSON with an X-Signature that Node’s crypto verifies', async () => {
    const message = await emitted('gdpr.erased', { userId: 'user-1', deletedRecordings: ['rec_A'] });
    const { fetch, requests } = receiver([204]);
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(await deliverWebhook(message, config, { fetch, now })).toEqual({ outcome: 'delivered', status: 204 });
    const [request] = requests;
    expect(request!.url).toBe(config.WEBHOOK_URL);
    expect(request!.headers.get('content-type')).toBe('application/json');
    expect(request!.headers.get('x-webhook-id')).toBe(message.id);
    expect(JSON.parse(request!.body)).toEqual({ id: message.id, type: 'gdpr.erased', createdAt: message.createdAt, data: { userId: 'user-1', deletedRecordings: ['rec_A'] } });
    const signature = request!.headers.get('x-signature');
    expect(signature).toMatch(new RegExp(`^t=${now / 1000},v1=[0-9a-f]{64}$`));
    expect(signatureValid(signature, request!.body)).toBe(true);
    expect(signatureValid(signature, request!.body.replace('user-1', 'user-2'))).toBe(false);
    expect(signatureValid(signature, request!.body, 'another-secret-0123456789')).toBe(false);
  });

  it('signs "t.body" exactly as HMAC-SHA256 does elsewhere', async () => {
    const body = '{"id":"evt_1","type":"recording.ready"}';
    const expected = createHmac('sha256', 'whsec-test-0123456789').update(`1700000000.${body}`).digest('hex');
    expect(await signWebhook('whsec-test-0123456789', body, 1700000000)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('asks for a retry on any non-2xx answer and on a network error', async () => {
    const message = await emitted();
    expect(await deliverWebhook(message, config, { fetch: receiver([500]).fetch })).toEqual({ outcome: 'retry', reason: 'receiver answered 500' });
    expect(await deliverWebhook(message, config, { fetch: receiver([410]).fetch })).toEqual({ outcome: 'retry', reason: 'receiver answered 410' });
    expect(await deliverWebhook(message, config, { fetch: receiver([new TypeError('connection refused')]).fetch })).toEqual({ outcome: 'retry', reason: 'TypeError: connection refused' });
  });

  it('drops an event queued before WEBHOOK_URL was unset', async () => {
    const { fetch, requests } = receiver([200]);
    expect(await deliverWebhook(await emitted(), { WEBHOOK_URL: undefined, WEBHOOK_SECRET: config.WEBHOOK_SECRET }, { fetch })).toMatchObject({ outcome: 'dropped' });
    expect(requests).toEqual([]);
  });
});
