/**
 * The tamper-evident audit log. Each event's `hash` is HMAC-SHA-256, under a key derived from the
 * master key, of the previous event's hash and the event's canonical JSON; `seq` orders the chain.
 *
 * Appends never contend, whatever the concurrency. An append is two steps:
 *  1. one `INSERT … SELECT max(seq) + 1` stores the event as *pending*: D1 runs one statement at a
 *     time, so each event gets its own place without a read-then-write race. A pending row has
 *     `hash = ''` and `prevHash = 'pending:' + HMAC(key, event without seq)`, so that nobody without
 *     the key can slip a pending row in for the service to seal.
 *  2. *sealing*: read the last sealed row and the pending rows after it up to our own, compute each
 *     hash in seq order and write it with `UPDATE … WHERE hash = ''`. Hashes are a function of the
 *     stored rows, so concurrent sealers compute identical values: nobody retries, nobody waits, and
 *     an append whose request died after step 1 is sealed by the next one.
 * (An optimistic "read the head, insert seq + 1, retry on UNIQUE" append starves under load: with
 * 20 ms per D1 query, 50 concurrent appends lost 24 after 20 attempts each.)
 *
 * Verification walks the chain and names the first event that does not fit: an edited, deleted,
 * inserted or reordered row breaks a hash, a link or the seq sequence. A cut-off tail breaks
 * nothing inside D1, so signed checkpoints of the head are written to storage under
 * `audit-checkpoints/` (never overwritten; lock the prefix with an R2 bucket lock rule or S3/Azure
 * object lock), and verification checks the newest one is still in the chain with the same hash.
 */
import { and, asc, desc, eq, gt, gte, lte, ne, sql } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import { deriveHmacKey, hmacHex } from '../crypto/derive';
import { auditEvents } from '../db/schema';
import type { BlobStore } from '../storage/blob-store';

export const GENESIS_HASH = '0'.repeat(64);
const PENDING_PREFIX = 'pending:';
const CHECKPOINT_PREFIX = 'audit-checkpoints/';
/** Checkpoint keys hold `CHECKPOINT_CEILING - seq`, zero-padded: the newest lists first. */
const CHECKPOINT_CEILING = 10 ** 15;

type Db = DrizzleD1Database<Record<string, unknown>>;

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
type ChainedFields = Omit<AuditRow, 'hash' | 'prevHash'>;

/** Canonical JSON: keys sorted at every level, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const hashedFields = (row: ChainedFields) => ({
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

const auditKey = (masterKey: string) => deriveHmacKey(masterKey, 'audit-chain');

export async function computeAuditHash(key: CryptoKey, prevHash: string, row: ChainedFields): Promise<string> {
  return hmacHex(key, `${prevHash}\n${canonicalJson(hashedFields(row))}`);
}

/** What a pending row carries in `prevHash`: a MAC of everything but the seq it has not got yet. */
async function pendingMark(key: CryptoKey, row: Omit<ChainedFields, 'seq'>): Promise<string> {
  const { seq: _, ...fields } = hashedFields({ ...row, seq: 0 });
  return PENDING_PREFIX + (await hmacHex(key, `pending/v1\n${canonicalJson(fields)}`));
}

const isPending = (row: AuditRow) => row.hash === '';

/** Append one event to the chain; returns the stored row (sealed unless the chain before it is broken). */
export async function appendAudit(db: Db, masterKey: string, input: AuditInput): Promise<AuditRow> {
  const key = await auditKey(masterKey);
  const event = {
    id: crypto.randomUUID(),
    at: new Date().toISOString(),
    actor: input.actor,
    actorRole: input.actorRole ?? null,
    action: input.action,
    recordingId: input.recordingId ?? null,
    subjectUserId: input.subjectUserId ?? null,
    outcome: input.outcome,
    // Hashed as it will be read back: what JSON cannot hold (a Date, undefined) never reaches the hash.
    details: input.details == null ? null : (JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>),
    requestId: input.requestId ?? null,
  };
  const mark = await pendingMark(key, event);
  const [inserted] = await db.all<{ seq: number }>(sql`
    insert into ${auditEvents} (id, seq, at, actor, actor_role, action, recording_id, subject_user_id, outcome, details, request_id, prev_hash, hash)
    select ${event.id}, coalesce(max(seq), 0) + 1, ${event.at}, ${event.actor}, ${event.actorRole}, ${event.action}, ${event.recordingId},
           ${event.subjectUserId}, ${event.outcome}, ${event.details === null ? null : JSON.stringify(event.details)}, ${event.requestId}, ${mark}, ''
    from ${auditEvents}
    returning seq`);
  if (!inserted) throw new Error('audit append stored no row');
  const sealed = await sealThrough(db, key, inserted.seq);
  return sealed.get(event.id) ?? { ...event, seq: inserted.seq, prevHash: mark, hash: '' };
}

/**
 * Seal every pending row up to `seq`, in order, stopping at anything that does not fit (a gap, a
 * pending row whose mark is not ours): those stay pending, and verification names them.
 */
async function sealThrough(db: Db, key: CryptoKey, seq: number): Promise<Map<string, AuditRow>> {
  const anchor = sql`coalesce((select a.seq from ${auditEvents} a where a.hash <> '' and a.seq <= ${seq} order by a.seq desc limit 1), 0)`;
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(gte(auditEvents.seq, anchor), lte(auditEvents.seq, seq)))
    .orderBy(asc(auditEvents.seq));
  const sealed = new Map<string, AuditRow>();
  let prev = GENESIS_HASH;
  let lastSeq = 0;
  const updates = [];
  for (const row of rows) {
    if (!isPending(row)) {
      prev = row.hash;
      lastSeq = row.seq;
      sealed.set(row.id, row);
      continue;
    }
    if (row.seq !== lastSeq + 1 || row.prevHash !== (await pendingMark(key, row))) break;
    const hash = await computeAuditHash(key, prev, row);
    updates.push(
      db
        .update(auditEvents)
        .set({ prevHash: prev, hash })
        .where(and(eq(auditEvents.id, row.id), eq(auditEvents.hash, ''))),
    );
    sealed.set(row.id, { ...row, prevHash: prev, hash });
    prev = hash;
    lastSeq = row.seq;
  }
  if (updates.length > 0) await db.batch(updates as [(typeof updates)[number], ...(typeof updates)[number][]]);
  return sealed;
}

