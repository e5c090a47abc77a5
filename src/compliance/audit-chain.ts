/**
 * The tamper-evident audit log. Each event's `hash` is HMAC-SHA-256, under a key derived from the
 * master key, of the previous event's hash and the event's canonical JSON; `seq` orders the chain
 * and is unique, so two concurrent appends cannot both take the same place: the loser re-reads the
 * head and tries again. Verification walks the chain and reports the first event that does not fit.
 */
import { asc, desc, gt } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { auditEvents } from '../db/schema';
import { deriveHmacKey, hmacHex } from '../crypto/derive';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditInput {
  actor: string;
  actorRole?: string | null;
  action: string;
  recordingId?: string | null;
  subjectUserId?: string | null;
  outcome: 'success' | 'denied' | 'failure';
  details?: Record<string, unknown> | null;
  requestId?: string | null;
}

type AuditRow = typeof auditEvents.$inferSelect;

/** Canonical JSON: keys sorted at every level, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const hashedFields = (row: Omit<AuditRow, 'hash' | 'prevHash'>) => ({
  id: row.id,
  seq: row.seq,
  at: row.at,
  actor: row.actor,
  actorRole: row.actorRole ?? null,
  action: row.action,
  recordingId: row.recordingId ?? null,
  subjectUserId: row.subjectUserId ?? null,
  outcome: row.outcome,
  details: row.details ?? null,
  requestId: row.requestId ?? null,
});

export async function computeAuditHash(key: CryptoKey, prevHash: string, row: Omit<AuditRow, 'hash' | 'prevHash'>): Promise<string> {
  return hmacHex(key, `${prevHash}\n${canonicalJson(hashedFields(row))}`);
}

const MAX_ATTEMPTS = 20;

/** Append one event to the chain; returns the stored row. */
export async function appendAudit(db: DrizzleD1Database<Record<string, unknown>>, masterKey: string, input: AuditInput): Promise<AuditRow> {
  const key = await deriveHmacKey(masterKey, 'audit-chain');
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [head] = await db.select({ seq: auditEvents.seq, hash: auditEvents.hash }).from(auditEvents).orderBy(desc(auditEvents.seq)).limit(1);
    const row = {
      id: crypto.randomUUID(),
      seq: (head?.seq ?? 0) + 1,
      at: new Date().toISOString(),
      actor: input.actor,
      actorRole: input.actorRole ?? null,
      action: input.action,
      recordingId: input.recordingId ?? null,
      subjectUserId: input.subjectUserId ?? null,
      outcome: input.outcome,
      details: input.details ?? null,
      requestId: input.requestId ?? null,
    };
    const prevHash = head?.hash ?? GENESIS_HASH;
    const hash = await computeAuditHash(key, prevHash, row);
    try {
      await db.insert(auditEvents).values({ ...row, prevHash, hash });
      return { ...row, prevHash, hash };
    } catch (error) {
      if (!/UNIQUE constraint failed/i.test(String((error as Error)?.message) + String((error as Error)?.cause))) throw error;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
    }
  }
  throw new Error('audit chain append kept colliding');
}

/** Walk the whole chain in pages; `firstBadId` is the first event whose link or hash is wrong. */
export async function verifyAuditChain(
  db: DrizzleD1Database<Record<string, unknown>>,
  masterKey: string,
): Promise<{ ok: boolean; checked: number; firstBadId: string | null }> {
  const key = await deriveHmacKey(masterKey, 'audit-chain');
  let prevHash = GENESIS_HASH;
  let lastSeq = 0;
  let checked = 0;
  for (;;) {
    const page = await db.select().from(auditEvents).where(gt(auditEvents.seq, lastSeq)).orderBy(asc(auditEvents.seq)).limit(500);
    if (page.length === 0) return { ok: true, checked, firstBadId: null };
    for (const row of page) {
      const expected = await computeAuditHash(key, prevHash, row);
      checked++;
      if (row.seq !== lastSeq + 1 || row.prevHash !== prevHash || row.hash !== expected) return { ok: false, checked, firstBadId: row.id };
      prevHash = row.hash;
      lastSeq = row.seq;
    }
  }
}
