/**
 * What every request carries: bindings, parsed settings, the caller, a logger with the request id,
 * and an `audit` function bound to them. Routes read these; services receive plain arguments.
 */
import type { Context } from 'hono';
import type { Principal } from './auth/principal';
import { auditLedger, currentAuditShard, deliverAudit, newAuditEvent, REQUEST_RETRY_DELAYS_MS, type AuditInput } from './compliance/audit-log';
import type { Bindings, Config } from './config';
import type { Database } from './db/client';
import type { ChangeRequestDeps } from './compliance/change-request';
import { AppError } from './errors';
import { describeError, type Logger } from './observability/logger';
import { createBlobStore } from './storage/select';

// Re-exported for the modules that still import them from here (their owners move them to
// src/db/client.ts and src/config.ts); new code imports them from there.
export type { Bindings } from './config';
export { createDb, type Database } from './db/client';

export interface AppEnv {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    config: Config;
    log: Logger;
    principal: Principal;
    db: Database;
    /** The shard of this request's events, drawn at its first event: one request's events share a chain, in order. */
    auditShard?: number;
  };
}

export type AppContext = Context<AppEnv>;

/**
 * Record an access decision or change made by the caller of this request. Resolves once the
 * event is durable in its shard's sequencer (a Durable Object RPC that stores it, shared with the
 * isolate's other requests of the moment; the chain and D1 come later, off the request path), so
 * the response is never sent for an event that is not stored: an isolate that dies after answering
 * has lost nothing. When the sequencer cannot store
 * it after quick retries, the request fails with 503 (no access without a record), and the hand-over
 * goes on in `waitUntil` with the longer retries, so that a change already made is still recorded
 * (the log may then hold an event of a request that answered 503: it over-reports, never under-reports).
 * It shows in `GET /audit` within a second or two.
 */
export function audit(c: AppContext, event: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>): Promise<void> {
  const principal = c.get('principal') as Principal | undefined;
  return auditAs(c, { ...event, actor: principal?.id ?? 'anonymous', actorRole: principal?.role ?? null });
}

/** What a service that changes data for this request needs (src/compliance/change-request.ts): it audits and announces the change itself. */
export function changeRequestDeps(c: AppContext): ChangeRequestDeps {
  const config = c.get('config');
  return { db: c.get('db'), store: createBlobStore(c.env, config), config, webhookQueue: c.env.WEBHOOK_QUEUE, log: c.get('log'), audit: (event) => audit(c, event) };
}

/** Like `audit`, for a request whose actor is not its principal (a signed link names its signer). */
export async function auditAs(c: AppContext, event: Omit<AuditInput, 'requestId'>): Promise<void> {
  const requestId = c.get('requestId');
  const record = newAuditEvent({ ...event, requestId });
  const log = c.get('log');
  const ledger = auditLedger(c.env, c.get('config'));
  let shard = c.get('auditShard');
  if (shard === undefined) c.set('auditShard', (shard = currentAuditShard(ledger)));
  try {
    await deliverAudit(ledger, [record], shard, log, REQUEST_RETRY_DELAYS_MS);
  } catch (error) {
    log.error('audit sequencer unavailable; answering 503 and retrying in the background', { eventId: record.id, action: record.action, ...describeError(error) });
    c.executionCtx.waitUntil(
      deliverAudit(ledger, [record], shard, log).catch((again: unknown) =>
        log.error('audit event lost after every retry', { eventId: record.id, action: record.action, ...describeError(again) }),
      ),
    );
    throw new AppError('service_unavailable', 'The audit log is unavailable; try again', { headers: { 'retry-after': '1' }, cause: error });
  }
}
