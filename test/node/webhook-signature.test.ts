/**
 * Webhook delivery to a real HTTP receiver on 127.0.0.1, verified with Node's crypto exactly as the
 * README's snippet does: the signature verifies, and a forged or replayed request does not. Retries
 * through the webhook queue against a real receiver are in webhook-queue-e2e.test.ts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWebhook, type WebhookMessage } from '../../src/compliance/webhooks.ts';

const SECRET = 'node-test-webhook-secret-0123';

/** The README's verification snippet: constant-time compare, and refuse anything older than 5 minutes. */
function verifySignature(header: string | undefined, rawBody: string, secret: string, now = Date.now()): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  if (Math.abs(now / 1000 - Number(match[1])) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${rawBody}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}

interface Received {
  signature: string | undefined;
  id: string | undefined;
  body: string;
  valid: boolean;
}

let server: Server;
let url: string;
const received: Received[] = [];
/** Answers the receiver gives, in turn; 200 once they run out. */
let answers: number[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const signature = request.headers['x-signature'] as string | undefined;
      const valid = verifySignature(signature, body, SECRET);
      received.push({ signature, id: request.headers['x-webhook-id'] as string | undefined, body, valid });
      response.writeHead(valid ? (answers.shift() ?? 200) : 400).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const message = (): WebhookMessage => ({
  type: 'webhook',
  id: `evt_${crypto.randomUUID()}`,
  event: 'recording.completed',
  data: { recordingId: 'rec_01JD4W9X0Y1Z2A3B4C5D6E7F8G', size: 1234 },
  createdAt: new Date().toISOString(),
});

describe('a real receiver', () => {
  it('verifies the signature with Node’s crypto and gets the JSON body', async () => {
    received.length = 0;
    const event = message();
    expect(await deliverWebhook(event, { WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET })).toEqual({ outcome: 'delivered', status: 200 });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ valid: true, id: event.id });
    expect(JSON.parse(received[0]!.body)).toEqual({ id: event.id, type: 'recording.completed', createdAt: event.createdAt, data: event.data });
  });

  it('refuses a request signed with another secret, an altered body and an old timestamp', async () => {
    received.length = 0;
    expect(await deliverWebhook(message(), { WEBHOOK_URL: url, WEBHOOK_SECRET: 'some-other-secret-0123456' })).toMatchObject({ outcome: 'retry', reason: 'receiver answered 400' });
    expect(received[0]!.valid).toBe(false);
    received.length = 0;
    await deliverWebhook(message(), { WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET });
    const { signature, body } = received[0]!;
    expect(verifySignature(signature, body.replace('1234', '1235'), SECRET)).toBe(false);
    expect(verifySignature(signature, body, SECRET, Date.now() + 10 * 60_000)).toBe(false);
  });
});
