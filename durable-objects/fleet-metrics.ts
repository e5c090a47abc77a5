/**
 * The fleet's metrics store: one object (named `fleet`) that adds up the counter increments every
 * isolate hands over (src/observability/metrics.ts), so that a scrape of any isolate sees the whole
 * fleet. Totals live in SQLite (they survive eviction); a hand-over id seen in the last hour is
 * not counted twice.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../src/config';
import type { FleetMetricsRpc, Sample } from '../src/observability/metrics';

const DEDUP_MS = 3_600_000;

export class FleetMetrics extends DurableObject<Bindings> implements FleetMetricsRpc {
  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    ctx.storage.sql.exec(`create table if not exists totals (name text not null, labels text not null, value real not null, primary key (name, labels));
      create table if not exists batches (id text primary key, at integer not null);`);
  }

  /** Add one isolate's increments; false when this hand-over was already counted. */
  add(batchId: string, samples: Sample[]): boolean {
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    let fresh = false;
    this.ctx.storage.transactionSync(() => {
      fresh = sql.exec('insert into batches (id, at) values (?, ?) on conflict do nothing returning id', batchId, now).toArray().length > 0;
      if (!fresh) return;
      for (const s of samples) {
        sql.exec('insert into totals (name, labels, value) values (?, ?, ?) on conflict (name, labels) do update set value = value + excluded.value', s.name, JSON.stringify(s.labels), s.value);
      }
      sql.exec('delete from batches where at < ?', now - DEDUP_MS);
    });
    return fresh;
  }

  totals(): Sample[] {
    return this.ctx.storage.sql
      .exec<{ name: string; labels: string; value: number }>('select name, labels, value from totals order by name, labels')
      .toArray()
      .map((r) => ({ name: r.name, labels: JSON.parse(r.labels) as Record<string, string>, value: r.value }));
  }
}
