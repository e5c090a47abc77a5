/**
 * One shard's sequencer, inside its Durable Object: takes events from requests, gives them their
 * place in the shard's chain, and writes them to D1 in batches.
 *
 * Durability, step by step (the object may die between any two):
 *  1. `accept` stores the events in the object's SQLite `inbox` before the RPC returns, skipping
 *     ids it has already seen: a sender that lost the answer may send again (at least once in,
 *     exactly once in the chain).
 *  2. `sequence` takes a batch from the inbox, hashes it onto the head and, in one transaction,
 *     moves it into `chain` (seq, hash) unwritten. Hashing is a function of the inbox order and
 *     the head, and nothing is committed until the transaction, so a crash repeats it identically.
 *  3. `write` inserts the unwritten rows into D1 in one batch (a row already there is skipped),
 *     then marks them written. A crash before the mark writes them again, harmlessly.
 * An accept starts a flush 250 ms later (what arrives meanwhile joins it), one flush at a time:
 * what arrives during a flush goes in the next, so batches grow with load (group commit). An alarm set at the first accept finishes
 * whatever a dead object left, and retries D1 with a delay when it fails.
 */
import type { Database } from '../db/client';
import { insertAuditEvents, lastShardEvent } from '../db/audit';
import type { Logger } from '../observability/logger';
import { describeError } from '../observability/logger';
import { chainHash, GENESIS_HASH, type AuditEvent, type ChainedAuditEvent, type ShardHead } from './audit-format';

const BATCH = 490;
/** How long accepted events gather before a flush chains and writes them (group commit). */
const FLUSH_DELAY_MS = 250;
/** The safety-net alarm: what a flush in memory has not finished by then, the alarm does. */
const ALARM_MS = 2_000;
const RETRY_MS = 5_000;
/** Written rows stay this long to recognize an event sent twice; the head always stays. */
const DEDUP_WINDOW_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

interface ChainRow extends Record<string, SqlStorageValue> {
  seq: number;
  id: string;
  hash: string;
  body: string;
}

export class ShardSequencer {
  private readonly storage: DurableObjectStorage;
  private readonly db: Database;
  private readonly log: Logger;
  private flushing: Promise<void> | null = null;
  private again = false;
  private alarmSet: boolean | null = null;
  private prunedAt = 0;
  private binding: Promise<void> | null = null;
  /** The shard in storage, read once: the hand-over path runs no statement but its insert. */
  private boundShard: number | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(storage: DurableObjectStorage, db: Database, log: Logger) {
    this.storage = storage;
    this.db = db;
    this.log = log;
    storage.sql.exec(`create table if not exists inbox (id text primary key, body text not null, received integer not null);
      create table if not exists chain (seq integer primary key, id text not null unique, hash text not null, body text not null, written integer not null default 0, sequenced_at integer not null);
      create index if not exists chain_unwritten on chain (written, seq);
      create table if not exists meta (key text primary key, value text not null);`);
  }

  private get sql() {
    return this.storage.sql;
  }

  /**
   * Store events durably (before returning) and start a flush. Returns how many were new. One
   * statement whatever the number of events (a hand-over carries the events of every request of its
   * isolate at that moment): the events go in as one JSON array, each body the JSON text of its
   * element (read back with JSON.parse, so SQLite's spelling of it does not matter), and an id already
   * in the inbox or the chain is skipped.
   */
  async accept(shard: number, events: AuditEvent[]): Promise<number> {
    await this.bind(shard);
    const now = Date.now();
    const accepted =
      events.length === 0
        ? 0
        : this.sql
            .exec(
              `insert into inbox (id, body, received)
                 select json_extract(sent.value, '$.id'), sent.value, ? from json_each(?) as sent
                 where not exists (select 1 from chain where chain.id = json_extract(sent.value, '$.id'))
                 on conflict do nothing returning 1`,
              now,
              JSON.stringify(events),
            )
            .toArray().length;
    if (this.alarmSet === null) this.alarmSet = (await this.storage.getAlarm()) !== null;
    if (!this.alarmSet) {
      await this.storage.setAlarm(now + ALARM_MS);
      this.alarmSet = true;
    }
    this.scheduleFlush();
    return accepted;
  }

