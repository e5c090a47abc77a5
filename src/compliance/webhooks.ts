/**
 * Signed webhooks. A state change calls `emitEvent`, which (when WEBHOOK_URL is set) puts a
 * `webhook` message on the media queue; the queue consumer hands it to `handleWebhookMessage`, which
 * POSTs it and acks, or asks the Queue to retry with backoff. Delivery is at least once: the event's
 * `id` is fixed when it is emitted and is the same on every attempt, so receivers deduplicate by it.
 *
 * Every request carries `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256(WEBHOOK_SECRET, "<t>.<body>")>`
 * (Stripe's scheme): `t` is the time of that attempt, so a receiver can refuse old replays, and the
 * body is signed byte for byte as sent.
 */
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
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

/** A delivery job on the media queue. */
export interface WebhookMessage {
  type: 'webhook';
  /** `evt_` + UUID: the receiver's deduplication key. */
  id: string;
  event: WebhookEvent;
  data: Record<string, unknown>;
  createdAt: string;
}

const DELIVERY_TIMEOUT_MS = 10_000;
const BASE_DELAY_SECONDS = 10;
const MAX_DELAY_SECONDS = 3600;
const encoder = new TextEncoder();

/**
 * Queue `event` for delivery. Does nothing (and returns null) when WEBHOOK_URL is not set, so
 * callers emit unconditionally. Resolves once the Queue holds the message.
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

/** True for a queue body that is a webhook delivery job (the media consumer dispatches on this). */
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

/** 10 s after the first failed attempt, doubling, at most an hour. */
export function webhookRetryDelaySeconds(attempts: number): number {
  return Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.max(0, attempts - 1));
}

export type DeliveryResult =
  | { outcome: 'delivered'; status: number }
  | { outcome: 'retry'; reason: string; delaySeconds: number }
  /** WEBHOOK_URL was unset after the event was queued: nothing to deliver to. */
  | { outcome: 'dropped'; reason: string };

export interface DeliveryOptions {
  /** The fetch to POST with (tests inject one); the global fetch by default. */
  fetch?: typeof fetch;
  /** Delivery attempts so far including this one (`message.attempts`), for the backoff. */
  attempts?: number;
  now?: number;
}

/**
 * POST one event to WEBHOOK_URL. Any 2xx is delivered; anything else (another status, a network
 * error, no answer within 10 s) is a retry: a receiver that is down or misconfigured gets the
 * event once it recovers, within the Queue's retries.
 */
export async function deliverWebhook(
  message: WebhookMessage,
  config: Pick<Config, 'WEBHOOK_URL' | 'WEBHOOK_SECRET'>,
  options: DeliveryOptions = {},
): Promise<DeliveryResult> {
  if (!config.WEBHOOK_URL) return { outcome: 'dropped', reason: 'WEBHOOK_URL is not set' };
  const body = webhookBody(message);
  const signature = await signWebhook(config.WEBHOOK_SECRET, body, Math.floor((options.now ?? Date.now()) / 1000));
  const retry = (reason: string): DeliveryResult => ({ outcome: 'retry', reason, delaySeconds: webhookRetryDelaySeconds(options.attempts ?? 1) });
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

/**
 * What the media queue consumer runs for a `webhook` message (on the main queue and on its
 * dead-letter queue alike): deliver, then ack, or retry with backoff.
 */
export async function handleWebhookMessage(
  message: Message<unknown>,
  config: Pick<Config, 'WEBHOOK_URL' | 'WEBHOOK_SECRET'>,
  options: { log: Logger; fetch?: typeof fetch },
): Promise<DeliveryResult> {
  if (!isWebhookMessage(message.body)) throw new TypeError('handleWebhookMessage needs a webhook message');
  const event = message.body;
  const result = await deliverWebhook(event, config, { fetch: options.fetch, attempts: message.attempts });
  const fields = { webhookId: event.id, event: event.event, attempts: message.attempts };
  if (result.outcome === 'retry') {
    options.log.warn('webhook delivery failed; will retry', { ...fields, reason: result.reason, delaySeconds: result.delaySeconds });
    message.retry({ delaySeconds: result.delaySeconds });
  } else {
    if (result.outcome === 'dropped') options.log.warn('webhook dropped', { ...fields, reason: result.reason });
    else options.log.info('webhook delivered', { ...fields, status: result.status });
    message.ack();
  }
  return result;
}
