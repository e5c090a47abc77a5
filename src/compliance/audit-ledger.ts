/**
 * The audit log's operations over D1 and storage: writing a signed checkpoint of every shard's
 * head, verifying every shard against every checkpoint, and exporting a range for an outsider.
 * Checkpoints go to storage under `audit-checkpoints/` (one object each, never overwritten): the
 * README tells operators to lock that prefix and only it (an R2 bucket lock rule on the prefix; S3
 * Object Lock or Azure version-level immutability per checkpoint object, never bucket-wide, which
 * would lock the recordings too), so that whoever can rewrite D1 cannot also take the checkpoints back.
 *
 * Every reader here (a page, a verification, an export) first settles the log: what the
 * sequencers hold is written to D1, so that a reader sees every event accepted before it began.
 */
import type { FlattenedJWS, JWK } from 'jose';
import type { Database } from '../db/client';
import { listAuditEvents, shardChainPage, shardsWithEvents, type AuditEventRow, type AuditFilter } from '../db/audit';
import { decodeCursor, pageOf } from '../domain/cursor';
import type { BlobStore } from '../storage/blob-store';
import { auditPublicKeys, auditSigner, openCheckpoint, signCheckpoint, type CheckpointPayload } from './audit-checkpoint';
import type { ChainedAuditEvent } from './audit-format';
import { flushedHeads, settleAuditWrites, type AuditLedger } from './audit-log';
import { verifyLedger, type StoredCheckpoint, type VerifyResult } from './audit-verifier';
import { flushDeniedAuth } from './denied-auth';

export const CHECKPOINT_PREFIX = 'audit-checkpoints/';
/** Checkpoint keys start with `CEILING - time in ms`, zero-padded: the newest lists first. */
const CEILING = 10 ** 15;
/** Rows per D1 read of a shard walk. */
const PAGE = 5000;
export const EXPORT_FORMAT = 'call-recorder-audit-export/1';

export interface LedgerDeps {
  db: Database;
  store: BlobStore;
  ledger: AuditLedger;
  signingKey: string;
  /** Public keys (base64url `x`) of retired signing keys: their checkpoints still verify. */
  previousKeys?: readonly string[];
}

/** Every configured shard, and any other that holds events. */
async function allShards(db: Database, ledger: AuditLedger): Promise<number[]> {
  const shards = new Set(Array.from({ length: ledger.shards }, (_, i) => i));
  for (const shard of await shardsWithEvents(db)) shards.add(shard);
  return [...shards].sort((a, b) => a - b);
}

/**
 * Sign and store a checkpoint of every shard's head. The heads come from the sequencers (after
 * each has written what it holds to D1), not from D1, so that an edited D1 cannot move them.
 */
export async function writeAuditCheckpoint(deps: LedgerDeps, now = new Date()): Promise<{ key: string; payload: CheckpointPayload }> {
  const heads = await flushedHeads(deps.ledger, await allShards(deps.db, deps.ledger));
  const id = crypto.randomUUID();
  const { payload, jws } = await signCheckpoint(await auditSigner(deps.signingKey), heads, id, now.toISOString());
  const key = `${CHECKPOINT_PREFIX}${String(CEILING - now.getTime()).padStart(16, '0')}-${id}.json`;
  await deps.store.putBytes(key, new TextEncoder().encode(JSON.stringify(jws)), 'application/json');
  return { key, payload };
}

/** Every object under the checkpoint prefix, newest first; one that is not JSON is kept (as null) so that verification names it. */
export async function readCheckpoints(store: BlobStore): Promise<StoredCheckpoint[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(CHECKPOINT_PREFIX, cursor);
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor);
  keys.sort();
  const out: StoredCheckpoint[] = [];
  for (let i = 0; i < keys.length; i += 16) {
    out.push(
      ...(await Promise.all(
        keys.slice(i, i + 16).map(async (key) => {
          const object = await store.get(key);
          const text = object ? await new Response(object.body).text() : '';
          try {
            return { key, jws: JSON.parse(text) as FlattenedJWS };
          } catch {
            return { key, jws: null };
          }
        }),
      )),
    );
  }
  return out;
}

