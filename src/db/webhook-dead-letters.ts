/** Webhook events that ran out of delivery attempts, kept until an admin replays them. No HTTP here. */
import { and, desc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { PagePosition } from '../domain/cursor';
import type { Database } from './client';
import { webhookDeadLetters } from './schema';

export type DeadLetterRow = typeof webhookDeadLetters.$inferSelect;

/**
 * Records that `row.id` gave up. The same event failing again (after a replay) keeps one row: its
 * attempts add up, the newest error and time replace the old ones, and it is pending again.
 */
export async function saveDeadLetter(db: Database, row: Omit<DeadLetterRow, 'replayedAt' | 'replayedBy'>): Promise<void> {
  await db
    .insert(webhookDeadLetters)
    .values({ ...row, replayedAt: null, replayedBy: null })
    .onConflictDoUpdate({
      target: webhookDeadLetters.id,
      set: {
        failedAt: row.failedAt,
        attempts: sql`${webhookDeadLetters.attempts} + ${row.attempts}`,
        lastError: row.lastError,
        replayedAt: null,
        replayedBy: null,
      },
    });
}

/** Newest failure first; `pending` keeps those not replayed yet. `before`: the previous page's last row's `failedAt` and id. */
export async function listDeadLetters(db: Database, options: { limit: number; pending?: boolean; before?: PagePosition }): Promise<DeadLetterRow[]> {
  const where = [];
  if (options.pending) where.push(isNull(webhookDeadLetters.replayedAt));
  if (options.before) {
    const { time, id } = options.before;
    where.push(or(lt(webhookDeadLetters.failedAt, time), and(eq(webhookDeadLetters.failedAt, time), lt(webhookDeadLetters.id, id)))!);
  }
  return db
    .select()
    .from(webhookDeadLetters)
    .where(and(...where))
    .orderBy(desc(webhookDeadLetters.failedAt), desc(webhookDeadLetters.id))
    .limit(options.limit);
}

export async function findDeadLetter(db: Database, id: string): Promise<DeadLetterRow | undefined> {
  return db.select().from(webhookDeadLetters).where(eq(webhookDeadLetters.id, id)).get();
}

/** Marks the row replayed by `by`; false when it is gone. */
export async function markReplayed(db: Database, id: string, by: string, at: string): Promise<boolean> {
  const result = await db.update(webhookDeadLetters).set({ replayedAt: at, replayedBy: by }).where(eq(webhookDeadLetters.id, id)).returning({ id: webhookDeadLetters.id });
  return result.length > 0;
}
