/**
 * Recording audit events: an event gets its id and time where it happens and is handed to its
 * shard's sequencer, which stores it before answering and chains it in the background
 * (src/compliance/audit-sequencer.ts). Nobody waits for the chain or for D1, but every caller
 * waits for the sequencer's answer, which comes once the event is durable in the sequencer's
 * storage: a request answers only after that (src/context.ts), so an isolate that dies after its
 * response has lost nothing. Delivery is retried, and the sequencer ignores an id it has seen, so
 * an event sent twice is chained once.
 */
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { shardFor, type AuditEvent, type AuditOutcome, type ShardHead } from './audit-format';

export interface AuditInput {
  actor: string;
  actorRole?: string | null;
  action: string;
  recordingId?: string | null;
  subjectUserId?: string | null;
  outcome: AuditOutcome;
  details?: Record<string, unknown> | null;
  requestId?: string | null;
}

/** What durable-objects/audit-sequencer.ts answers over RPC (the class implements it). */
export interface AuditSequencerRpc extends Rpc.DurableObjectBranded {
  /** Store events for the chain; resolves once they are durable there (not yet in D1). Returns how many were new. */
  append(shard: number, events: AuditEvent[]): Promise<number>;
  /** Write everything accepted so far to D1, then give the shard's head there. */
  flushedHead(shard: number): Promise<ShardHead>;
}

/** Where events go: the sequencers and how many shards there are. */
export interface AuditLedger {
  sequencers: DurableObjectNamespace<AuditSequencerRpc>;
  shards: number;
  disabled: boolean;
}

export function auditLedger(env: { AUDIT_SEQUENCER: DurableObjectNamespace }, config: Pick<Config, 'AUDIT_SHARDS' | 'AUDIT_DISABLED'>): AuditLedger {
  return { sequencers: env.AUDIT_SEQUENCER as unknown as DurableObjectNamespace<AuditSequencerRpc>, shards: config.AUDIT_SHARDS, disabled: config.AUDIT_DISABLED };
}

const sequencerOf = (ledger: AuditLedger, shard: number) => ledger.sequencers.getByName(`shard-${shard}`);

/** The event as it will be chained: details pass through JSON now, so that what is hashed is what is read back. */
export function newAuditEvent(input: AuditInput, at = new Date()): AuditEvent {
  return {
    id: crypto.randomUUID(),
    at: at.toISOString(),
    actor: input.actor,
    actorRole: input.actorRole ?? null,
    action: input.action,
    recordingId: input.recordingId ?? null,
    subjectUserId: input.subjectUserId ?? null,
    outcome: input.outcome,
    details: input.details == null ? null : (JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>),
    requestId: input.requestId ?? null,
  };
}

/** Waits between tries of a hand-over: cron, queue and Durable Object callers can wait longer than a request. */
export const RETRY_DELAYS_MS = [50, 250, 1000, 4000];
/** A request that waits for its event: 3 quick retries (~0.3 s), then it answers 503. */
export const REQUEST_RETRY_DELAYS_MS = [25, 75, 200];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Hand events to the sequencer of the shard `shardKey` maps to (one request's events share a
 * shard, and so keep their order). Resolves once the sequencer holds them; retries a failed
 * hand-over, and throws only when every try failed.
 */
export async function deliverAudit(ledger: AuditLedger, events: AuditEvent[], shardKey: string, log?: Logger, delays: readonly number[] = RETRY_DELAYS_MS): Promise<void> {
  if (ledger.disabled || events.length === 0) return;
  const shard = shardFor(shardKey, ledger.shards);
  for (let attempt = 0; ; attempt++) {
    try {
      await sequencerOf(ledger, shard).append(shard, events);
      return;
    } catch (error) {
      if (attempt >= delays.length) throw error;
      log?.warn('audit hand-over failed; retrying', { shard, attempt, events: events.length });
      await sleep(delays[attempt]!);
    }
  }
}

/** Record one event and wait until its sequencer holds it (cron, queue and Durable Object callers). */
export async function appendAudit(ledger: AuditLedger, input: AuditInput, log?: Logger): Promise<AuditEvent> {
  const event = newAuditEvent(input);
  await deliverAudit(ledger, [event], input.requestId ?? event.id, log);
  return event;
}

/** Every configured shard's sequencer writes what it holds to D1: for a caller about to read its own events back from D1. */
export async function settleAuditWrites(ledger: AuditLedger): Promise<void> {
  if (ledger.disabled) return;
  await flushedHeads(ledger, Array.from({ length: ledger.shards }, (_, i) => i));
}

/** Every shard's head as written to D1, after each sequencer has written what it holds. */
export function flushedHeads(ledger: AuditLedger, shards: number[]): Promise<ShardHead[]> {
  return Promise.all(shards.map((shard) => sequencerOf(ledger, shard).flushedHead(shard)));
}
