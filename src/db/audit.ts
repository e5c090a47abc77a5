/**
 * Every query of the audit log (no other file reads or writes `audit_events`): the sequencers'
 * batched inserts, the filtered listing, shard walks for verify and export, and the newest event of
 * an action on a recording (the media pipeline's last retry reason).
 */
import { and, asc, desc, eq, gt, gte, lt, lte, or, type SQL } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { ChainedAuditEvent } from '../domain/audit-event';
import type { PagePosition } from '../domain/cursor';
import { auditEvents } from './schema';

type Db = DrizzleD1Database<Record<string, unknown>>;
export type AuditEventRow = typeof auditEvents.$inferSelect;

/** D1 binds at most 100 values a statement: 14 columns, 7 rows. */
const ROWS_PER_INSERT = 7;

/**
 * Write a sequenced batch in one D1 batch (one round trip, one transaction). A row already there
 * (the same id, written by an earlier try) is skipped, so a retried batch is harmless; so is a
 * row already at its (shard, seq), which then fails verification instead of being overwritten.
 */
export async function insertAuditEvents(db: Db, events: ChainedAuditEvent[]): Promise<number> {
  const statements = [];
  for (let i = 0; i < events.length; i += ROWS_PER_INSERT) {
    statements.push(db.insert(auditEvents).values(events.slice(i, i + ROWS_PER_INSERT)).onConflictDoNothing());
  }
  if (statements.length === 0) return 0;
  await db.batch(statements as [(typeof statements)[number], ...(typeof statements)[number][]]);
  return statements.length;
}

export interface AuditFilter {
  recordingId?: string;
  /** What the user did, and what was done to their data. */
  userId?: string;
  action?: string;
  from?: string;
  to?: string;
}

/**
 * A page of events after `cursor` (the `at` and id of the previous page's last event), newest first;
 * one more than `limit` tells the caller there is a next page.
 */
export function listAuditEvents(db: Db, filter: AuditFilter, cursor: PagePosition | null, limit: number): Promise<AuditEventRow[]> {
  const filters: SQL[] = [];
  if (filter.recordingId) filters.push(eq(auditEvents.recordingId, filter.recordingId));
  if (filter.userId) filters.push(or(eq(auditEvents.actor, filter.userId), eq(auditEvents.subjectUserId, filter.userId))!);
  if (filter.action) filters.push(eq(auditEvents.action, filter.action));
  if (filter.from) filters.push(gte(auditEvents.at, filter.from));
  if (filter.to) filters.push(lte(auditEvents.at, filter.to));
  if (cursor) filters.push(or(lt(auditEvents.at, cursor.time), and(eq(auditEvents.at, cursor.time), lt(auditEvents.id, cursor.id)))!);
  return db
    .select()
    .from(auditEvents)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(desc(auditEvents.at), desc(auditEvents.id))
    .limit(limit + 1)
    .all();
}

const EVENT_COLUMNS = 'id, shard, seq, at, actor, actor_role, action, recording_id, subject_user_id, outcome, details, request_id, prev_hash, hash';

/**
 * A page of one shard's chain after `afterSeq`, as chained events, for verify and export: one
 * prepared statement read as raw rows (a fifth of the cost of mapped objects over a million rows).
 */
export async function shardChainPage(d1: D1Database, shard: number, afterSeq: number, limit: number): Promise<ChainedAuditEvent[]> {
  const rows = await d1.prepare(`select ${EVENT_COLUMNS} from audit_events where shard = ? and seq > ? order by seq limit ?`).bind(shard, afterSeq, limit).raw<unknown[]>();
  return rows.map((r) => ({
    id: r[0] as string,
    shard: r[1] as number,
    seq: r[2] as number,
    at: r[3] as string,
    actor: r[4] as string,
    actorRole: r[5] as string | null,
    action: r[6] as string,
    recordingId: r[7] as string | null,
    subjectUserId: r[8] as string | null,
    outcome: r[9] as ChainedAuditEvent['outcome'],
    details: r[10] === null ? null : (JSON.parse(r[10] as string) as Record<string, unknown>),
    requestId: r[11] as string | null,
    prevHash: r[12] as string,
    hash: r[13] as string,
  }));
}

/**
 * Every shard that holds events: a loose index scan over (shard, seq), one indexed lookup per
 * shard found, instead of a DISTINCT that walks the whole index (a million rows per checkpoint).
 */
export async function shardsWithEvents(db: Db): Promise<number[]> {
  const shards: number[] = [];
  for (let after = -1; ; ) {
    const [row] = await db.select({ shard: auditEvents.shard }).from(auditEvents).where(gt(auditEvents.shard, after)).orderBy(asc(auditEvents.shard)).limit(1);
    if (!row) return shards;
    after = Number(row.shard);
    shards.push(after);
  }
}

/** A shard's newest event in D1, or null. */
export async function lastShardEvent(db: Db, shard: number): Promise<AuditEventRow | null> {
  const [row] = await db.select().from(auditEvents).where(eq(auditEvents.shard, shard)).orderBy(desc(auditEvents.seq)).limit(1);
  return row ?? null;
}

/** The details of the newest event of `action` about `recordingId` (chain order), or null. */
export async function newestEventDetails(db: Db, recordingId: string, action: string): Promise<Record<string, unknown> | null> {
  const row = await db
    .select({ details: auditEvents.details })
    .from(auditEvents)
    .where(and(eq(auditEvents.recordingId, recordingId), eq(auditEvents.action, action)))
    .orderBy(desc(auditEvents.seq))
    .limit(1)
    .get();
  return row?.details ?? null;
}
