/**
 * What every request carries: bindings, parsed settings, the caller, a logger with the request id,
 * and an `audit` function bound to them. Routes read these; services receive plain arguments.
 */
import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import type { Context } from 'hono';
import type { Principal } from './auth/principal';
import { auditLedger, deliverAudit, newAuditEvent, type AuditInput } from './compliance/audit-log';
import type { Config, Secrets } from './config';
import * as schema from './db/schema';
import { describeError, type Logger } from './observability/logger';

export type Bindings = Env & Secrets;
/** `$client` is the D1 binding itself, for the few statements drizzle cannot batch (src/db/transcripts.ts). */
export type Database = DrizzleD1Database<typeof schema> & { $client: D1Database };

export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    config: Config;
    log: Logger;
    principal: Principal;
    db: Database;
  };
}

export type AppContext = Context<AppEnv>;

export const createDb = (d1: D1Database): Database => drizzle(d1, { schema });

/**
 * Record an access decision or change made by the caller of this request. The event is handed to
 * its sequencer after the response (`waitUntil`, retried there), never awaited on the request
 * path; it shows in `GET /audit` within a second or two. The returned promise is already settled.
 */
export function audit(c: AppContext, event: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>): Promise<void> {
  const principal = c.get('principal') as Principal | undefined;
  return auditAs(c, { ...event, actor: principal?.id ?? 'anonymous', actorRole: principal?.role ?? null });
}

/** Like `audit`, for a request whose actor is not its principal (a signed link names its signer). */
export function auditAs(c: AppContext, event: Omit<AuditInput, 'requestId'>): Promise<void> {
  const requestId = c.get('requestId');
  const record = newAuditEvent({ ...event, requestId });
  const log = c.get('log');
  c.executionCtx.waitUntil(
    deliverAudit(auditLedger(c.env, c.get('config')), [record], requestId, log).catch((error: unknown) =>
      log.error('audit event lost after every retry', { eventId: record.id, action: record.action, ...describeError(error) }),
    ),
  );
  return Promise.resolve();
}
