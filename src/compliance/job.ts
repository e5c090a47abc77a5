/** What every cron job (src/compliance/scheduled.ts runs them) receives besides its data. */
import type { AuditInput } from './audit-log';
import type { BatchLimits } from '../db/lifecycle';
import type { Logger } from '../observability/logger';
import type { WebhookEvent } from './webhooks';

/** How much a job may do, where it logs, how it audits and emits. */
export interface JobOptions {
  limits: BatchLimits & { /** `Date.now()` after which no new batch starts. */ deadline?: number };
  log: Logger;
  /** Appends an audit event by `system:cron`. */
  audit(event: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>): Promise<void>;
  /** Queues a webhook event (nothing without WEBHOOK_URL or a queue). */
  emit(event: WebhookEvent, data: Record<string, unknown>): Promise<void>;
}

