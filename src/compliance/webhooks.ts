/**
 * Signed webhooks. A state change calls `emitEvent`, which (when WEBHOOK_URL is set) puts the event
 * on the webhook queue, a queue of its own so that deliveries never wait behind media jobs; its
 * consumer (webhook-queue.ts) POSTs it with `deliverWebhook` and retries with capped exponential
 * backoff. Delivery is at least once: the event's `id` is fixed when it is emitted and is the same on
 * every attempt and on a replay, so receivers deduplicate by it.
 *
 * Every request carries `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(WEBHOOK_SECRET, "<t>.<body>")>`
 * (Stripe's scheme): `t` is the time of that attempt, so a receiver can refuse old replays, and the
 * body is signed byte for byte as sent.
 */
import type { Config } from '../config';
import { bytesToHex } from '../encoding';

export const WEBHOOK_EVENTS = [
  'recording.started',
  'recording.completed',
  'recording.ready',
  'recording.transcribed',
  'recording.failed',
  'recording.deleted',
  'recording.legal_hold',
  'gdpr.erased',
] as const;

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** A delivery job on the webhook queue. */
export interface WebhookMessage {
  type: 'webhook';
  /** `evt_` + UUID: the receiver's deduplication key. */
  id: string;
  event: WebhookEvent;
  data: Record<string, unknown>;
  createdAt: string;
}

const DELIVERY_TIMEOUT_MS = 10_000;
const encoder = new TextEncoder();

/**
 * Queue `event` for delivery on `deps.queue` (the WEBHOOK_QUEUE binding). Does nothing (and returns
 * null) when WEBHOOK_URL is not set, so callers emit unconditionally. Resolves once the Queue holds
 * the message.
 */
export async function emitEvent(
  deps: { queue: Queue; config: Pick<Config, 'WEBHOOK_URL'> },
  event: WebhookEvent,
  data: Record<string, unknown>,
  now = new Date(),
): Promise<WebhookMessage | null> {
  if (!deps.config.WEBHOOK_URL) return null;
  const message: WebhookMessage = { type: 'webhook', id: `evt_${crypto.randomUUID()}`, event, data, createdAt: now.toISOString() };
  await deps.queue.send(message, { contentType: 'json' });
  return message;
}

/** True for a queue body that is a webhook delivery job. */
export function isWebhookMessage(body: unknown): body is WebhookMessage {
  if (typeof body !== 'object' || body === null) return false;
  const m = body as Partial<WebhookMessage>;
  return (
    m.type === 'webhook' &&
    typeof m.id === 'string' &&
    typeof m.createdAt === 'string' &&
    typeof m.data === 'object' &&
    m.data !== null &&
    (WEBHOOK_EVENTS as readonly string[]).includes(m.event as string)
  );
}

/** The JSON body POSTed for `message`: `{id, type, createdAt, data}`. */
export function webhookBody(message: WebhookMessage): string {
  return JSON.stringify({ id: message.id, type: message.event, createdAt: message.createdAt, data: message.data });
}

/** `t=<unix>,v1=<hex HMAC-SHA-256 of "<t>.<body>" under secret>`. */
export async function signWebhook(secret: string, body: string, unixSeconds: number): Promise<string> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(`${unixSeconds}.${body}`)));
  return `t=${unixSeconds},v1=${bytesToHex(mac)}`;
}

export type DeliveryResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; reason: string }
  /** WEBHOOK_URL was unset after the event was queued: nothing to deliver to. */
  | { outcome: 'dropped'; reason: string };

export interface DeliveryOptions {
  /** The fetch to POST with (tests inject one); the global fetch by default. */
  fetch?: typeof fetch;
  now?: number;
}

/**
 * POST one event to WEBHOOK_URL. Any 2xx is delivered; anything else (another status, a network
 * error, no answer within 10 s) is a retry, for the caller to schedule: a receiver that is down or
 * misconfigured gets the event once it recovers.
 */
export async function deliverWebhook(
  message: WebhookMessage,
  config: Pick<Config, 'WEBHOOK_URL' | 'WEBHOOK_SECRET'>,
  options: DeliveryOptions = {},
): Promise<DeliveryResult> {
  if (!config.WEBHOOK_URL) return { outcome: 'dropped', reason: 'WEBHOOK_URL is not set' };
  const body = webhookBody(message);
  const signature = await signWebhook(config.WEBHOOK_SECRET, body, Math.floor((options.now ?? Date.now()) / 1000));
  const retry = (reason: string): DeliveryResult => ({ outcome: 'retry', reason });
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(config.WEBHOOK_URL, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'call-recorder-webhooks/1',
        'x-signature': signature,
        'x-webhook-id': message.id,
        'x-webhook-event': message.event,
      },
      body,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
  } catch (error) {
    return retry(error instanceof Error ? `${error.name}: ${error.message}` : 'network error');
  }
  // The receiver's body is not ours to keep; drain it so the connection can be reused.
  await response.body?.cancel();
  if (response.ok) return { outcome: 'delivered', status: response.status };
  return retry(`receiver answered ${response.status}`);
}
