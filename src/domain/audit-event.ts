/**
 * The shapes of audit events, shared by the layers that record, store and check them
 * (src/compliance/audit-*.ts, src/db/audit.ts). The hashing and Merkle rules over them are in
 * src/compliance/audit-format.ts.
 */
export type AuditOutcome = 'success' | 'denied' | 'failure';

/** An event as the request records it, before a sequencer gives it its place. */
export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  actorRole: string | null;
  action: string;
  recordingId: string | null;
  subjectUserId: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown> | null;
  requestId: string | null;
}

/** An event in its shard's chain. */
export interface ChainedAuditEvent extends AuditEvent {
  shard: number;
  seq: number;
  prevHash: string;
  hash: string;
}

/** One shard's newest event; `seq` 0 with the genesis hash for a shard with no events yet. */
export interface ShardHead {
  shard: number;
  seq: number;
  hash: string;
  id: string | null;
}
