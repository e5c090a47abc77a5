/**
 * The sharded audit chains: appends under concurrency land once each in contiguous chains;
 * a hand-over sent twice, or a sequencer that died mid-way, loses and doubles nothing; and
 * verification against Ed25519-signed Merkle checkpoints names an edited, deleted, inserted or
 * reordered event, a cut-off tail, a chain rewritten with recomputed hashes, lost checkpoints, a
 * checkpoint signed with another key, and events no checkpoint covers yet. Every tampering test
 * puts D1 and storage back as they were and checks the log verifies again.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { flattenedVerify, importJWK, type FlattenedJWS } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auditPublicKeys, auditSigner, signCheckpoint } from '../../src/compliance/audit-checkpoint';
import { canonicalEventJson, canonicalJson, chainHash, GENESIS_HASH, hashedFields, merkleRoot, merkleTreeHash, type ChainedAuditEvent } from '../../src/compliance/audit-format';
import { auditPage, CHECKPOINT_PREFIX, exportAuditLog, readCheckpoints, verifyAuditLog, writeAuditCheckpoint } from '../../src/compliance/audit-ledger';
import { appendAudit, deliverAudit, newAuditEvent, type AuditInput } from '../../src/compliance/audit-log';
import type { VerifyResult } from '../../src/compliance/audit-verifier';
import { insertAuditEvents } from '../../src/db/audit';
import { getConfig, parseConfig } from '../../src/config';
import { createDb } from '../../src/context';
import { base64UrlToBytes, bytesToBase64 } from '../../src/encoding';
import { createBlobStore } from '../../src/storage/select';
import { allShards, settleAudit, testLedger } from '../support/audit';
import { as, call } from '../support/auth';
import { TEST_SECRETS } from '../support/secrets';

const db = createDb(env.DB);
const store = createBlobStore(env, getConfig(env));
const deps = { db, store, ledger: testLedger, signingKey: TEST_SECRETS.AUDIT_SIGNING_KEY };
const COLUMNS = ['id', 'shard', 'seq', 'at', 'actor', 'actor_role', 'action', 'recording_id', 'subject_user_id', 'outcome', 'details', 'request_id', 'prev_hash', 'hash'] as const;
type Raw = Record<(typeof COLUMNS)[number], string | number | null>;
const insertSql = `insert into audit_events (${COLUMNS.join(',')}) values (${COLUMNS.map(() => '?').join(',')})`;

/** Record one event in `shard` (requests and appendAudit choose their shard themselves). */
async function appendTo(shard: number, input: AuditInput) {
  const event = newAuditEvent(input);
  await deliverAudit(testLedger, [event], shard);
  return event;
}

/**
 * The test ledger with every append RPC's event count recorded; with `hangFirst`, the first RPC is
 * made but its answer never comes back (as for a request the runtime cancelled).
 */
function countingLedger(options: { hangFirst?: boolean } = {}) {
  const appends: number[] = [];
  const sequencers = {
    getByName(name: string) {
      const stub = testLedger.sequencers.getByName(name);
      return {
        append(shard: number, events: ChainedAuditEvent[]) {
          appends.push(events.length);
          const answer = stub.append(shard, events);
          return options.hangFirst && appends.length === 1 ? new Promise<never>(() => undefined) : answer;
        },
      };
    },
  };
  return { ledger: { ...testLedger, sequencers: sequencers as unknown as typeof testLedger.sequencers }, appends };
}

/** What a sequencer holds (inbox and chain), as events. */
async function heldBy(shard: number): Promise<ChainedAuditEvent[]> {
  return runInDurableObject(testLedger.sequencers.getByName(`shard-${shard}`), (_instance, state) =>
    state.storage.sql
      .exec<{ body: string }>('select body from inbox union all select body from chain')
      .toArray()
      .map((r) => JSON.parse(r.body) as ChainedAuditEvent),
  );
}

const TAMPER_SHARD = 5;

