/**
 * The audit sequencer Durable Object: one object per shard (named `shard-N`), the only writer of
 * that shard's chain. The work is in src/compliance/audit-sequencer.ts; this class only routes
 * RPCs and the alarm to it.
 */
import { DurableObject } from 'cloudflare:workers';
import { ShardSequencer } from '../src/compliance/audit-sequencer';
import type { AuditSequencerRpc } from '../src/compliance/audit-log';
import type { Bindings } from '../src/config';
import { createDb } from '../src/db/client';
import type { AuditEvent, ShardHead } from '../src/domain/audit-event';
import { createLogger, type LogLevel } from '../src/observability/logger';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export class AuditSequencer extends DurableObject<Bindings> implements AuditSequencerRpc {
  private readonly sequencer: ShardSequencer;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    const log = createLogger({ component: 'audit-sequencer' }, LEVELS.find((l) => l === env.LOG_LEVEL) ?? 'info');
    this.sequencer = new ShardSequencer(ctx.storage, createDb(env.DB), log);
  }

  /** Store events for the chain; resolves once they are durable here (not yet in D1). */
  append(shard: number, events: AuditEvent[]): Promise<number> {
    return this.sequencer.accept(shard, events);
  }

  /** Write everything accepted so far to D1, then give the shard's head there. */
  async flushedHead(shard: number): Promise<ShardHead> {
    await this.sequencer.accept(shard, []);
    await this.sequencer.flush();
    return this.sequencer.writtenHead(shard);
  }

  override alarm(): Promise<void> {
    return this.sequencer.alarm();
  }
}
