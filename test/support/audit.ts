/** Waiting for the audit log in workers tests: events reach D1 a moment after their request answers. */
import { env } from 'cloudflare:test';
import { auditLedger, flushedHeads } from '../../src/compliance/audit-log';
import { getConfig } from '../../src/config';

export const testLedger = auditLedger(env, getConfig(env));
export const allShards = Array.from({ length: testLedger.shards }, (_, i) => i);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolve once every event handed over so far is in D1: each sequencer writes what it holds, and
 * that repeats until two rounds 50 ms apart see the same heads (no hand-over still in flight).
 */
export async function settleAudit(): Promise<void> {
  let before = JSON.stringify(await flushedHeads(testLedger, allShards));
  for (let round = 0; round < 100; round++) {
    await sleep(50);
    const after = JSON.stringify(await flushedHeads(testLedger, allShards));
    if (after === before) return;
    before = after;
  }
  throw new Error('audit log did not settle within 5 s');
}
