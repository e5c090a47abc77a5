/**
 * Verification of audit shards against signed checkpoints, with only the public key: used by
 * `GET /api/v1/audit/verify` over D1 and by scripts/verify-audit.mjs over an export. Each
 * checkpoint is checked with the key it names (after a rotation, a retired key). Within a
 * shard an edited event breaks its hash, a deleted one the seq sequence, an inserted or reordered
 * one a link; a chain rewritten consistently, a cut-off tail or a lost checkpoint show against the
 * checkpoints, and events that no checkpoint covers yet make the answer `ok: false` too, since
 * nothing vouches for them.
 */
import type { JWK } from 'jose';
import { openCheckpoint, type CheckpointPayload } from './audit-checkpoint.ts';
import { chainHash, GENESIS_HASH, type ChainedAuditEvent } from './audit-format.ts';

export type VerifyFailure = 'sequence' | 'link' | 'hash' | 'checkpoint' | 'truncated' | 'uncovered' | 'forged_checkpoint';

export interface VerifyResult {
  ok: boolean;
  checked: number;
  /** The first event that does not fit (shards in order); for a cut-off tail, the checkpointed event that is gone. */
  firstBadId: string | null;
  reason: VerifyFailure | null;
  /** The shard of `firstBadId`. */
  shard: number | null;
  /** Events after the newest checkpoint of their shard. */
  uncovered: number;
  /** Checkpoints read (all of them are checked). */
  checkpoints: number;
  /** The storage key of a checkpoint that fails its signature or its Merkle root. */
  badCheckpoint: string | null;
  newestCheckpoint: { id: string; writtenAt: string; root: string } | null;
}

export interface StoredCheckpoint {
  key: string;
  jws: unknown;
}

export interface LedgerSource {
  /** Every key a checkpoint may name (the current and the retired ones); each checkpoint is opened with the key its `kid` names. */
  publicKeys: readonly JWK[];
  checkpoints: StoredCheckpoint[];
  /** Shards to check (every configured shard, plus any that holds events or appears in a checkpoint). */
  shards: number[];
  /** A shard's events in seq order, from `fromSeq`, a page at a time (one await per page, not per event). */
  pages(shard: number): AsyncIterable<readonly ChainedAuditEvent[]>;
  /** Where each shard's range starts (1 for the whole chain); a later start trusts its first event's link. */
  fromSeq?(shard: number): number;
  /** The source holds `shards` only (an export of some shards): checkpoint heads of the others are not checked. */
  partial?: boolean;
}

interface Expected {
  hash: string;
  id: string | null;
}

/** Check every shard against every checkpoint. */
export async function verifyLedger(source: LedgerSource): Promise<VerifyResult> {
  const opened: CheckpointPayload[] = [];
  const result: VerifyResult = { ok: true, checked: 0, firstBadId: null, reason: null, shard: null, uncovered: 0, checkpoints: source.checkpoints.length, badCheckpoint: null, newestCheckpoint: null };
  for (const stored of source.checkpoints) {
    const outcome = await openCheckpoint(stored.jws, source.publicKeys);
    if ('defect' in outcome) return { ...result, ok: false, reason: 'forged_checkpoint', badCheckpoint: stored.key };
    opened.push(outcome.payload);
  }
  const newest = opened.reduce<CheckpointPayload | null>((a, b) => (!a || b.writtenAt > a.writtenAt ? b : a), null);
  result.newestCheckpoint = newest ? { id: newest.id, writtenAt: newest.writtenAt, root: newest.root } : null;

  const expected = new Map<number, Map<number, Expected>>();
  for (const checkpoint of opened) {
    for (const head of checkpoint.heads) {
      if (head.seq === 0) continue;
      const perShard = expected.get(head.shard) ?? new Map<number, Expected>();
      const seen = perShard.get(head.seq);
      // Two checkpoints that disagree on one place: no chain can match both, so keep either.
      if (!seen) perShard.set(head.seq, { hash: head.hash, id: head.id });
      expected.set(head.shard, perShard);
    }
  }
  const shards = [...new Set(source.partial ? source.shards : [...source.shards, ...expected.keys()])].sort((a, b) => a - b);
  let failed = false;
  const fail = (shard: number, id: string | null, reason: VerifyFailure) => {
    failed = true;
    Object.assign(result, { ok: false, firstBadId: id, reason, shard });
  };
  for (const shard of shards) {
    const pins = expected.get(shard) ?? new Map<number, Expected>();
    const covered = Math.max(0, ...pins.keys());
    const fromSeq = source.fromSeq?.(shard) ?? 1;
    let lastSeq = fromSeq - 1;
    let prev: string | null = fromSeq === 1 ? GENESIS_HASH : null;
    let firstUncovered: string | null = null;
    for await (const page of source.pages(shard)) {
      for (const event of page) {
        if (failed) break;
        result.checked++;
        if (prev === null) {
          // A range that starts mid-chain: its first link is taken as given, and checked against a checkpoint there.
          prev = event.prevHash;
          const pin = pins.get(lastSeq);
          if (pin && pin.hash !== prev) fail(shard, event.id, 'checkpoint');
        }
        if (failed) break;
        if (event.seq !== lastSeq + 1) fail(shard, event.id, 'sequence');
        else if (event.prevHash !== prev) fail(shard, event.id, 'link');
        else {
          const hash = chainHash(prev, event);
          const pin = pins.get(event.seq);
          if (event.hash !== hash) fail(shard, event.id, 'hash');
          else if (pin && (pin.hash !== hash || pin.id !== event.id)) fail(shard, event.id, 'checkpoint');
          prev = hash;
        }
        lastSeq = event.seq;
        if (event.seq > covered) {
          result.uncovered++;
          firstUncovered ??= event.id;
        }
      }
      if (failed) break;
    }
    if (failed) break;
    if (covered > lastSeq) {
      const missing = [...pins.entries()].filter(([seq]) => seq > lastSeq).sort(([a], [b]) => a - b)[0]!;
      fail(shard, missing[1].id, 'truncated');
      break;
    }
    if (firstUncovered && result.reason === null) Object.assign(result, { ok: false, firstBadId: firstUncovered, reason: 'uncovered', shard });
  }
  return result;
}
