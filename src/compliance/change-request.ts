/**
 * What a service needs to make a change a request asked for and to say so: the change is audited
 * as the request's event and announced by webhook from inside the service (DELETE, legal holds,
 * GDPR erasure), so that no route can make it without both.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import type { Logger } from '../observability/logger';
import type { BlobStore } from '../storage/blob-store';
import type { AuditInput } from './audit-log';

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