async function rows(shard?: number): Promise<Raw[]> {
  const where = shard === undefined ? '' : 'where shard = ?';
  const statement = env.DB.prepare(`select * from audit_events ${where} order by shard, seq`);
  return (await (shard === undefined ? statement : statement.bind(shard)).all<Raw>()).results;
}

async function restore(snapshot: Raw[]): Promise<void> {
  await env.DB.batch([env.DB.prepare('delete from audit_events'), ...snapshot.map((r) => env.DB.prepare(insertSql).bind(...COLUMNS.map((c) => r[c])))]);
}

async function checkpointObjects(): Promise<{ key: string; bytes: Uint8Array }[]> {
  return Promise.all(
    (await readCheckpoints(store)).map(async ({ key }) => ({ key, bytes: new Uint8Array(await new Response((await store.get(key))!.body).arrayBuffer()) })),
  );
}

/** Run `mutate`, hand back what GET /audit/verify says, then put D1 and the checkpoints back. */
async function tamper(mutate: (chain: Raw[]) => Promise<void>): Promise<{ result: VerifyResult; chain: Raw[] }> {
  await settleAudit();
  const all = await rows();
  const checkpoints = await checkpointObjects();
  try {
    await mutate(await rows(TAMPER_SHARD));
    const res = await call('/api/v1/audit/verify', { headers: await as('tamper-auditor', 'auditor') });
    expect(res.status).toBe(200);
    return { result: (await res.json()) as VerifyResult, chain: await rows(TAMPER_SHARD) };
  } finally {
    await settleAudit();
    // The verify request's own event is kept. Its shard is the isolate's of the moment: in the
    // tampered one, D1 may have skipped it (a moved row held its seq), so there it comes from the
    // sequencer's chain, which has every event it chained after the snapshot.
    const tamperedHead = Math.max(0, ...all.filter((r) => r.shard === TAMPER_SHARD).map((r) => Number(r.seq)));
    const chainedSince = (await heldBy(TAMPER_SHARD)).filter((e) => e.seq > tamperedHead && !all.some((a) => a.id === e.id));
    const added = (await rows()).filter((r) => r.action === 'audit.verify' && r.shard !== TAMPER_SHARD && !all.some((a) => a.id === r.id));
    await restore([...all, ...added]);
    await insertAuditEvents(db, chainedSince);
    for (const { key } of await readCheckpoints(store)) if (!checkpoints.some((c) => c.key === key)) await store.delete(key);
    for (const { key, bytes } of checkpoints) await store.putBytes(key, bytes, 'application/json');
  }
}

const verifyNow = () => verifyAuditLog(deps);

beforeAll(async () => {
  for (let i = 0; i < 12; i++) {
    await appendTo(TAMPER_SHARD, { actor: `user-${i % 3}`, action: 'recording.read', recordingId: `rec_${i}`, outcome: 'success', details: { i, nested: { b: 1, a: [1, 2] } } });
  }
  await settleAudit();
  await writeAuditCheckpoint(deps);
});

afterEach(async () => {
  await settleAudit();
  await writeAuditCheckpoint(deps);
  expect(await verifyNow()).toMatchObject({ ok: true, firstBadId: null, uncovered: 0 });
});

