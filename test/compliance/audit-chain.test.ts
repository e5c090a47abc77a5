/**
 * The audit chain under concurrency (over a D1 slowed to production-like latency) and against
 * tampering: an edited, deleted, inserted, reordered or forged row, a cut-off tail and a chain
 * rewritten by someone holding the key are each named by verification. Every tampering test puts
 * the table back as it was, and checks the chain verifies again.
 */
import { env } from 'cloudflare:test';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, computeAuditHash, verifyAuditChain, writeAuditCheckpoint, type VerifyResult } from '../../src/compliance/audit-chain';
import { getConfig } from '../../src/config';
import { createDb } from '../../src/context';
import { deriveHmacKey } from '../../src/crypto/derive';
import { createBlobStore } from '../../src/storage/select';
import { as, call } from '../support/auth';
import { TEST_SECRETS } from '../support/secrets';

const MASTER = TEST_SECRETS.MASTER_ENCRYPTION_KEY;
const db = createDb(env.DB);
const store = createBlobStore(env, getConfig(env));
const COLUMNS = ['id', 'seq', 'at', 'actor', 'actor_role', 'action', 'recording_id', 'subject_user_id', 'outcome', 'details', 'request_id', 'prev_hash', 'hash'] as const;
type Raw = Record<(typeof COLUMNS)[number], string | number | null>;

const UNWRAP = Symbol('unwrap');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * D1 as a Worker far from the database sees it: every query and batch takes `ms` longer, half
 * before and half after it runs. `failBatch` makes every batch (the sealing step) throw.
 */
