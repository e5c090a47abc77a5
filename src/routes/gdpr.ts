/** GDPR: export, erasure and consent for the caller (admins act for any `userId`). */
import { createRoute, z } from '@hono/zod-openapi';
import type { Principal } from '../auth/principal';
import { audit, type AppContext } from '../context';
import { getConsent, putConsent } from '../db/consents';
import { AppError, notImplemented } from '../errors';
import { authErrors, json, security } from './schemas';
import { createRouter } from './router';

const ConsentSchema = z
  .object({ userId: z.string(), consents: z.object({ recording: z.boolean(), transcription: z.boolean() }), updatedAt: z.string().nullable() })
  .openapi('Consent');
const SubjectQuery = z.object({ userId: z.string().min(1).max(256).optional() });

/** The data subject: the caller, or `?userId=` for admins (others get 403, audited). */
export async function resolveSubject(c: AppContext, requested: string | undefined, action: string): Promise<string> {
  const principal: Principal = c.get('principal');
  if (!c.get('config').GDPR_ENABLED) throw new AppError('not_found', 'GDPR endpoints are disabled');
  if (requested === undefined || requested === principal.id) {
    if (principal.kind === 'service' && requested === undefined) throw new AppError('invalid_request', 'userId: is required for a service caller');
    return principal.id;
  }
  if (principal.role !== 'admin') {
    await audit(c, { action, outcome: 'denied', subjectUserId: requested, details: { reason: 'not admin' } });
    throw new AppError('forbidden', "Only admins may act on another user's data");
  }
  return requested;
}

export const gdprRoutes = createRouter();

gdprRoutes.openapi(
  createRoute({ method: 'get', path: '/gdpr/consent', tags: ['gdpr'], summary: 'Consent state', security, request: { query: SubjectQuery }, responses: { 200: json(ConsentSchema, 'Consent'), ...authErrors } }),
  async (c) => {
    const userId = await resolveSubject(c, c.req.valid('query').userId, 'gdpr.consent.read');
    const state = await getConsent(c.get('db'), userId);
    await audit(c, { action: 'gdpr.consent.read', outcome: 'success', subjectUserId: userId });
    return c.json(state, 200);
  },
);

gdprRoutes.openapi(
  createRoute({
    method: 'put',
    path: '/gdpr/consent',
    tags: ['gdpr'],
    summary: 'Set consent; with recording=false new uploads and live calls answer 403 consent_required',
    security,
    request: { query: SubjectQuery, body: { content: { 'application/json': { schema: z.object({ recording: z.boolean(), transcription: z.boolean() }) } }, required: true } },
    responses: { 200: json(ConsentSchema, 'Consent after the change'), ...authErrors },
  }),
  async (c) => {
    const userId = await resolveSubject(c, c.req.valid('query').userId, 'gdpr.consent.update');
    const before = await getConsent(c.get('db'), userId);
    const state = await putConsent(c.get('db'), userId, c.req.valid('json'));
    await audit(c, { action: 'gdpr.consent.update', outcome: 'success', subjectUserId: userId, details: { before: before.consents, after: state.consents } });
    return c.json(state, 200);
  },
);

gdprRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/gdpr/export',
    tags: ['gdpr'],
    summary: 'Everything held about the subject, with signed download URLs',
    security,
    request: { query: SubjectQuery },
    responses: { 200: { description: 'Export document' }, ...authErrors },
  }),
  () => {
    throw notImplemented('GDPR export');
  },
);

gdprRoutes.openapi(
  createRoute({
    method: 'delete',
    path: '/gdpr/data',
    tags: ['gdpr'],
    summary: 'Erase the subject: crypto-shredding plus deletion, with a verification report',
    security,
    request: { query: SubjectQuery },
    responses: { 200: { description: 'Erasure report' }, ...authErrors },
  }),
  () => {
    throw notImplemented('GDPR erasure');
  },
);
