/** The audit log (admin and auditor): filtered listing and verification of the hash chain. */
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq, gte, lt, lte, or, type SQL } from 'drizzle-orm';
import { requireRole } from '../auth/middleware';
import { verifyAuditChain } from '../compliance/audit-chain';
import { audit } from '../context';
import { auditEvents } from '../db/schema';
import { createBlobStore } from '../storage/select';

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
    seq: z.number().int(),
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
      .enum(['sequence', 'link', 'hash', 'pending', 'truncated', 'checkpoint'])
      .nullable()
      .openapi({ description: 'sequence: a seq missing or out of order; link/hash: an edited, inserted or reordered event; pending: a forged unsealed event; truncated: events after the newest checkpoint are gone; checkpoint: the chain was rewritten up to a checkpoint' }),
    pending: z.number().int().openapi({ description: 'Events stored but not sealed yet (each is authenticated on its own until sealed)' }),
    checkpoint: z.object({ seq: z.number().int(), id: z.string(), writtenAt: z.string() }).nullable(),
  })
  .openapi('AuditVerification');

const iso = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' });

export const auditRoutes = createRouter();

auditRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/audit',
    tags: ['audit'],
    summary: 'Audit events, newest first',
    security,
    request: {
      query: z.object({
        recordingId: z.string().max(64).optional(),
        userId: z.string().max(256).optional(),
        action: z.string().max(100).optional(),
        from: iso.optional(),
        to: iso.optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: z.string().regex(/^\d+$/, 'must be a cursor returned by this endpoint').optional(),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(AuditEventSchema), nextCursor: z.string().nullable() }), 'A page of events'), ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin', 'auditor'], 'audit.read');
    const q = c.req.valid('query');
    const filters: SQL[] = [];
    if (q.recordingId) filters.push(eq(auditEvents.recordingId, q.recordingId));
    // A user's events: those they did, and those done to their data.
    if (q.userId) filters.push(or(eq(auditEvents.actor, q.userId), eq(auditEvents.subjectUserId, q.userId))!);
    if (q.action) filters.push(eq(auditEvents.action, q.action));
    if (q.from) filters.push(gte(auditEvents.at, new Date(q.from).toISOString()));
    if (q.to) filters.push(lte(auditEvents.at, new Date(q.to).toISOString()));
    if (q.cursor) filters.push(lt(auditEvents.seq, Number(q.cursor)));
    const rows = await c
      .get('db')
      .select()
      .from(auditEvents)
      .where(filters.length ? and(...filters) : undefined)
      .orderBy(desc(auditEvents.seq))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
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
      seq: r.seq,
      subjectUserId: r.subjectUserId,
      details: r.details,
    }));
    return c.json({ items, nextCursor: rows.length > q.limit ? String(page[page.length - 1]!.seq) : null }, 200);
  },
);

auditRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/audit/verify',
    tags: ['audit'],
    summary: 'Verify the whole hash chain, and that the newest signed checkpoint of its head is still in it',
    security,
    responses: { 200: json(VerifySchema, 'Verification result'), ...authErrors },
  }),
  async (c) => {
    await requireRole(c, ['admin', 'auditor'], 'audit.verify');
    const config = c.get('config');
    const result = await verifyAuditChain(c.get('db'), config.MASTER_ENCRYPTION_KEY, createBlobStore(c.env, config));
    await audit(c, { action: 'audit.verify', outcome: result.ok ? 'success' : 'failure', details: { ...result } });
    if (!result.ok) c.get('log').error('audit chain verification failed', { firstBadId: result.firstBadId });
    return c.json(result, 200);
  },
);