function remoteD1(d1: D1Database, ms: number, options: { failBatch?: boolean } = {}): D1Database {
  const slow = <T>(run: () => Promise<T>) => (async () => {
    await sleep(ms / 2);
    const result = await run();
    await sleep(ms / 2);
    return result;
  })();
  const statement = (s: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(s, {
      get(target, prop) {
        if (prop === UNWRAP) return target;
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop === 'bind') return (...args: unknown[]) => statement(target.bind(...args));
        if (typeof value === 'function' && ['all', 'run', 'raw', 'first'].includes(String(prop))) {
          return (...args: unknown[]) => slow(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(d1, {
    get(target, prop) {
      if (prop === 'prepare') return (query: string) => statement(target.prepare(query));
      if (prop === 'batch') {
        return (statements: D1PreparedStatement[]) => {
          if (options.failBatch) return Promise.reject(new Error('the request died'));
          // Unwrap: D1 needs its own statement objects in a batch.
          return slow(() => target.batch(statements.map((s) => (s as unknown as Record<symbol, D1PreparedStatement>)[UNWRAP] ?? s)));
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function rows(): Promise<Raw[]> {
  return (await env.DB.prepare('select * from audit_events order by seq').all<Raw>()).results;
}

async function restore(snapshot: Raw[]): Promise<void> {
  const insert = `insert into audit_events (${COLUMNS.join(',')}) values (${COLUMNS.map(() => '?').join(',')})`;
  await env.DB.batch([env.DB.prepare('delete from audit_events'), ...snapshot.map((r) => env.DB.prepare(insert).bind(...COLUMNS.map((c) => r[c])))]);
}

const verify = (withCheckpoints = false): Promise<VerifyResult> => verifyAuditChain(db, MASTER, withCheckpoints ? store : undefined);

/** Run `mutate` on the table, hand back what verification says, then put the table back. */
async function tamper(mutate: (chain: Raw[]) => Promise<void>, withCheckpoints = false): Promise<{ result: VerifyResult; chain: Raw[] }> {
  const chain = await rows();
  try {
    await mutate(chain);
    return { result: await verify(withCheckpoints), chain };
  } finally {
    await restore(chain);
  }
}

beforeAll(async () => {
  for (let i = 0; i < 12; i++) {
    await appendAudit(db, MASTER, { actor: `user-${i % 3}`, action: 'recording.read', recordingId: `rec_${i}`, outcome: 'success', details: { i, nested: { b: 1, a: [1, 2] } } });
  }
});

afterEach(async () => {
  expect(await verify(true)).toMatchObject({ ok: true, firstBadId: null });
});

describe('appends under concurrency', () => {
  it('100 concurrent appends over a D1 with 20 ms a query all land in one chain, seqs contiguous', async () => {
    const slowDb = createDb(remoteD1(env.DB, 20));
    const before = (await rows()).length;
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => appendAudit(slowDb, MASTER, { actor: `concurrent-${i}`, action: 'probe.concurrent', outcome: 'success', details: { i } })),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const appended = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof appendAudit>>>).value);
    expect(appended.every((row) => /^[0-9a-f]{64}$/.test(row.hash))).toBe(true);
    expect(appended.map((row) => row.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => before + i + 1));
    const chain = await rows();
    expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: before + 100 }, (_, i) => i + 1));
    expect(await verify()).toEqual({ ok: true, checked: before + 100, firstBadId: null, reason: null, pending: 0, checkpoint: null });
  }, 120_000);

  it('100 concurrent audited requests leave one valid chain', async () => {
    const responses = await Promise.all(Array.from({ length: 100 }, async (_, i) => call('/api/v1/gdpr/consent', { headers: await as(`chain-user-${i}`) })));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    const reads = (await rows()).filter((r) => r.action === 'gdpr.consent.read');
    expect(reads.length).toBe(100);
    const res = await call('/api/v1/audit/verify', { headers: await as('chain-auditor', 'auditor') });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, firstBadId: null, pending: 0 });
  });

  it('an event whose request died before sealing is authenticated while pending, then sealed by the next append', async () => {
    await expect(appendAudit(createDb(remoteD1(env.DB, 0, { failBatch: true })), MASTER, { actor: 'dying', action: 'probe.dying', outcome: 'success' })).rejects.toThrow('the request died');
    const [stored] = (await rows()).slice(-1);
    expect(stored).toMatchObject({ actor: 'dying', hash: '' });
    expect(String(stored!.prev_hash)).toMatch(/^pending:[0-9a-f]{64}$/);
    expect(await verify()).toMatchObject({ ok: true, pending: 1 });
    await appendAudit(db, MASTER, { actor: 'next', action: 'probe.next', outcome: 'success' });
    expect(await verify()).toMatchObject({ ok: true, pending: 0 });
    const sealed = (await rows()).find((r) => r.id === stored!.id)!;
    expect(sealed.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('verification names the first bad event', () => {
  it('an edited row (details or actor), also through GET /audit/verify', async () => {
    const edited = await tamper(async (chain) => {
      await env.DB.prepare('update audit_events set details = ? where id = ?').bind(JSON.stringify({ i: 999, nested: { a: [1, 2], b: 1 } }), chain[4]!.id).run();
    });
    expect(edited.result).toMatchObject({ ok: false, firstBadId: edited.chain[4]!.id, reason: 'hash' });

    const chain = await rows();
    try {
      await env.DB.prepare('update audit_events set actor = ? where id = ?').bind('someone-else', chain[6]!.id).run();
      const res = await call('/api/v1/audit/verify', { headers: await as('chain-admin', 'admin') });
      expect(await res.json()).toMatchObject({ ok: false, firstBadId: chain[6]!.id, reason: 'hash' });
    } finally {
      await restore(chain);
    }
  });

  it('a deleted row: the one after it is named, whether or not the seqs were closed up', async () => {
    const deleted = await tamper(async (chain) => {
      await env.DB.prepare('delete from audit_events where id = ?').bind(chain[3]!.id).run();
    });
    expect(deleted.result).toMatchObject({ ok: false, firstBadId: deleted.chain[4]!.id, reason: 'sequence' });

    const renumbered = await tamper(async (chain) => {
      await env.DB.batch([
        env.DB.prepare('delete from audit_events where id = ?').bind(chain[3]!.id),
        env.DB.prepare('update audit_events set seq = -seq where seq > ?').bind(chain[3]!.seq),
        env.DB.prepare('update audit_events set seq = -seq - 1 where seq < 0'),
      ]);
    });
    expect(renumbered.result).toMatchObject({ ok: false, firstBadId: renumbered.chain[4]!.id, reason: 'link' });
  });

  it('two reordered rows: the one moved earlier is named', async () => {
    const { result, chain } = await tamper(async (chain) => {
      const [a, b] = [chain[5]!, chain[6]!];
      await env.DB.batch([
        env.DB.prepare('update audit_events set seq = -1 where id = ?').bind(a.id),
        env.DB.prepare('update audit_events set seq = ? where id = ?').bind(a.seq, b.id),
        env.DB.prepare('update audit_events set seq = ? where id = ?').bind(b.seq, a.id),
      ]);
    });
    expect(result).toMatchObject({ ok: false, firstBadId: chain[6]!.id, reason: 'link' });
  });

  it('an inserted row, with a made-up hash or a copied link', async () => {
    const insertAt = async (chain: Raw[], forged: Partial<Raw>) => {
      const at = chain[2]!;
      await env.DB.batch([
        env.DB.prepare('update audit_events set seq = -seq where seq >= ?').bind(at.seq),
        env.DB.prepare('update audit_events set seq = -seq + 1 where seq < 0'),
      ]);
      const row = { ...at, id: crypto.randomUUID(), actor: 'intruder', ...forged };
      await env.DB.prepare(`insert into audit_events (${COLUMNS.join(',')}) values (${COLUMNS.map(() => '?').join(',')})`).bind(...COLUMNS.map((c) => row[c])).run();
      return String(row.id);
    };
    let forgedId = '';
    const madeUp = await tamper(async (chain) => {
      forgedId = await insertAt(chain, { prev_hash: 'f'.repeat(64), hash: 'e'.repeat(64) });
    });
    expect(madeUp.result).toMatchObject({ ok: false, firstBadId: forgedId, reason: 'link' });
    const copiedLink = await tamper(async (chain) => {
      forgedId = await insertAt(chain, { hash: 'e'.repeat(64) });
    });
    expect(copiedLink.result).toMatchObject({ ok: false, firstBadId: forgedId, reason: 'hash' });
  });

  it('a forged pending row is named, and the service never seals it', async () => {
    const chain = await rows();
    try {
      const forged = { ...chain[chain.length - 1]!, id: crypto.randomUUID(), seq: chain.length + 1, actor: 'intruder', prev_hash: `pending:${'a'.repeat(64)}`, hash: '' };
      await env.DB.prepare(`insert into audit_events (${COLUMNS.join(',')}) values (${COLUMNS.map(() => '?').join(',')})`).bind(...COLUMNS.map((c) => forged[c])).run();
      const after = await appendAudit(db, MASTER, { actor: 'honest', action: 'probe.after-forgery', outcome: 'success' });
      expect(after.hash).toBe('');
      expect((await rows()).find((r) => r.id === forged.id)!.hash).toBe('');
      expect(await verify()).toMatchObject({ ok: false, firstBadId: forged.id, reason: 'pending' });
    } finally {
      await restore(chain);
    }
  });
});

describe('signed checkpoints outside D1', () => {
  it('catch a cut-off tail, which the chain alone cannot show', async () => {
    const checkpoint = await writeAuditCheckpoint(db, store, MASTER);
    const chain = await rows();
    expect(checkpoint).toMatchObject({ seq: chain.length, id: chain[chain.length - 1]!.id });
    expect(await verify(true)).toMatchObject({ ok: true, checkpoint: { seq: chain.length, id: checkpoint!.id } });
    const cut = await tamper(async () => {
      await env.DB.prepare('delete from audit_events where seq > ?').bind(chain.length - 3).run();
    }, true);
    expect(cut.result).toMatchObject({ ok: false, firstBadId: checkpoint!.id, reason: 'truncated' });
    const cutUnchecked = await tamper(async () => {
      await env.DB.prepare('delete from audit_events where seq > ?').bind(chain.length - 3).run();
    });
    expect(cutUnchecked.result.ok).toBe(true);
  });

  it('catch a chain rewritten by someone holding the key', async () => {
    await appendAudit(db, MASTER, { actor: 'cp', action: 'probe.checkpoint', outcome: 'success' });
    const checkpoint = (await writeAuditCheckpoint(db, store, MASTER))!;
    const key = await deriveHmacKey(MASTER, 'audit-chain');
    const { result } = await tamper(async (chain) => {
      // Edit an early event and recompute every hash after it, as only the key holder can.
      const reader = await db.query.auditEvents.findMany({ orderBy: (t, { asc }) => asc(t.seq) });
      reader[2]!.details = { rewritten: true };
      let prev = reader[1]!.hash;
      const updates = [];
      for (const row of reader.slice(2)) {
        const hash = await computeAuditHash(key, prev, row);
        updates.push(env.DB.prepare('update audit_events set details = ?, prev_hash = ?, hash = ? where id = ?').bind(JSON.stringify(row.details), prev, hash, row.id));
        prev = hash;
      }
      await env.DB.batch(updates);
      expect(chain.length).toBe(reader.length);
      expect(await verify(false)).toMatchObject({ ok: true });
    }, true);
    expect(result).toMatchObject({ ok: false, firstBadId: checkpoint.id, reason: 'checkpoint' });
  });

  it('are written once per head, and a checkpoint that fails its signature is not trusted', async () => {
    await appendAudit(db, MASTER, { actor: 'cp', action: 'probe.checkpoint', outcome: 'success' });
    expect(await writeAuditCheckpoint(db, store, MASTER)).not.toBeNull();
    expect(await writeAuditCheckpoint(db, store, MASTER)).toBeNull();
    const forged = { version: 1, seq: 10 ** 6, id: 'forged', hash: 'a'.repeat(64), at: new Date().toISOString(), writtenAt: new Date().toISOString(), signature: 'b'.repeat(64) };
    await store.putBytes(`audit-checkpoints/${String(10 ** 15 - forged.seq).padStart(16, '0')}.json`, new TextEncoder().encode(JSON.stringify(forged)));
    try {
      const result = await verify(true);
      expect(result.ok).toBe(true);
      expect(result.checkpoint?.id).not.toBe('forged');
    } finally {
      await store.delete(`audit-checkpoints/${String(10 ** 15 - forged.seq).padStart(16, '0')}.json`);
    }
  });
});

describe('GET /audit', () => {
  it("filters a user's events: what they did and what was done to their data", async () => {
    await appendAudit(db, MASTER, { actor: 'filter-user', action: 'recording.read', outcome: 'success' });
    await appendAudit(db, MASTER, { actor: 'filter-admin', action: 'gdpr.export', subjectUserId: 'filter-user', outcome: 'success' });
    await appendAudit(db, MASTER, { actor: 'filter-other', action: 'recording.read', outcome: 'success' });
    const res = await call('/api/v1/audit?userId=filter-user', { headers: await as('filter-auditor', 'auditor') });
    const body = (await res.json()) as { items: { actor: string; action: string }[] };
    expect(body.items.map((e) => `${e.actor}:${e.action}`).sort()).toEqual(['filter-admin:gdpr.export', 'filter-user:recording.read']);
    expect((await call('/api/v1/audit', { headers: await as('filter-user') })).status).toBe(403);
  });
});