/** Each shard's seq in the newest checkpoint that opens with the key (keys list newest first). */
async function newestHeads(checkpoints: StoredCheckpoint[], keys: readonly JWK[]): Promise<Map<number, number>> {
  for (const checkpoint of checkpoints) {
    const opened = await openCheckpoint(checkpoint.jws, keys);
    if ('payload' in opened) return new Map(opened.payload.heads.map((h) => [h.shard, h.seq]));
  }
  return new Map();
}

/**
 * A shard's events in seq order from `fromSeq`, page by page; the next page is asked for as soon as
 * a page arrives, so D1 reads it while the caller hashes this one.
 */
async function* shardPages(db: Database, shard: number, fromSeq = 1): AsyncIterable<ChainedAuditEvent[]> {
  let next: Promise<ChainedAuditEvent[]> | null = shardChainPage(db.$client, shard, fromSeq - 1, PAGE);
  while (next) {
    const page: ChainedAuditEvent[] = await next;
    next = page.length < PAGE ? null : shardChainPage(db.$client, shard, page[page.length - 1]!.seq, PAGE);
    try {
      if (page.length > 0) yield page;
    } catch (error) {
      await next?.catch(() => undefined);
      throw error;
    }
  }
}

/**
 * Denials of minutes that are over are handed over (src/compliance/denied-auth.ts), then every
 * sequencer writes what it holds to D1: after this, D1 has every event accepted before the call.
 */
async function settle(deps: LedgerDeps): Promise<void> {
  await flushDeniedAuth(deps.db, deps.ledger);
  await settleAuditWrites(deps.ledger);
}

/**
 * A page of at most `limit` events, newest first, with every event accepted before the call;
 * `cursor` is a `nextCursor` of an earlier page (400 when it is not one).
 */
export async function auditPage(deps: LedgerDeps, filter: AuditFilter, cursor: string | undefined, limit: number): Promise<{ items: AuditEventRow[]; nextCursor: string | null }> {
  const after = cursor === undefined ? null : decodeCursor(cursor);
  await settle(deps);
  const rows = await listAuditEvents(deps.db, filter, after, limit);
  return pageOf(rows, limit, (row) => ({ time: row.at, id: row.id }));
}

/** Verify every shard in D1 against every checkpoint in storage, with the public key only. */
export async function verifyAuditLog(deps: LedgerDeps): Promise<VerifyResult> {
  await settle(deps);
  const [publicKeys, checkpoints, shards] = await Promise.all([auditPublicKeys(deps.signingKey, deps.previousKeys), readCheckpoints(deps.store), allShards(deps.db, deps.ledger)]);
  return verifyLedger({ publicKeys, checkpoints, shards, pages: (shard) => shardPages(deps.db, shard) });
}

/**
 * The export an outsider verifies with scripts/verify-audit.mjs: NDJSON, a header line (format,
 * public key, shards, fromSeq), every checkpoint, then each shard's events from `fromSeq` in seq
 * order. Streamed page by page.
 */
export function exportAuditLog(deps: LedgerDeps, options: { shards?: number[]; fromSeq: number; throughCheckpoint: boolean }): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const line = (value: unknown) => encoder.encode(`${JSON.stringify(value)}\n`);
  const lines = (async function* () {
    await settle(deps);
    const publicKeys = await auditPublicKeys(deps.signingKey, deps.previousKeys);
    const shards = options.shards ?? (await allShards(deps.db, deps.ledger));
    const checkpoints = await readCheckpoints(deps.store);
    const through = options.throughCheckpoint ? await newestHeads(checkpoints, publicKeys) : null;
    // The keys are named for information only: the verifier trusts the key set it is given apart from the export.
    yield line({ type: 'header', format: EXPORT_FORMAT, exportedAt: new Date().toISOString(), publicKey: publicKeys[0], publicKeys, shards, fromSeq: options.fromSeq, partial: options.shards !== undefined });
    for (const checkpoint of checkpoints) yield line({ type: 'checkpoint', key: checkpoint.key, jws: checkpoint.jws });
    for (const shard of shards) {
      const last = through ? (through.get(shard) ?? 0) : Infinity;
      pages: for await (const page of shardPages(deps.db, shard, options.fromSeq)) {
        for (const event of page) {
          if (event.seq > last) break pages;
          yield line({ type: 'event', ...event });
        }
      }
    }
  })();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
}