describe('appends', () => {
  it('100 concurrent appends land once each, every shard chain contiguous from seq 1, and verify once checkpointed', async () => {
    const before = (await rows()).length;
    const appended = await Promise.all(Array.from({ length: 100 }, (_, i) => appendAudit(testLedger, { actor: `concurrent-${i}`, action: 'probe.concurrent', outcome: 'success', details: { i } })));
    await settleAudit();
    const chain = await rows();
    expect(chain.length).toBe(before + 100);
    expect(new Set(appended.map((e) => e.id)).size).toBe(100);
    const byShard = new Map<number, number[]>();
    for (const r of chain) byShard.set(Number(r.shard), [...(byShard.get(Number(r.shard)) ?? []), Number(r.seq)]);
    for (const seqs of byShard.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const uncheckpointed = await verifyNow();
    expect(uncheckpointed).toMatchObject({ ok: false, reason: 'uncovered', uncovered: 100 });
    await writeAuditCheckpoint(deps);
    expect(await verifyNow()).toMatchObject({ ok: true, checked: before + 100, firstBadId: null, reason: null, uncovered: 0 });
  });

  it('concurrent hand-overs to one shard share their RPCs, and each caller resolves only once its own events are stored', async () => {
    const shard = 4;
    const { ledger, appends } = countingLedger();
    const events = Array.from({ length: 50 }, (_, i) => newAuditEvent({ actor: `grouped-${i}`, action: 'probe.grouped', outcome: 'success' }));
    const stored = await Promise.all(
      events.map(async (event) => {
        await deliverAudit(ledger, [event], shard);
        return (await heldBy(shard)).some((held) => held.id === event.id);
      }),
    );
    expect(stored).toEqual(Array(50).fill(true));
    // The first goes at once; the 49 that came while it was in flight go together in the next.
    expect(appends).toEqual([1, 49]);
    await settleAudit();
    expect((await rows(shard)).filter((r) => r.action === 'probe.grouped')).toHaveLength(50);
  });

  it('a hand-over that is never answered (its request cancelled) is taken over by a waiting caller, once', async () => {
    const shard = 6;
    const { ledger, appends } = countingLedger({ hangFirst: true });
    const events = Array.from({ length: 10 }, (_, i) => newAuditEvent({ actor: `orphaned-${i}`, action: 'probe.orphaned', outcome: 'success' }));
    const [first, ...rest] = events;
    void deliverAudit(ledger, [first!], shard);
    const started = Date.now();
    await Promise.all(rest.map((event) => deliverAudit(ledger, [event], shard)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    // The hung one (sent, never answered) and one take-over that carries the nine that waited.
    expect(appends).toEqual([1, 9]);
    await settleAudit();
    expect((await rows(shard)).filter((r) => r.action === 'probe.orphaned')).toHaveLength(10);
  });

  it('a page, a verification and an export each see every event accepted just before them, with nothing settled first', async () => {
    await writeAuditCheckpoint(deps);
    // Held by their sequencers, not yet in D1 (a flush is 250 ms away).
    const events = await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(testLedger, { actor: `reader-${i}`, action: 'probe.reader', outcome: 'success', requestId: `reader-${i}` })));
    const ids = events.map((e) => e.id).sort();
    const page = (await auditPage(deps, { action: 'probe.reader' }, undefined, 100)).items;
    expect(page.map((r) => r.id).sort()).toEqual(ids);

    const more = await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(testLedger, { actor: `verify-${i}`, action: 'probe.reader', outcome: 'success', requestId: `verify-${i}` })));
    expect(await verifyNow()).toMatchObject({ ok: false, reason: 'uncovered', uncovered: events.length + more.length });

    const exported = await Promise.all(Array.from({ length: 20 }, (_, i) => appendAudit(testLedger, { actor: `export-${i}`, action: 'probe.reader', outcome: 'success', requestId: `export-${i}` })));
    const text = await new Response(exportAuditLog(deps, { fromSeq: 1, throughCheckpoint: false })).text();
    const inExport = new Set(text.trim().split('\n').map((line) => (JSON.parse(line) as { id?: string }).id));
    for (const event of [...events, ...more, ...exported]) expect(inExport.has(event.id), event.id).toBe(true);
  });

  it('100 concurrent audited requests: each event shows in GET /audit within 5 s', async () => {
    const responses = await Promise.all(Array.from({ length: 100 }, async (_, i) => call('/api/v1/gdpr/consent', { headers: await as(`chain-user-${i}`) })));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const started = Date.now();
    const auditor = await as('chain-auditor', 'auditor');
    for (;;) {
      const body = (await (await call('/api/v1/audit?action=gdpr.consent.read&limit=500', { headers: auditor })).json()) as { items: { actor: string }[] };
      if (body.items.filter((e) => e.actor.startsWith('chain-user-')).length === 100) break;
      expect(Date.now() - started).toBeLessThan(5000);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('a request answers only once its event is stored in its sequencer (not after the response, where a dying isolate would lose it)', async () => {
    for (let i = 0; i < 5; i++) {
      const requestId = `durable-${crypto.randomUUID()}`;
      const res = await call('/api/v1/gdpr/consent', { headers: { ...(await as('durable-user')), 'x-request-id': requestId } });
      expect(res.status).toBe(200);
      // Read the sequencers' own storage at the moment the response is in: the event is in one of them (inbox or chain).
      const held = (await Promise.all(allShards.map(heldBy))).flat().filter((e) => e.requestId === requestId);
      expect(held).toEqual([expect.objectContaining({ requestId, action: 'gdpr.consent.read' })]);
    }
  });

  it('the client does not choose the shard: concurrent requests share the isolate\'s shard of the moment, whatever X-Request-ID they send', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `client-chosen-${i}-${crypto.randomUUID()}`);
    const responses = await Promise.all(ids.map(async (id) => call('/api/v1/gdpr/consent', { headers: { ...(await as('steering-user')), 'x-request-id': id } })));
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
    const heldIn = (await Promise.all(allShards.map(async (shard) => (await heldBy(shard)).filter((e) => ids.includes(String(e.requestId))).map(() => shard)))).flat();
    expect(heldIn).toHaveLength(12);
    // One shard, or two when the isolate drew a new one (once a second) while they ran.
    expect(new Set(heldIn).size).toBeLessThanOrEqual(2);
  });

  it('a request whose sequencer cannot store its event answers 503 and serves nothing; the event lands once the sequencer is back', async () => {
    await settleAudit();
    const requestId = `refused-${crypto.randomUUID()}`;
    // Sequencers that refuse every append (their inbox is gone), whichever shard the request draws.
    const renameInbox = (from: string, to: string) =>
      Promise.all(allShards.map((shard) => runInDurableObject(testLedger.sequencers.getByName(`shard-${shard}`), (_instance, state) => void state.storage.sql.exec(`alter table ${from} rename to ${to}`))));
    await renameInbox('inbox', 'inbox_refused');
    let res: Response;
    try {
      res = await call('/api/v1/gdpr/consent', { headers: { ...(await as('refused-user')), 'x-request-id': requestId } });
    } finally {
      await renameInbox('inbox_refused', 'inbox');
    }
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({ error: { code: 'service_unavailable', message: 'The audit log is unavailable; try again' } });
    // The background retry brings the event in (the log over-reports, never under-reports).
    const started = Date.now();
    for (;;) {
      await settleAudit();
      const found = (await rows()).filter((r) => r.request_id === requestId);
      if (found.length === 1) break;
      expect(found.length).toBe(0);
      expect(Date.now() - started).toBeLessThan(8000);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });

  it('an event handed over twice (a retried hand-over) is chained once', async () => {
    const event = newAuditEvent({ actor: 'twice', action: 'probe.twice', outcome: 'success' });
    const stub = testLedger.sequencers.getByName('shard-3');
    expect(await Promise.all([stub.append(3, [event]), stub.append(3, [event])])).toEqual(expect.arrayContaining([1, 0]));
    await settleAudit();
    expect(await stub.append(3, [event])).toBe(0);
    await settleAudit();
    expect((await rows()).filter((r) => r.id === event.id)).toHaveLength(1);
  });

  it('a sequencer that died after storing events, after chaining them, or after writing them, finishes on its alarm, each event once', async () => {
    await settleAudit();
    const shard = 7;
    const stub = testLedger.sequencers.getByName(`shard-${shard}`);
    await stub.flushedHead(shard);
    const [stored, chained, written] = ['stored', 'chained', 'written'].map((stage) => newAuditEvent({ actor: `died-${stage}`, action: 'probe.crash', outcome: 'success' }));
    await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      const head = sql.exec<{ seq: number; hash: string }>('select seq, hash from chain order by seq desc limit 1').toArray()[0] ?? { seq: 0, hash: GENESIS_HASH };
      // Died after writing to D1 but before marking; then after chaining but before D1.
      const first: ChainedAuditEvent = { ...written!, shard, seq: head.seq + 1, prevHash: head.hash, hash: '' };
      first.hash = await chainHash(first.prevHash, first);
      const second: ChainedAuditEvent = { ...chained!, shard, seq: head.seq + 2, prevHash: first.hash, hash: '' };
      second.hash = await chainHash(second.prevHash, second);
      await env.DB.prepare(insertSql).bind(...[first.id, shard, first.seq, first.at, first.actor, null, first.action, null, null, first.outcome, null, null, first.prevHash, first.hash]).run();
      for (const e of [first, second]) sql.exec('insert into chain (seq, id, hash, body, written, sequenced_at) values (?, ?, ?, ?, 0, ?)', e.seq, e.id, e.hash, JSON.stringify(e), Date.now());
      // Died after accepting the third, before chaining it.
      sql.exec('insert into inbox (id, body, received) values (?, ?, ?)', stored!.id, JSON.stringify(stored), Date.now());
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const shardRows = await rows(shard);
    for (const e of [written, chained, stored]) expect(shardRows.filter((r) => r.id === e!.id)).toHaveLength(1);
    expect(shardRows.map((r) => Number(r.seq))).toEqual(shardRows.map((_, i) => i + 1));
  });
});

describe('verification names the first bad event', () => {
  it('an edited event (details or actor)', async () => {
    const edited = await tamper(async (chain) => {
      await env.DB.prepare('update audit_events set details = ? where id = ?').bind(JSON.stringify({ i: 999 }), chain[4]!.id).run();
    });
    expect(edited.result).toMatchObject({ ok: false, firstBadId: edited.chain[4]!.id, reason: 'hash', shard: TAMPER_SHARD });
    const actor = await tamper(async (chain) => {
      await env.DB.prepare('update audit_events set actor = ? where id = ?').bind('someone-else', chain[6]!.id).run();
    });
    expect(actor.result).toMatchObject({ ok: false, firstBadId: actor.chain[6]!.id, reason: 'hash' });
  });

  it('a deleted event: the one after it is named, whether or not the seqs were closed up', async () => {
    let after = '';
    const deleted = await tamper(async (chain) => {
      after = String(chain[4]!.id);
      await env.DB.prepare('delete from audit_events where id = ?').bind(chain[3]!.id).run();
    });
    expect(deleted.result).toMatchObject({ ok: false, firstBadId: after, reason: 'sequence' });
    const renumbered = await tamper(async (chain) => {
      after = String(chain[4]!.id);
      await env.DB.batch([
        env.DB.prepare('delete from audit_events where id = ?').bind(chain[3]!.id),
        env.DB.prepare('update audit_events set seq = -seq where shard = ? and seq > ?').bind(TAMPER_SHARD, chain[3]!.seq),
        env.DB.prepare('update audit_events set seq = -seq - 1 where shard = ? and seq < 0').bind(TAMPER_SHARD),
      ]);
    });
    expect(renumbered.result).toMatchObject({ ok: false, firstBadId: after, reason: 'link' });
  });

  it('two reordered events: the one moved earlier is named', async () => {
    let moved = '';
    const { result } = await tamper(async (chain) => {
      const [a, b] = [chain[5]!, chain[6]!];
      moved = String(b.id);
      await env.DB.batch([
        env.DB.prepare('update audit_events set seq = -1 where id = ?').bind(a.id),
        env.DB.prepare('update audit_events set seq = ? where id = ?').bind(a.seq, b.id),
        env.DB.prepare('update audit_events set seq = ? where id = ?').bind(b.seq, a.id),
      ]);
    });
    expect(result).toMatchObject({ ok: false, firstBadId: moved, reason: 'link' });
  });

  it('an inserted event, with a made-up hash or with a correct hash over a copied link', async () => {
    let forgedId = '';
    const insertAt = async (chain: Raw[], correctHash: boolean) => {
      const at = chain[2]!;
      await env.DB.batch([
        env.DB.prepare('update audit_events set seq = -seq where shard = ? and seq >= ?').bind(TAMPER_SHARD, at.seq),
        env.DB.prepare('update audit_events set seq = -seq + 1 where shard = ? and seq < 0').bind(TAMPER_SHARD),
      ]);
      const row = { ...at, id: crypto.randomUUID(), actor: 'intruder', hash: 'e'.repeat(64) };
      if (correctHash) row.hash = await chainHash(String(row.prev_hash), { ...newAuditEvent({ actor: 'intruder', action: String(at.action), outcome: 'success' }), id: String(row.id), at: String(at.at), shard: TAMPER_SHARD, seq: Number(at.seq) });
      await env.DB.prepare(insertSql).bind(...COLUMNS.map((c) => row[c])).run();
      forgedId = String(row.id);
    };
    const madeUp = await tamper((chain) => insertAt(chain, false));
    expect(madeUp.result).toMatchObject({ ok: false, firstBadId: forgedId, reason: 'hash' });
    const copiedLink = await tamper((chain) => insertAt(chain, true));
    expect(copiedLink.result.ok).toBe(false);
    expect(['hash', 'link']).toContain(copiedLink.result.reason);
  });

  it('a cut-off tail, which the chain alone cannot show: the first checkpointed event gone is named', async () => {
    let gone: string[] = [];
    const { result } = await tamper(async (chain) => {
      gone = chain.slice(-3).map((r) => String(r.id));
      await env.DB.prepare('delete from audit_events where shard = ? and seq >= ?').bind(TAMPER_SHARD, chain[chain.length - 3]!.seq).run();
    });
    expect(result).toMatchObject({ ok: false, reason: 'truncated', shard: TAMPER_SHARD });
    // The newest checkpoint pins the head; an older one may pin an earlier event of the cut.
    expect(gone).toContain(result.firstBadId);
  });

  it('a chain rewritten with every hash recomputed (no secret needed) differs from the signed checkpoint', async () => {
    let edited = '';
    const { result } = await tamper(async () => {
      const events: ChainedAuditEvent[] = (await db.query.auditEvents.findMany({ where: (t, { eq }) => eq(t.shard, TAMPER_SHARD), orderBy: (t, { asc }) => asc(t.seq) })).map((e) => ({ ...e, details: e.details ?? null }));
      events[2]!.details = { rewritten: true };
      edited = events[2]!.id;
      let prev = events[1]!.hash;
      const updates = [];
      for (const e of events.slice(2)) {
        const hash = await chainHash(prev, e);
        updates.push(env.DB.prepare('update audit_events set details = ?, prev_hash = ?, hash = ? where id = ?').bind(JSON.stringify(e.details), prev, hash, e.id));
        prev = hash;
      }
      await env.DB.batch(updates);
    });
    expect(result).toMatchObject({ ok: false, reason: 'checkpoint', shard: TAMPER_SHARD });
    expect(result.firstBadId).not.toBe(edited);
  });

  it('every checkpoint deleted: the events are uncovered, and the first is named', async () => {
    await settleAudit();
    const firstShard = Math.min(...(await rows()).map((r) => Number(r.shard)));
    const { result } = await tamper(async () => {
      for (const { key } of await readCheckpoints(store)) await store.delete(key);
    });
    expect(result).toMatchObject({ ok: false, reason: 'uncovered', checkpoints: 0, shard: firstShard });
    expect(result.uncovered).toBeGreaterThan(0);
    expect(result.firstBadId).toBeTruthy();
  });

  it('a checkpoint signed with another Ed25519 key is named, even when its heads are true', async () => {
    expect((await verifyNow()).newestCheckpoint).not.toBeNull();
    const { result } = await tamper(async () => {
      const otherKey = bytesToBase64(crypto.getRandomValues(new Uint8Array(32)));
      const [newest] = await readCheckpoints(store);
      const payload = JSON.parse(new TextDecoder().decode(base64UrlToBytes(String((newest!.jws as FlattenedJWS).payload)))) as { heads: never[] };
      const { jws } = await signCheckpoint(await auditSigner(otherKey), payload.heads, 'forged', new Date().toISOString());
      await store.putBytes(`${CHECKPOINT_PREFIX}0000000000000000-forged.json`, new TextEncoder().encode(JSON.stringify(jws)), 'application/json');
    });
    expect(result).toMatchObject({ ok: false, reason: 'forged_checkpoint', badCheckpoint: `${CHECKPOINT_PREFIX}0000000000000000-forged.json`, firstBadId: null });
  });

  it('events after the newest checkpoint make the answer ok: false (uncovered) until the next checkpoint', async () => {
    await settleAudit();
    await writeAuditCheckpoint(deps);
    const event = await appendTo(2, { actor: 'late', action: 'probe.late', outcome: 'success' });
    await settleAudit();
    expect(await verifyNow()).toMatchObject({ ok: false, reason: 'uncovered', uncovered: 1, firstBadId: event.id, shard: 2 });
    const res = await call('/api/v1/audit/checkpoints', { method: 'POST', headers: await as('cp-admin', 'admin') });
    expect(res.status).toBe(201);
    expect(await verifyNow()).toMatchObject({ ok: true });
  });
});

describe('checkpoints', () => {
  it('are an Ed25519 JWS over the RFC 6962 root of every shard head, opened with GET /audit/public-key', async () => {
    const res = await call('/api/v1/audit/checkpoints', { method: 'POST', headers: await as('cp-admin', 'admin') });
    const written = (await res.json()) as { key: string; root: string; heads: { shard: number; seq: number }[] };
    expect(written.heads.map((h) => h.shard)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(written.root).toBe(await merkleRoot(written.heads as never));
    const keys = (await (await call('/api/v1/audit/public-key')).json()) as { keys: { kty: string; crv: string; x: string; kid: string }[] };
    expect(keys.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    const jws = (await readCheckpoints(store)).find((c) => c.key === written.key)!.jws as FlattenedJWS;
    const opened = await flattenedVerify(jws, await importJWK(keys.keys[0]!, 'EdDSA'));
    expect(opened.protectedHeader).toMatchObject({ alg: 'EdDSA', kid: keys.keys[0]!.kid });
    expect(JSON.parse(new TextDecoder().decode(opened.payload))).toMatchObject({ root: written.root });
  });

  it('the fast event JSON is the canonical JSON of the hashed fields, byte for byte', () => {
    const base = newAuditEvent({ actor: 'a"\\ü\u2028', action: 'x.y', outcome: 'denied', details: { z: 1, a: [{ y: null, b: 'é' }], m: { q: true } }, recordingId: 'rec_1', requestId: 'req-1', subjectUserId: 'u' });
    const events = [
      { ...base, shard: 3, seq: 17 },
      { ...base, shard: 0, seq: 1, details: null, actorRole: null, recordingId: null, subjectUserId: null, requestId: null },
      { ...base, shard: 15, seq: 2 ** 40, actorRole: undefined as unknown as null, details: {} },
      { ...base, shard: 1, seq: 5, id: undefined as unknown as string },
    ];
    for (const event of events) expect(canonicalEventJson(event)).toBe(canonicalJson(hashedFields(event)));
  });

  it('the Merkle tree hash matches the RFC 6962 reference vectors (certificate-transparency)', async () => {
    const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
    const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    expect(await merkleTreeHash([])).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let n = 1; n <= 8; n++) expect(await merkleTreeHash(leaves.slice(0, n))).toBe(roots[n - 1]);
  });

  it('after a key rotation, old checkpoints verify with the retired key they name, new ones with the new key; a key not listed is forged', async () => {
    await settleAudit();
    const oldKey = await auditSigner(TEST_SECRETS.AUDIT_SIGNING_KEY);
    const rotated = { ...deps, signingKey: btoa('rotated-audit-signing-seed-32byt'), previousKeys: [oldKey.publicJwk.x!] };
    const { key } = await writeAuditCheckpoint(rotated);
    try {
      const jws = (await readCheckpoints(store)).find((c) => c.key === key)!.jws as FlattenedJWS;
      const keys = await auditPublicKeys(rotated.signingKey, rotated.previousKeys);
      expect(keys.map((k) => k.kid)).toEqual([(await auditSigner(rotated.signingKey)).publicJwk.kid, oldKey.publicJwk.kid]);
      expect(JSON.parse(new TextDecoder().decode(base64UrlToBytes(jws.protected!)))).toMatchObject({ kid: keys[0]!.kid });
      const both = await verifyAuditLog(rotated);
      expect(both).toMatchObject({ ok: true, reason: null });
      expect(both.checkpoints).toBeGreaterThan(1);
      // Without the retired key listed, the checkpoints it signed name a key nobody vouches for.
      expect(await verifyAuditLog({ ...rotated, previousKeys: [] })).toMatchObject({ ok: false, reason: 'forged_checkpoint' });
      // And the old key alone does not accept the new key's checkpoint.
      expect(await verifyNow()).toMatchObject({ ok: false, reason: 'forged_checkpoint', badCheckpoint: key });
    } finally {
      await store.delete(key);
    }
  });

  it('AUDIT_SIGNING_KEYS_PREVIOUS takes base64url Ed25519 public keys only', async () => {
    const x = (await auditSigner(TEST_SECRETS.AUDIT_SIGNING_KEY)).publicJwk.x!;
    expect(parseConfig({ ...TEST_SECRETS, ENVIRONMENT: 'test', AUDIT_SIGNING_KEYS_PREVIOUS: ` ${x} , ${x}` }).AUDIT_SIGNING_KEYS_PREVIOUS).toEqual([x, x]);
    expect(parseConfig({ ...TEST_SECRETS, ENVIRONMENT: 'test' }).AUDIT_SIGNING_KEYS_PREVIOUS).toEqual([]);
    expect(() => parseConfig({ ...TEST_SECRETS, ENVIRONMENT: 'test', AUDIT_SIGNING_KEYS_PREVIOUS: TEST_SECRETS.AUDIT_SIGNING_KEY })).toThrow(/AUDIT_SIGNING_KEYS_PREVIOUS/);
  });

  it('the signing key is not the master key: another AUDIT_SIGNING_KEY gives another public key, whatever the master key', async () => {
    const a = await auditSigner(TEST_SECRETS.AUDIT_SIGNING_KEY);
    const b = await auditSigner(btoa('another-audit-signing-seed-32byt'));
    expect(a.publicJwk.x).not.toBe(b.publicJwk.x);
  });
});

describe('GET /audit', () => {
  it("filters a user's events (what they did and what was done to their data) and pages with a cursor", async () => {
    await appendAudit(testLedger, { actor: 'filter-user', action: 'recording.read', outcome: 'success' });
    await appendAudit(testLedger, { actor: 'filter-admin', action: 'gdpr.export', subjectUserId: 'filter-user', outcome: 'success' });
    await appendAudit(testLedger, { actor: 'filter-other', action: 'recording.read', outcome: 'success' });
    await settleAudit();
    const auditor = await as('filter-auditor', 'auditor');
    const first = (await (await call('/api/v1/audit?userId=filter-user&limit=1', { headers: auditor })).json()) as { items: { actor: string; action: string }[]; nextCursor: string };
    expect(first.nextCursor).toBeTruthy();
    const second = (await (await call(`/api/v1/audit?userId=filter-user&limit=1&cursor=${first.nextCursor}`, { headers: auditor })).json()) as { items: { actor: string; action: string }[]; nextCursor: string | null };
    expect([...first.items, ...second.items].map((e) => `${e.actor}:${e.action}`).sort()).toEqual(['filter-admin:gdpr.export', 'filter-user:recording.read']);
    expect(second.nextCursor).toBeNull();
    expect((await call('/api/v1/audit', { headers: await as('filter-user') })).status).toBe(403);
    expect((await call('/api/v1/audit?cursor=bm90LWEtY3Vyc29y', { headers: auditor })).status).toBe(400);
  });
});
