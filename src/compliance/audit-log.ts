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
import { type AuditEvent, type AuditOutcome, type ShardHead } from './audit-format';

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

/** How long an isolate sends new work to one shard before it draws another. */
const SHARD_TERM_MS = 1_000;
let term = { shard: 0, shards: 0, until: 0 };

/**
 * The shard this isolate sends new work to: drawn at random by the server (never from anything
 * the client sends, such as X-Request-ID, which could pile every event onto one shard) and kept
 * for a second, so that the events of concurrent requests go to one shard and share its hand-overs
 * (`deliverAudit`). Over many isolates and seconds the shards fill evenly. The caller keeps the
 * shard for every event of one request, so that they keep their order in one chain.
 */
export function currentAuditShard(ledger: AuditLedger): number {
  const now = Date.now();
  if (now >= term.until || term.shards !== ledger.shards) {
    term = { shard: crypto.getRandomValues(new Uint32Array(1))[0]! % ledger.shards, shards: ledger.shards, until: now + SHARD_TERM_MS };
  }
  return term.shard;
}

/**
 * One caller's events waiting in a shard's outbox, and how its wait ended: carried (null), failed
 * with the hand-over that carried them, or its turn to send the outbox.
 */
interface Waiting {
  events: AuditEvent[];
  outcome?: null | { error: unknown } | 'lead';
}

/** A shard's outbox in this isolate: events gathering for the next hand-over, and the one in flight. */
interface Outbox {
  gathering: Waiting[];
  /** Bumped by each caller that starts a hand-over; only the newest one passes the turn on. */
  turn: number;
  inFlight: boolean;
  /** When the newest hand-over started, and how long one usually takes (moving average, ms). */
  sentAt: number;
  typicalMs: number;
}

const outboxes = new WeakMap<object, Map<number, Outbox>>();
/**
 * How long a hand-over may stay unanswered before a waiting caller sends in its place: the caller
 * that sent it may belong to a request the runtime cancelled, whose answer never comes.
 */
const CARRIER_TIMEOUT_MS = 2_000;

function outboxOf(ledger: AuditLedger, shard: number): Outbox {
  let byShard = outboxes.get(ledger.sequencers);
  if (!byShard) outboxes.set(ledger.sequencers, (byShard = new Map()));
  let box = byShard.get(shard);
  if (!box) byShard.set(shard, (box = { gathering: [], turn: 0, inFlight: false, sentAt: 0, typicalMs: 1 }));
  return box;
}

/** The longest first sleep of a waiting caller, whatever a slow spell did to the usual duration. */
const FIRST_LOOK_MAX_MS = 10;

/**
 * Wait, on this caller's own timers, until its wait has an outcome. The carrier cannot wake it
 * directly: a promise resolved from another request would run this request's continuation, and
 * end its response, in that request's context, which workerd refuses ("Cannot perform I/O on
 * behalf of a different request"). So the caller sleeps until the hand-over in flight is due
 * (its usual duration, at most 10 ms), then looks every millisecond.
 */
async function awaitCarrier(box: Outbox, self: Waiting): Promise<void> {
  await sleep(Math.max(1, Math.min(FIRST_LOOK_MAX_MS, box.sentAt + box.typicalMs - Date.now())));
  while (self.outcome === undefined) {
    if (Date.now() - box.sentAt >= CARRIER_TIMEOUT_MS) {
      self.outcome = 'lead';
      return;
    }
    await sleep(1);
  }
}

/**
 * One try at getting `events` stored in the shard's sequencer, sharing the RPC with the other
 * callers of this isolate (group commit): with no hand-over to the shard in flight the caller sends
 * at once; otherwise its events join the next hand-over, which the first of the waiting callers
 * sends, in its own request, when the one in flight is answered. Every caller resolves only once
 * the hand-over that carried its events was answered (its events are durable in the sequencer),
 * and a failed hand-over fails each of its callers, who retry on their own. A hand-over that stays
 * unanswered is taken over by a waiting caller (its events sent again: the sequencer skips ids it has).
 */
async function handOver(ledger: AuditLedger, shard: number, events: AuditEvent[]): Promise<void> {
  const box = outboxOf(ledger, shard);
  const self: Waiting = { events };
  box.gathering.push(self);
  if (box.inFlight) {
    await awaitCarrier(box, self);
    const outcome = self.outcome!;
    if (outcome === null) return;
    if (outcome !== 'lead') throw outcome.error;
    // Taking over from a carrier that never answered, which may have taken this caller's events.
    if (!box.gathering.includes(self)) box.gathering.unshift(self);
  }
  const turn = ++box.turn;
  box.inFlight = true;
  const sentAt = (box.sentAt = Date.now());
  const batch = box.gathering.splice(0);
  try {
    await sequencerOf(ledger, shard).append(shard, batch.flatMap((w) => w.events));
    box.typicalMs = 0.8 * box.typicalMs + 0.2 * (Date.now() - sentAt);
    for (const w of batch) if (w !== self) w.outcome ??= null;
  } catch (error) {
    for (const w of batch) if (w !== self) w.outcome ??= { error };
    throw error;
  } finally {
    if (turn === box.turn) {
      const next = box.gathering[0];
      if (next) next.outcome = 'lead';
      else box.inFlight = false;
    }
  }
}

/**
 * Hand events to the sequencer of `shard` (one request's events all go to one shard, and so keep
 * their order). Resolves once the sequencer holds them; retries a failed hand-over, and throws only
 * when every try failed. Concurrent calls for one shard share their RPCs (`handOver`).
 */
export async function deliverAudit(ledger: AuditLedger, events: AuditEvent[], shard: number, log?: Logger, delays: readonly number[] = RETRY_DELAYS_MS): Promise<void> {
  if (ledger.disabled || events.length === 0) return;
  for (let attempt = 0; ; attempt++) {
    try {
      await handOver(ledger, shard, events);
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
  await deliverAudit(ledger, [event], currentAuditShard(ledger), log);
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
