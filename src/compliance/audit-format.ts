/**
 * The audit log's public format, the same in the Worker and in scripts/verify-audit.mjs (imports
 * carry their `.ts` extension, so that Node runs this file as it is): events, their unkeyed
 * SHA-256 chain hash, and the RFC 6962 Merkle tree over the shard heads that a checkpoint signs.
 * Hashes are unkeyed on purpose: anyone holding an export can recompute them, and what keeps a
 * key-less rewrite out is the Ed25519-signed checkpoint.
 */
import { createHash } from 'node:crypto';
import { bytesToHex } from '../encoding.ts';

export const GENESIS_HASH = '0'.repeat(64);

export type { AuditEvent, AuditOutcome, ChainedAuditEvent, ShardHead } from '../domain/audit-event.ts';
import type { ChainedAuditEvent, ShardHead } from '../domain/audit-event.ts';

/** Canonical JSON: keys sorted at every level, no whitespace, undefined members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const encoder = new TextEncoder();

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** The fields a chain hash covers: everything of the event but its own hash and link. */
export function hashedFields(event: Omit<ChainedAuditEvent, 'prevHash' | 'hash'>): Record<string, unknown> {
  return {
    id: event.id,
    shard: event.shard,
    seq: event.seq,
    at: event.at,
    actor: event.actor,
    actorRole: event.actorRole ?? null,
    action: event.action,
    recordingId: event.recordingId ?? null,
    subjectUserId: event.subjectUserId ?? null,
    outcome: event.outcome,
    details: event.details ?? null,
    requestId: event.requestId ?? null,
  };
}

/**
 * `canonicalJson(hashedFields(event))`, written out in the sorted key order directly (verification
 * hashes a million events; the generic sort is most of the cost). Falls back to the generic form
 * when a required field is missing, which canonical JSON would drop rather than write as null.
 */
export function canonicalEventJson(event: Omit<ChainedAuditEvent, 'prevHash' | 'hash'>): string {
  const { id, shard, seq, at, actor, action, outcome } = event;
  if (id === undefined || shard === undefined || seq === undefined || at === undefined || actor === undefined || action === undefined || outcome === undefined) {
    return canonicalJson(hashedFields(event));
  }
  const j = JSON.stringify;
  return (
    `{"action":${j(action)},"actor":${j(actor)},"actorRole":${j(event.actorRole ?? null)},"at":${j(at)},"details":${canonicalJson(event.details ?? null)},` +
    `"id":${j(id)},"outcome":${j(outcome)},"recordingId":${j(event.recordingId ?? null)},"requestId":${j(event.requestId ?? null)},"seq":${j(seq)},"shard":${j(shard)},"subjectUserId":${j(event.subjectUserId ?? null)}}`
  );
}

/**
 * hash = hex SHA-256 of "audit-event/v2", the previous event's hash and the event's canonical JSON,
 * newline-separated. Synchronous (node:crypto, native in workerd and Node alike): verification
 * hashes a million events, without a promise per event.
 */
export function chainHash(prevHash: string, event: Omit<ChainedAuditEvent, 'prevHash' | 'hash'>): string {
  return createHash('sha256').update(`audit-event/v2\n${prevHash}\n${canonicalEventJson(event)}`, 'utf8').digest('hex');
}

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf input). */
async function leafHash(data: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(data.length + 1);
  input.set(data, 1);
  return sha256(input);
}

async function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(65);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 33);
  return sha256(input);
}

/** RFC 6962 §2.1 Merkle Tree Hash: split at the largest power of two below n. */
async function treeHash(leaves: Uint8Array[]): Promise<Uint8Array> {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(await treeHash(leaves.slice(0, k)), await treeHash(leaves.slice(k)));
}

/** RFC 6962 Merkle Tree Hash (hex) of the leaf inputs, in order. */
export async function merkleTreeHash(leafInputs: Uint8Array[]): Promise<string> {
  return bytesToHex(await treeHash(await Promise.all(leafInputs.map(leafHash))));
}

/** The Merkle root over shard heads: one leaf per shard in ascending order, its input the head's canonical JSON. */
export function merkleRoot(heads: ShardHead[]): Promise<string> {
  const sorted = [...heads].sort((a, b) => a.shard - b.shard);
  return merkleTreeHash(sorted.map((head) => encoder.encode(canonicalJson({ shard: head.shard, seq: head.seq, hash: head.hash, id: head.id }))));
}
