/** Queries of the denied-authentication counters (one row per client address, minute and reason). */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from './client';
import { authDenials } from './schema';

export type DenialRow = typeof authDenials.$inferSelect;

/** Count one denial: one statement, whatever the number of isolates counting the same window. */
export async function countDenial(db: Database, denial: { source: string; windowStart: string; reason: string; path: string; at: string }): Promise<void> {
  await db
    .insert(authDenials)
    .values({ source: denial.source, windowStart: denial.windowStart, reason: denial.reason, count: 1, firstAt: denial.at, lastAt: denial.at, firstPath: denial.path })
    .onConflictDoUpdate({
      target: [authDenials.source, authDenials.windowStart, authDenials.reason],
      set: { count: sql`${authDenials.count} + 1`, lastAt: sql`max(${authDenials.lastAt}, excluded.last_at)` },
    });
}

/**
 * Lease up to `groups` (address, window) pairs whose window started before `closedBefore` and that
 * no live sweeper holds (unclaimed, or claimed before `leaseExpiredBefore`); returns all their rows.
 * One UPDATE, so two sweepers never lease the same pair.
 */
export async function claimClosedWindows(db: Database, closedBefore: string, now: string, leaseExpiredBefore: string, groups: number): Promise<DenialRow[]> {
  return db.all<DenialRow>(sql`
    update ${authDenials} set claimed_at = ${now}
    where (source, window_start) in (
      select source, window_start from ${authDenials}
      where window_start < ${closedBefore} and (claimed_at is null or claimed_at < ${leaseExpiredBefore})
      group by source, window_start order by window_start, source limit ${groups})
    returning source, window_start as windowStart, reason, count, first_at as firstAt, last_at as lastAt, first_path as firstPath, claimed_at as claimedAt`);
}

/** Remove one (address, window) pair's rows once its audit event is written, if the lease is still ours. */
export async function deleteWindow(db: Database, source: string, windowStart: string, claimedAt: string, reasons: string[]): Promise<void> {
  await db
    .delete(authDenials)
    .where(and(eq(authDenials.source, source), eq(authDenials.windowStart, windowStart), eq(authDenials.claimedAt, claimedAt), inArray(authDenials.reason, reasons)));
}