export type VerifyFailure = 'sequence' | 'link' | 'hash' | 'pending' | 'truncated' | 'checkpoint';

export interface VerifyResult {
  ok: boolean;
  checked: number;
  /** The first event that does not fit; for a cut-off tail, the checkpointed event that is missing. */
  firstBadId: string | null;
  /** What was wrong with it: seq out of order or missing, link or hash broken, forged pending row, tail cut off, or a chain rewritten past a checkpoint. */
  reason: VerifyFailure | null;
  /** Events appended but not yet sealed (a request still running, or one that died after storing its event). */
  pending: number;
  /** The newest checkpoint checked against the chain, or null when none was found. */
  checkpoint: { seq: number; id: string; writtenAt: string } | null;
}

/** Walk the whole chain in pages, then check the newest checkpoint in `store` (when given). */
export async function verifyAuditChain(db: Db, masterKey: string, store?: BlobStore): Promise<VerifyResult> {
  const key = await auditKey(masterKey);
  const checkpoint = store ? await readNewestCheckpoint(store, key) : null;
  const summary = checkpoint ? { seq: checkpoint.seq, id: checkpoint.id, writtenAt: checkpoint.writtenAt } : null;
  let prev = GENESIS_HASH;
  let lastSeq = 0;
  let checked = 0;
  let pending = 0;
  const bad = (id: string, reason: VerifyFailure): VerifyResult => ({ ok: false, checked, firstBadId: id, reason, pending, checkpoint: summary });
  for (;;) {
    const page = await db.select().from(auditEvents).where(gt(auditEvents.seq, lastSeq)).orderBy(asc(auditEvents.seq)).limit(500);
    for (const row of page) {
      checked++;
      if (row.seq !== lastSeq + 1) return bad(row.id, 'sequence');
      const expected = await computeAuditHash(key, prev, row);
      if (isPending(row)) {
        if (row.prevHash !== (await pendingMark(key, row))) return bad(row.id, 'pending');
        pending++;
      } else {
        if (row.prevHash !== prev) return bad(row.id, 'link');
        if (row.hash !== expected) return bad(row.id, 'hash');
      }
      if (checkpoint && row.seq === checkpoint.seq && (row.id !== checkpoint.id || expected !== checkpoint.hash)) return bad(row.id, 'checkpoint');
      prev = expected;
      lastSeq = row.seq;
    }
    if (page.length < 500) break;
  }
  if (checkpoint && lastSeq < checkpoint.seq) return bad(checkpoint.id, 'truncated');
  return { ok: true, checked, firstBadId: null, reason: null, pending, checkpoint: summary };
}

interface Checkpoint {
  version: 1;
  seq: number;
  id: string;
  hash: string;
  at: string;
  writtenAt: string;
  signature: string;
}

const checkpointMessage = (c: Omit<Checkpoint, 'signature'>) => `audit-checkpoint/v${c.version}\n${c.seq}\n${c.id}\n${c.hash}\n${c.at}\n${c.writtenAt}`;
const checkpointKey = (seq: number) => `${CHECKPOINT_PREFIX}${String(CHECKPOINT_CEILING - seq).padStart(16, '0')}.json`;

/**
 * Write a signed checkpoint of the newest sealed event to `store`, unless that event already has
 * one. Meant for the hourly cron (and after anything an operator wants pinned). Returns the
 * checkpoint, or null when the chain is empty or the head is already checkpointed.
 */
export async function writeAuditCheckpoint(db: Db, store: BlobStore, masterKey: string, now = new Date()): Promise<Checkpoint | null> {
  const key = await auditKey(masterKey);
  const [head] = await db.select().from(auditEvents).where(ne(auditEvents.hash, '')).orderBy(desc(auditEvents.seq)).limit(1);
  if (!head) return null;
  const objectKey = checkpointKey(head.seq);
  if ((await store.head(objectKey)) !== null) return null;
  const unsigned = { version: 1 as const, seq: head.seq, id: head.id, hash: head.hash, at: head.at, writtenAt: now.toISOString() };
  const checkpoint: Checkpoint = { ...unsigned, signature: await hmacHex(key, checkpointMessage(unsigned)) };
  await store.putBytes(objectKey, new TextEncoder().encode(JSON.stringify(checkpoint)), 'application/json');
  return checkpoint;
}

/** The newest checkpoint whose signature is ours. A checkpoint that fails its signature is skipped, not trusted. */
async function readNewestCheckpoint(store: BlobStore, key: CryptoKey): Promise<Checkpoint | null> {
  const { keys } = await store.list(CHECKPOINT_PREFIX);
  for (const objectKey of keys.sort().slice(0, 10)) {
    const object = await store.get(objectKey);
    if (!object) continue;
    const text = await new Response(object.body).text();
    let parsed: Checkpoint;
    try {
      parsed = JSON.parse(text) as Checkpoint;
    } catch {
      continue;
    }
    const { signature, ...unsigned } = parsed;
    if (typeof signature === 'string' && signature === (await hmacHex(key, checkpointMessage(unsigned)))) return parsed;
  }
  return null;
}
