/** The audit log: filtered listing, verification, on-demand checkpoint, export for outside verification, and the checkpoint public key. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../auth/middleware';
import { auditPublicKeys } from '../compliance/audit-checkpoint';
import { auditPage, exportAuditLog, verifyAuditLog, writeAuditCheckpoint, type LedgerDeps } from '../compliance/audit-ledger';
import { appendAudit, auditLedger } from '../compliance/audit-log';
import { audit, type AppContext } from '../context';
import { createBlobStore } from '../storage/select';
import { IsoTime } from '../domain/schemas';
import { authErrors, json, security } from './schemas';
import { createRouter } from './router';

const AuditEventSchema = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    recordingId: z.string().nullable(),
    outcome: z.enum(['success', 'denied', 'failure']),
    hash: z.string(),
    prevHash: z.string(),
    shard: z.number().int().openapi({ description: 'The chain the event is in' }),
    seq: z.number().int().openapi({ description: 'Its place in that chain' }),
    subjectUserId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('AuditEvent');

const VerifySchema = z
  .object({
    ok: z.boolean(),
    checked: z.number().int(),
    firstBadId: z.string().nullable(),
    reason: z
      .enum(['sequence', 'link', 'hash', 'checkpoint', 'truncated', 'uncovered', 'forged_checkpoint'])
      .nullable()
      .openapi({
        description:
          'sequence: a seq missing (a deleted event); link: an inserted or reordered event; hash: an edited event; checkpoint: the chain differs from a signed checkpoint (rewritten); truncated: checkpointed events are gone; uncovered: events no checkpoint covers yet (POST /audit/checkpoints); forged_checkpoint: a checkpoint fails its Ed25519 signature or Merkle root',
      }),
    shard: z.number().int().nullable(),
    uncovered: z.number().int().openapi({ description: 'Events after the newest checkpoint of their shard' }),
    checkpoints: z.number().int(),
    badCheckpoint: z.string().nullable().openapi({ description: 'Storage key of a checkpoint that fails its signature' }),
    newestCheckpoint: z.object({ id: z.string(), writtenAt: z.string(), root: z.string() }).nullable(),
  })
  .openapi('AuditVerification');

const CheckpointSchema = z
  .object({
    key: z.string(),
    id: z.string(),
    writtenAt: z.string(),
    root: z.string().openapi({ description: 'RFC 6962 Merkle root over the shard heads, hex' }),
    heads: z.array(z.object({ shard: z.number().int(), seq: z.number().int(), hash: z.string(), id: z.string().nullable() })),
  })
  .openapi('AuditCheckpoint');

const PublicKeySchema = z
  .object({ keys: z.array(z.object({ kty: z.string(), crv: z.string(), x: z.string(), alg: z.string(), use: z.string(), kid: z.string() })) })
  .openapi('AuditPublicKey');

/** A nextCursor of this endpoint (src/domain/cursor.ts), checked in full by the ledger. */
const CURSOR = /^[A-Za-z0-9_-]{8,200}$/;

const ledgerDeps = (c: AppContext): LedgerDeps => {
  const config = c.get('config');
  return { db: c.get('db'), store: createBlobStore(c.env, config), ledger: auditLedger(c.env, config), signingKey: config.AUDIT_SIGNING_KEY, previousKeys: config.AUDIT_SIGNING_KEYS_PREVIOUS };
};

export const auditRoutes = createRouter();

auditRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/audit',
    tags: ['audit'],
    summary: 'Audit events, newest first: every event accepted before this request is on the page',
    security,
    request: {
      query: z.object({
        recordingId: z.string().max(64).optional(),
        userId: z.string().max(256).optional(),
        action: z.string().max(100).optional(),
        from: IsoTime.optional(),
        to: IsoTime.optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: z.string().regex(CURSOR, 'must be a cursor returned by this endpoint').optional(),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(AuditEventSchema), nextCursor: z.string().nullable() }), 'A page of events'), ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin', 'auditor'], 'audit.read');
    const q = c.req.valid('query');
    const filter = { recordingId: q.recordingId, userId: q.userId, action: q.action, from: q.from && new Date(q.from).toISOString(), to: q.to && new Date(q.to).toISOString() };
    // The page shows every event accepted before this request (and denials up to a minute ago).
    const { items: page, nextCursor } = await auditPage(ledgerDeps(c), filter, q.cursor, q.limit);
    await audit(c, { action: 'audit.read', outcome: 'success', recordingId: q.recordingId ?? null, subjectUserId: q.userId ?? null });
    const items = page.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      recordingId: r.recordingId,
      outcome: r.outcome,
      hash: r.hash,
      prevHash: r.prevHash,
      shard: r.shard,
      seq: r.seq,
      subjectUserId: r.subjectUserId,
      details: r.details,
    }));
    return c.json({ items, nextCursor }, 200);
  },
);

auditRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/audit/verify',
    tags: ['audit'],
    summary: 'Verify every shard against every signed checkpoint; ok is false while events exist that no checkpoint covers',
    security,
    responses: { 200: json(VerifySchema, 'Verification result'), ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin', 'auditor'], 'audit.verify');
    const result = await verifyAuditLog(ledgerDeps(c));
    await audit(c, { action: 'audit.verify', outcome: result.ok ? 'success' : 'failure', details: { ...result } });
    if (!result.ok && result.reason !== 'uncovered') c.get('log').error('audit verification failed', { firstBadId: result.firstBadId, reason: result.reason, shard: result.shard });
    return c.json(result, 200);
  },
);

auditRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/audit/checkpoints',
    tags: ['audit'],
    summary: 'Write a signed checkpoint now (the hourly cron writes one too); every event accepted before the call is covered',
    security,
    responses: { 201: json(CheckpointSchema, 'The checkpoint written'), ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin'], 'audit.checkpoint');
    const deps = ledgerDeps(c);
    // Recorded (held by its sequencer) before the checkpoint is taken, so that the checkpoint covers it.
    const principal = c.get('principal');
    await appendAudit(deps.ledger, { action: 'audit.checkpoint', outcome: 'success', actor: principal.id, actorRole: principal.role, requestId: c.get('requestId') }, c.get('log'));
    const { key, payload } = await writeAuditCheckpoint(deps);
    return c.json({ key, id: payload.id, writtenAt: payload.writtenAt, root: payload.root, heads: payload.heads }, 201);
  },
);

auditRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/audit/export',
    tags: ['audit'],
    summary: 'Events and checkpoints as NDJSON, for scripts/verify-audit.mjs (needs only the public key)',
    security,
    request: {
      query: z.object({
        shard: z.coerce.number().int().min(0).max(255).optional().openapi({ description: 'One shard; all when absent' }),
        fromSeq: z.coerce.number().int().min(1).default(1).openapi({ description: 'First seq of each shard; a later start takes its first link as given' }),
        through: z.enum(['head', 'checkpoint']).default('head').openapi({ description: 'checkpoint: stop each shard at the newest checkpoint, so that the export verifies ok when untouched' }),
      }),
    },
    responses: { 200: { content: { 'application/x-ndjson': { schema: z.string() } }, description: 'header line, checkpoint lines, event lines' }, ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin', 'auditor'], 'audit.export');
    const q = c.req.valid('query');
    await audit(c, { action: 'audit.export', outcome: 'success', details: { shard: q.shard ?? null, fromSeq: q.fromSeq, through: q.through } });
    const body = exportAuditLog(ledgerDeps(c), { shards: q.shard === undefined ? undefined : [q.shard], fromSeq: q.fromSeq, throughCheckpoint: q.through === 'checkpoint' });
    const headers = { 'content-type': 'application/x-ndjson; charset=utf-8', 'content-disposition': 'attachment; filename="audit-export.ndjson"' };
    // A stream, not a typed body: the OpenAPI document describes the lines.
    return new Response(body, { status: 200, headers }) as never;
  },
);

auditRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/audit/public-key',
    tags: ['audit'],
    summary: 'The Ed25519 keys of audit checkpoints, as a JWK set (public, no credentials): the signing key first, then retired keys whose checkpoints remain; each checkpoint names its key by kid',
    responses: { 200: json(PublicKeySchema, 'JWK set') },
  }),
  async (c) => {
    const config = c.get('config');
    const keys = await auditPublicKeys(config.AUDIT_SIGNING_KEY, config.AUDIT_SIGNING_KEYS_PREVIOUS);
    return c.json({ keys: keys.map((k) => ({ kty: String(k.kty), crv: String(k.crv), x: String(k.x), alg: String(k.alg), use: String(k.use), kid: k.kid })) }, 200, {
      'cache-control': 'public, max-age=300',
    });
  },
);
