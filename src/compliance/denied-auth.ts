/**
 * Denied authentications are audited per client address and minute, not per request: a flood of
 * bad credentials costs one counter upsert per request instead of an audit append (three D1 round
 * trips), and the audit log gets one `auth.denied` event per address and minute, with the count.
 *
 * Counting is one D1 upsert keyed (address, minute, reason), so it holds across isolates. The event
 * of a minute is written once that minute is over (plus a grace for requests still in flight), by
 * whoever sweeps first: the first denial an isolate sees in each later minute, every read of the
 * audit log, and the hourly cron. A sweeper leases its windows in one UPDATE, appends their events
 * through the audit log's own append (which returns once the event is stored), then deletes them; a sweeper that died mid-way loses its
 * lease after LEASE_MS and the next one writes the event (at least once, never lost).
 */
import { appendAudit, type AuditLedger } from './audit-log';
import type { Database } from '../db/client';
import { claimClosedWindows, countDenial, deleteWindow, type DenialRow } from '../db/auth-denials';

const WINDOW_MS = 60_000;
/** A denial is counted into the window it started in; one in flight when its minute ends lands within this. */
const GRACE_MS = 5_000;
const LEASE_MS = 120_000;
/** Windows one sweep in a request handles; the cron sweeps until none is left. */
const REQUEST_SWEEP_GROUPS = 10;

export interface Denial {
  /** The client address (CF-Connecting-IP), or `unknown`. */
  source: string;
  reason: string;
  path: string;
}

const windowOf = (at: number) => new Date(Math.floor(at / WINDOW_MS) * WINDOW_MS).toISOString();

/** The newest window this isolate has swept for: each isolate sweeps at most once a minute from the request path. */
let sweptWindow = '';

/** Count a denied authentication; the first denial an isolate sees in a new minute also sweeps closed windows. */
export async function recordDeniedAuth(db: Database, ledger: AuditLedger, denial: Denial, now = new Date()): Promise<void> {
  const at = now.getTime();
  await countDenial(db, { source: denial.source, windowStart: windowOf(at), reason: denial.reason, path: denial.path.slice(0, 256), at: now.toISOString() });
  const current = windowOf(at);
  if (sweptWindow === current) return;
  sweptWindow = current;
  await flushDeniedAuth(db, ledger, now, REQUEST_SWEEP_GROUPS);
}

/**
 * Write one `auth.denied` audit event for each (address, minute) that is over, up to `maxGroups`
 * of them (oldest first); returns how many were written.
 */
export async function flushDeniedAuth(db: Database, ledger: AuditLedger, now = new Date(), maxGroups = 100): Promise<number> {
  const at = now.getTime();
  const rows = await claimClosedWindows(db, windowOf(at - GRACE_MS), now.toISOString(), new Date(at - LEASE_MS).toISOString(), maxGroups);
  const groups = new Map<string, DenialRow[]>();
  for (const row of rows) {
    const key = `${row.windowStart}\n${row.source}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const ordered = [...groups.values()].sort((a, b) => (a[0]!.windowStart < b[0]!.windowStart ? -1 : a[0]!.windowStart > b[0]!.windowStart ? 1 : 0));
  for (const group of ordered) {
    const first = group.reduce((a, b) => (b.firstAt < a.firstAt ? b : a));
    const { source, windowStart, claimedAt } = first;
    await appendAudit(ledger, {
      actor: 'anonymous',
      action: 'auth.denied',
      outcome: 'denied',
      details: {
        source,
        windowStart,
        windowEnd: new Date(Date.parse(windowStart) + WINDOW_MS).toISOString(),
        count: group.reduce((sum, row) => sum + row.count, 0),
        reasons: Object.fromEntries(group.map((row) => [row.reason, row.count])),
        firstAt: first.firstAt,
        lastAt: group.reduce((latest, row) => (row.lastAt > latest ? row.lastAt : latest), first.lastAt),
        firstPath: first.firstPath,
      },
    });
    await deleteWindow(db, source, windowStart, claimedAt!, group.map((row) => row.reason));
  }
  return ordered.length;
}