  /**
   * Flush a moment after the first accept of a quiet spell rather than at once: nobody waits for
   * the chain, and every event accepted within the window goes into one D1 batch, which under load
   * is what the D1 writes cost (a batch per request would cost about as much as the request).
   */
  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flush().catch(() => undefined);
    }, FLUSH_DELAY_MS);
  }

  /** The newest event in D1 for this shard: what a checkpoint may sign. */
  async writtenHead(shard: number): Promise<ShardHead> {
    await this.bind(shard);
    const [row] = this.sql.exec<ChainRow>('select seq, id, hash, body from chain where written = 1 order by seq desc limit 1').toArray();
    return row ? { shard, seq: row.seq, hash: row.hash, id: row.id } : { shard, seq: 0, hash: GENESIS_HASH, id: null };
  }

  /** Flush until the inbox is empty and everything is in D1; one flush runs at a time. Throws when D1 fails. */
  flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      try {
        do {
          this.again = false;
          while ((await this.sequence()) + (await this.write()) > 0);
        } while (this.again);
        this.prune();
      } catch (error) {
        this.log.error('audit flush failed; the alarm retries', describeError(error));
        await this.storage.setAlarm(Date.now() + RETRY_MS);
        this.alarmSet = true;
        throw error;
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** The alarm: finish what is left; nothing left means no alarm until the next accept. */
  async alarm(): Promise<void> {
    this.alarmSet = false;
    if (this.sql.exec('select 1 from meta where key = ?', 'shard').toArray().length === 0) return;
    await this.flush();
    this.alarmSet = (await this.storage.getAlarm()) !== null;
  }

  /**
   * The object learns its shard from the first call and, the first time, continues the chain
   * D1 already holds for it (written before this object existed, or if its storage was reset).
   */
  private async bind(shard: number): Promise<void> {
    this.binding ??= this.loadShard(shard).catch((error: unknown) => {
      this.binding = null;
      throw error;
    });
    await this.binding;
    const known = this.shard();
    if (known !== shard) throw new Error(`audit sequencer of shard ${known} called for shard ${shard}`);
  }

  private async loadShard(shard: number): Promise<void> {
    if (this.sql.exec('select 1 from meta where key = ?', 'shard').toArray().length > 0) return;
    const last = (await lastShardEvent(this.db, shard)) as ChainedAuditEvent | null;
    this.storage.transactionSync(() => {
      if (last) this.sql.exec('insert or ignore into chain (seq, id, hash, body, written, sequenced_at) values (?, ?, ?, ?, 1, ?)', last.seq, last.id, last.hash, JSON.stringify(last), Date.now());
      this.sql.exec('insert or ignore into meta (key, value) values (?, ?)', 'shard', String(shard));
    });
  }

  /** The shard stored at binding; written once and never changed, so read once per object. */
  private shard(): number {
    return (this.boundShard ??= Number(this.sql.exec<{ value: string }>('select value from meta where key = ?', 'shard').one().value));
  }

  private async sequence(): Promise<number> {
    const inbox = this.sql.exec<{ id: string; body: string }>('select id, body from inbox order by received, rowid limit ?', BATCH).toArray();
    if (inbox.length === 0) return 0;
    const shard = this.shard();
    const [head] = this.sql.exec<ChainRow>('select seq, id, hash, body from chain order by seq desc limit 1').toArray();
    let seq = head?.seq ?? 0;
    let prev = head?.hash ?? GENESIS_HASH;
    const chained: ChainedAuditEvent[] = [];
    for (const { body } of inbox) {
      const event = JSON.parse(body) as AuditEvent;
      seq++;
      const placed = { ...event, shard, seq };
      const hash = chainHash(prev, placed);
      chained.push({ ...placed, prevHash: prev, hash });
      prev = hash;
    }
    const now = Date.now();
    this.storage.transactionSync(() => {
      for (const event of chained) {
        this.sql.exec('insert into chain (seq, id, hash, body, written, sequenced_at) values (?, ?, ?, ?, 0, ?)', event.seq, event.id, event.hash, JSON.stringify(event), now);
        this.sql.exec('delete from inbox where id = ?', event.id);
      }
    });
    return chained.length;
  }

  private async write(): Promise<number> {
    const rows = this.sql.exec<ChainRow>('select seq, id, hash, body from chain where written = 0 order by seq limit ?', BATCH).toArray();
    if (rows.length === 0) return 0;
    await insertAuditEvents(this.db, rows.map((r) => JSON.parse(r.body) as ChainedAuditEvent));
    this.sql.exec('update chain set written = 1 where written = 0 and seq <= ?', rows[rows.length - 1]!.seq);
    return rows.length;
  }

  private prune(): void {
    const now = Date.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    this.sql.exec('delete from chain where written = 1 and sequenced_at < ? and seq < (select max(seq) from chain where written = 1)', now - DEDUP_WINDOW_MS);
  }
}
