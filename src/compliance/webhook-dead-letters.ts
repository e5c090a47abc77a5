/**
 * What an admin does with webhook events that ran out of attempts: list them, and replay one, which
 * queues the very same event (same id, same createdAt and data) on the webhook queue again.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import { findDeadLetter, listDeadLetters, markReplayed, type DeadLetterRow } from '../db/webhook-dead-letters';
import { decodeCursor, pageOf } from '../domain/cursor';
import { AppError, notFound } from '../errors';
import { isWebhookMessage, type WebhookMessage } from './webhooks';

export interface DeadLetter {
  id: string;
  event: string;
  data: Record<string, unknown>;
  createdAt: string;
  failedAt: string;
  attempts: number;
  lastError: string;
  replayedAt: string | null;
  replayedBy: string | null;
}

const toDeadLetter = (row: DeadLetterRow): DeadLetter => ({ ...row });

/** A page of dead letters, newest failure first; `pending` leaves out those already replayed. */
export async function listDeadLetterPage(
  db: Database,
  query: { limit: number; cursor?: string; pending?: boolean },
): Promise<{ items: DeadLetter[]; nextCursor: string | null }> {
  const rows = await listDeadLetters(db, { limit: query.limit + 1, pending: query.pending, before: query.cursor ? decodeCursor(query.cursor) : undefined });
  const page = pageOf(rows, query.limit, (row) => ({ time: row.failedAt, id: row.id }));
  return { items: page.items.map(toDeadLetter), nextCursor: page.nextCursor };
}

/**
 * Queues dead letter `id` for delivery again and marks it replayed by `by`. 404 when there is no
 * such dead letter; 409 when WEBHOOK_URL is not set (there is nowhere to deliver to).
 */
export async function replayDeadLetter(
  deps: { db: Database; queue: Queue; config: Pick<Config, 'WEBHOOK_URL'> },
  id: string,
  by: string,
  now = new Date(),
): Promise<DeadLetter> {
  const row = await findDeadLetter(deps.db, id);
  if (!row) throw notFound('Dead letter');
  if (!deps.config.WEBHOOK_URL) throw new AppError('conflict', 'WEBHOOK_URL is not set: there is nowhere to deliver the event to');
  const message: WebhookMessage = { type: 'webhook', id: row.id, event: row.event as WebhookMessage['event'], data: row.data, createdAt: row.createdAt };
  if (!isWebhookMessage(message)) throw new AppError('conflict', `Dead letter ${id} holds an event this version does not send (${row.event})`);
  await deps.queue.send(message, { contentType: 'json' });
  await markReplayed(deps.db, id, by, now.toISOString());
  return toDeadLetter({ ...row, replayedAt: now.toISOString(), replayedBy: by });
}
