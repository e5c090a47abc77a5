/**
 * What a service needs to make a change a request asked for and to say so: the change is audited
 * as the request's event and announced by webhook from inside the service (DELETE, legal holds,
 * GDPR erasure), so that no route can make it without both.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import { describeError, type Logger } from '../observability/logger';
import type { BlobStore } from '../storage/blob-store';
import type { AuditInput } from './audit-log';
import { emitEvent, type WebhookEvent } from './webhooks';

/** The request's audit log: its actor, role and request id are filled in by the caller. */
export type RequestAudit = (event: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>) => Promise<void>;

export interface ChangeRequestDeps {
  db: Database;
  store: BlobStore;
  config: Pick<Config, 'WEBHOOK_URL'>;
  webhookQueue: Queue;
  log: Logger;
  audit: RequestAudit;
}

/**
 * Queue the webhook of a change that is already made and audited. A Queue failure is logged, not
 * thrown: failing the request now would only make the caller do the change again.
 */
export async function announceChange(deps: Pick<ChangeRequestDeps, 'webhookQueue' | 'config' | 'log'>, event: WebhookEvent, data: Record<string, unknown>): Promise<void> {
  try {
    await emitEvent({ queue: deps.webhookQueue, config: deps.config }, event, data);
  } catch (error) {
    deps.log.error(`${event} webhook could not be queued`, { recordingId: data.recordingId, userId: data.userId, ...describeError(error) });
  }
}
