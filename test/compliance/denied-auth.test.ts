/**
 * Denied authentications become one `auth.denied` audit event per client address and minute, with
 * the count, however many requests and isolates counted them, and however many sweepers race.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { flushDeniedAuth, recordDeniedAuth } from '../../src/compliance/denied-auth';
import { createDb } from '../../src/db/client';
import { auditEvents, authDenials } from '../../src/db/schema';
import { and, eq, sql } from 'drizzle-orm';
import { API_KEY, call } from '../support/auth';
import { settleAudit, testLedger } from '../support/audit';

const db = createDb(env.DB);
const LEDGER = testLedger;
const MINUTE = Date.parse('2026-03-01T10:00:00.000Z');

interface Details {
  source: string;
  windowStart: string;
  count: number;
  reasons: Record<string, number>;
  firstPath: string;
}

async function deniedEventsFor(source: string) {
  await settleAudit();
  const rows = await db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.denied'), sql`json_extract(${auditEvents.details}, '$.source') = ${source}`));
  return rows.map((row) => row.details as unknown as Details);
}

describe('denied authentication audit', () => {
  it('N denials from one address in one minute, counted concurrently, make one event with count N', async () => {
    const source = '198.51.100.1';
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        recordDeniedAuth(db, LEDGER, { source, reason: i % 4 === 0 ? 'unknown api key' : 'missing credentials', path: `/api/v1/recordings/${i}` }, new Date(MINUTE + i * 1000)),
      ),
    );
    expect(await deniedEventsFor(source)).toEqual([]);
    await flushDeniedAuth(db, LEDGER, new Date(MINUTE + 66_000));
    const events = await deniedEventsFor(source);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ source, windowStart: '2026-03-01T10:00:00.000Z', count: 40, reasons: { 'missing credentials': 30, 'unknown api key': 10 }, firstPath: '/api/v1/recordings/0' });
    expect(await db.select().from(authDenials).where(eq(authDenials.source, source))).toEqual([]);
  });

  it('writes nothing for a minute that is not over, and one event per minute after', async () => {
    const source = '198.51.100.2';
    for (const offset of [1_000, 30_000, 61_000]) await recordDeniedAuth(db, LEDGER, { source, reason: 'missing credentials', path: '/health' }, new Date(MINUTE + 120_000 + offset));
    // A minute's event waits out a 5 s grace after it, for denials still in flight.
    await flushDeniedAuth(db, LEDGER, new Date(MINUTE + 120_000 + 64_000));
    expect(await deniedEventsFor(source)).toEqual([]);
    await flushDeniedAuth(db, LEDGER, new Date(MINUTE + 120_000 + 66_000));
    expect((await deniedEventsFor(source)).map((e) => e.count)).toEqual([2]);
    await flushDeniedAuth(db, LEDGER, new Date(MINUTE + 120_000 + 130_000));
    expect((await deniedEventsFor(source)).map((e) => e.count).sort()).toEqual([1, 2]);
  });

  it('sweepers racing over the same closed minute write its event once', async () => {
    const source = '198.51.100.3';
    for (let i = 0; i < 5; i++) await recordDeniedAuth(db, LEDGER, { source, reason: 'missing credentials', path: '/x' }, new Date(MINUTE + 240_000 + i));
    await Promise.all(Array.from({ length: 6 }, () => flushDeniedAuth(db, LEDGER, new Date(MINUTE + 310_000))));
    expect((await deniedEventsFor(source)).map((e) => e.count)).toEqual([5]);
  });

  it('bad requests over the API are counted into their address, not appended one by one', async () => {
    const source = '198.51.100.4';
    await settleAudit();
    const before = await db.select({ n: sql<number>`count(*)` }).from(auditEvents);
    for (let i = 0; i < 15; i++) {
      const res = await call('/api/v1/recordings', { headers: { 'x-api-key': `wrong-key-${i}-0123456789abcdef`, 'cf-connecting-ip': source } });
      expect(res.status).toBe(401);
    }
    await settleAudit();
    const after = await db.select({ n: sql<number>`count(*)` }).from(auditEvents);
    expect(await deniedEventsFor(source)).toEqual([]);
    // Other tests' events may land meanwhile, never fifteen of ours.
    expect(Number(after[0]!.n) - Number(before[0]!.n)).toBeLessThan(15);
    const [counted] = await db.select().from(authDenials).where(eq(authDenials.source, source));
    expect(counted).toMatchObject({ count: 15, reason: 'unknown api key', firstPath: '/api/v1/recordings' });
    await flushDeniedAuth(db, LEDGER, new Date(Date.now() + 66_000));
    const events = await deniedEventsFor(source);
    expect(events).toHaveLength(1);
    expect(events[0]!.count).toBe(15);
    await settleAudit();
    const listed = await call('/api/v1/audit?action=auth.denied&limit=500', { headers: { 'x-api-key': API_KEY } });
    expect(((await listed.json()) as { items: { details: Details }[] }).items.filter((e) => e.details.source === source)).toHaveLength(1);
  });
});
