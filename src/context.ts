/**
 * What every request carries: bindings, parsed settings, the caller, a logger with the request id,
 * and an `audit` function bound to them. Routes read these; services receive plain arguments.
 */
import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import type { Context } from 'hono';
import type { Principal } from './auth/principal';
import { appendAudit, type AuditInput } from './compliance/audit-chain';
import type { Config, Secrets } from './config';
import * as schema from './db/schema';
import type { Logger } from './observability/logger';

export type Bindings = Env & Secrets;
export type Database = DrizzleD1Database<typeof schema>;

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

/** Record an access decision or change made by the caller of this request. */
export function audit(c: AppContext, event: Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>) {
  const principal = c.get('principal') as Principal | undefined;
  return appendAudit(c.get('db'), c.get('config').MASTER_ENCRYPTION_KEY, {
    ...event,
    actor: principal?.id ?? 'anonymous',
    actorRole: principal?.role ?? null,
    requestId: c.get('requestId'),
  });
}
