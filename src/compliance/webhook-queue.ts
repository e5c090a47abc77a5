/**
 * The consumer of the webhook queue and of its dead-letter queue. Each failed delivery is retried
 * with capped exponential backoff (WEBHOOK_RETRY_BASE_SECONDS, doubling, at most
 * WEBHOOK_RETRY_MAX_DELAY_SECONDS) until WEBHOOK_RETRY_HOURS have passed since the message was
 * queued; then the event becomes a dead-letter row in D1 that an admin can list and replay.
 * `message.timestamp` is when the message was queued and stays the same across retries, so the
 * window survives isolate restarts; a replay queues a new message, which gets a window of its own.
 */
import { appendAudit, auditLedger, type AuditLedger } from './audit-log';
import { getConfig, type Bindings, type Config } from '../config';
import { createDb, type Database } from '../db/client';
import { saveDeadLetter } from '../db/webhook-dead-letters';
import { createLogger, describeError, type Logger } from '../observability/logger';
import { deliverWebhook, isWebhookMessage, type WebhookMessage } from './webhooks';

/** The queue names of wrangler.toml; the Worker's one `queue` handler dispatches on them. */
export const WEBHOOK_QUEUE_NAME = 'call-recorder-webhooks';
export const WEBHOOK_DEAD_LETTER_QUEUE_NAME = 'call-recorder-webhooks-dlq';
/** wrangler.toml's max_retries for the webhook queue (the platform's maximum): deliveries past it go to the dead-letter queue. */
export const WEBHOOK_QUEUE_MAX_RETRIES = 100;
const ACTOR = 'system:webhooks';

export type RetrySettings = Pick<Config, 'WEBHOOK_RETRY_HOURS' | 'WEBHOOK_RETRY_BASE_SECONDS' | 'WEBHOOK_RETRY_MAX_DELAY_SECONDS'>;

/** The delay after failed attempt number `attempts` (1-based): base × 2^(attempts−1), capped. */
export function webhookRetryDelaySeconds(attempts: number, settings: RetrySettings): number {
  const doubled = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** Math.min(30, Math.max(0, attempts - 1));
  return Math.min(settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS, doubled);
}

/** True once a message queued at `queuedAt` has been retried for the whole window. */
export function retryWindowOver(queuedAt: Date, now: number, settings: RetrySettings): boolean {
  return now - queuedAt.getTime() >= settings.WEBHOOK_RETRY_HOURS * 3_600_000;
}

interface ConsumerDeps {
  db: Database;
  ledger: AuditLedger;
  config: Config;
  log: Logger;
  fetch?: typeof fetch;
  now?: () => number;
}

async function deadLetter(deps: ConsumerDeps, event: WebhookMessage, attempts: number, lastError: string): Promise<void> {
  const failedAt = new Date(deps.now?.() ?? Date.now()).toISOString();
  await saveDeadLetter(deps.db, { id: event.id, event: event.event, data: event.data, createdAt: event.createdAt, failedAt, attempts, lastError });
  await appendAudit(
    deps.ledger,
    { actor: ACTOR, actorRole: 'system', action: 'webhook.dead_lettered', outcome: 'failure', details: { webhookId: event.id, event: event.event, attempts, reason: lastError } },
    deps.log,
  );
  deps.log.error('webhook dead-lettered', { webhookId: event.id, event: event.event, attempts, reason: lastError });
}

/** One message of the webhook queue: deliver and ack, retry with backoff, or dead-letter once the window is over. */
async function deliverMessage(deps: ConsumerDeps, message: Message<unknown>, event: WebhookMessage): Promise<void> {
  const result = await deliverWebhook(event, deps.config, { fetch: deps.fetch, now: deps.now?.() });
  const fields = { webhookId: event.id, event: event.event, attempts: message.attempts };
  if (result.outcome === 'delivered') {
    deps.log.info('webhook delivered', { ...fields, status: result.status });
    return message.ack();
  }
  if (result.outcome === 'dropped') {
    deps.log.warn('webhook dropped', { ...fields, reason: result.reason });
    return message.ack();
  }
  if (retryWindowOver(message.timestamp, deps.now?.() ?? Date.now(), deps.config)) {
    await deadLetter(deps, event, message.attempts, result.reason);
    return message.ack();
  }
  const delaySeconds = webhookRetryDelaySeconds(message.attempts, deps.config);
  deps.log.warn('webhook delivery failed; will retry', { ...fields, reason: result.reason, delaySeconds });
  message.retry({ delaySeconds });
}

/** Runs a batch of the webhook queue (`deadLetterQueue` false) or of its dead-letter queue. */
export async function runWebhookBatch(deps: ConsumerDeps, batch: MessageBatch<unknown>, deadLetterQueue: boolean): Promise<void> {
  for (const message of batch.messages) {
    if (!isWebhookMessage(message.body)) {
      deps.log.warn('webhook queue message ignored: not a webhook event', { messageId: message.id });
      message.ack();
      continue;
    }
    try {
      if (deadLetterQueue) {
        await deadLetter(deps, message.body, WEBHOOK_QUEUE_MAX_RETRIES + 1, 'the webhook queue ran out of retries');
        message.ack();
      } else {
        await deliverMessage(deps, message, message.body);
      }
    } catch (error) {
      // Only bookkeeping (D1, audit) fails here; delivering the event again is what receivers expect.
      deps.log.error('webhook bookkeeping failed', { webhookId: message.body.id, ...describeError(error) });
      message.retry({ delaySeconds: webhookRetryDelaySeconds(message.attempts, deps.config) });
    }
  }
}

/** True for the queues this module consumes. */
export const isWebhookQueue = (queue: string) => queue === WEBHOOK_QUEUE_NAME || queue === WEBHOOK_DEAD_LETTER_QUEUE_NAME;

/** The Worker's `queue` handler for the webhook queues. */
export async function handleWebhookBatch(batch: MessageBatch<unknown>, env: Bindings): Promise<void> {
  const config = getConfig(env);
  const deps: ConsumerDeps = { db: createDb(env.DB), ledger: auditLedger(env, config), config, log: createLogger({ queue: batch.queue }, config.LOG_LEVEL) };
  await runWebhookBatch(deps, batch, batch.queue === WEBHOOK_DEAD_LETTER_QUEUE_NAME);
}
