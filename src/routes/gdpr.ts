/** GDPR: export, erasure and consent for the caller (admins act for any `userId`). */
import { createRoute, z } from '@hono/zod-openapi';
import { enforce } from '../auth/middleware';
import { decideGdprSubject } from '../auth/permissions';
import { changeConsent, readConsent } from '../compliance/consent';
import { eraseSubjectOnRequest, EXPORT_URL_TTL_SECONDS, exportSubject } from '../compliance/gdpr';
import { audit, changeRequestDeps, type AppContext } from '../context';
import { AppError } from '../errors';
import { RecordingSchema } from '../domain/recording';
import { authErrors, errorResponses, json, security } from './schemas';
import { createRouter } from './router';

const ConsentSchema = z
  .object({ userId: z.string(), consents: z.object({ recording: z.boolean(), transcription: z.boolean() }), updatedAt: z.string().nullable() })
  .openapi('Consent');
const SubjectQuery = z.object({ userId: z.string().min(1).max(256).optional() });

const GrantSchema = z.object({ recordingId: z.string(), userId: z.string(), permission: z.literal('read'), grantedBy: z.string(), grantedAt: z.string() });

const ExportSchema = z
  .object({
    userId: z.string(),
    exportedAt: z.string(),
    consent: ConsentSchema,
    recordings: z.array(
      RecordingSchema.extend({
        downloadUrl: z.string().nullable().openapi({ description: `Signed URL of the original audio; works without credentials for ${EXPORT_URL_TTL_SECONDS / 3600} hours` }),
        downloadUrlExpiresAt: z.string().nullable(),
        downloadUnavailable: z.enum(['archived', 'no_audio']).nullable().openapi({ description: 'Why there is no downloadUrl: archived (restore it first) or no audio stored yet' }),
      }),
    ),
    deletedRecordings: z
      .array(
        z.object({
          id: z.string(),
          callId: z.string(),
          callerPhone: z.string().nullable(),
          receiverPhone: z.string().nullable(),
          startTime: z.string(),
          endTime: z.string().nullable(),
          createdAt: z.string(),
          deletedAt: z.string(),
        }),
      )
      .openapi({ description: 'Recordings whose audio retention deleted; the row stays with phone numbers replaced by keyed hashes' }),
    transcripts: z.array(
      z.object({
        recordingId: z.string(),
        language: z.string(),
        text: z.string(),
        segments: z.array(z.object({ start: z.number(), end: z.number(), speaker: z.string().nullable(), text: z.string() })),
        createdAt: z.string(),
        updatedAt: z.string(),
      }),
    ),
    auditEvents: z.array(
      z.object({
        id: z.string(),
        seq: z.number().int(),
        at: z.string(),
        actor: z.string(),
        actorRole: z.string().nullable(),
        action: z.string(),
        recordingId: z.string().nullable(),
        subjectUserId: z.string().nullable(),
        outcome: z.enum(['success', 'denied', 'failure']),
        details: z.record(z.string(), z.unknown()).nullable(),
        requestId: z.string().nullable(),
        prevHash: z.string(),
        hash: z.string(),
      }),
    ),
    permissions: z.object({
      grantedToOthers: z.array(GrantSchema).openapi({ description: "Who else may read the subject's recordings" }),
      grantedToSubject: z.array(GrantSchema.extend({ ownerUserId: z.string() })).openapi({ description: "Other people's recordings the subject may read" }),
    }),
    encryptionKeys: z.array(z.object({ version: z.number().int(), createdAt: z.string(), retiredAt: z.string().nullable(), destroyedAt: z.string().nullable() })),
  })
  .openapi('GdprExport');

const ErasureSchema = z
  .object({
    userId: z.string(),
    erasedAt: z.string(),
    deletedRecordings: z.array(z.string()),
    retainedRecordings: z.array(z.object({ id: z.string(), reason: z.literal('legal_hold') })),
    verification: z.object({
      objects: z.array(z.object({ recordingId: z.string(), key: z.string(), goneFromStorage: z.boolean() })).openapi({ description: 'Every object deleted, each checked absent from storage afterwards' }),
      allObjectsGone: z.boolean(),
      keyDestroyed: z.boolean().openapi({ description: 'No secret of any key version of the user is left (crypto-shredding)' }),
      keyVersionsDestroyed: z.number().int(),
      keyRetainedReason: z.literal('legal_hold').nullable().openapi({ description: 'The key is kept while recordings on legal hold need it' }),
      transcriptsDeleted: z.number().int(),
      grantsRevoked: z.number().int(),
      consentDeleted: z.boolean(),
      remaining: z.object({ recordings: z.number().int(), transcripts: z.number().int(), grantsHeld: z.number().int(), consent: z.boolean() }),
    }),
    outlives: z.array(z.object({ what: z.string(), until: z.string().nullable(), detail: z.string() })).openapi({ description: 'What erasure cannot reach, and until when' }),
  })
  .openapi('GdprErasure');

/** The data subject (src/auth/permissions.ts `decideGdprSubject`): the caller, or `?userId=` for admins (others get 403, audited). */
async function resolveSubject(c: AppContext, requested: string | undefined, action: string): Promise<string> {
  if (!c.get('config').GDPR_ENABLED) throw new AppError('not_found', 'GDPR endpoints are disabled');
  const subject = await enforce(c, decideGdprSubject(c.get('principal'), requested), { action, subjectUserId: requested });
  return subject.userId;
}

export const gdprRoutes = createRouter();

gdprRoutes.openapi(
  createRoute({ method: 'get', path: '/gdpr/consent', tags: ['gdpr'], summary: 'Consent state', security, request: { query: SubjectQuery }, responses: { 200: json(ConsentSchema, 'Consent'), ...authErrors } }),
  async (c) => {
    const userId = await resolveSubject(c, c.req.valid('query').userId, 'gdpr.consent.read');
    const state = await readConsent(c.get('db'), userId);
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
    responses: { 200: json(ConsentSchema, 'Consent after the change'), ...authErrors, ...errorResponses({ 413: '`payload_too_large`: body over 64 KiB' }) },
  }),
  async (c) => {
    const userId = await resolveSubject(c, c.req.valid('query').userId, 'gdpr.consent.update');
    const { before, after } = await changeConsent(c.get('db'), userId, c.req.valid('json'));
    await audit(c, { action: 'gdpr.consent.update', outcome: 'success', subjectUserId: userId, details: { before: before.consents, after: after.consents } });
    return c.json(after, 200);
  },
);

gdprRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/gdpr/export',
    tags: ['gdpr'],
    summary: 'Everything held about the subject: consent, recordings with signed download URLs, transcripts, audit events, grants',
    security,
    request: { query: SubjectQuery },
    responses: { 200: json(ExportSchema, 'Export document'), ...authErrors },
  }),
  async (c) => {
    const userId = await resolveSubject(c, c.req.valid('query').userId, 'gdpr.export');
    const config = c.get('config');
    const document = await exportSubject({ db: c.get('db'), config }, userId, config.PUBLIC_BASE_URL ?? new URL(c.req.url).origin);
    await audit(c, {
      action: 'gdpr.export',
      outcome: 'success',
      subjectUserId: userId,
      details: { recordings: document.recordings.length, transcripts: document.transcripts.length, auditEvents: document.auditEvents.length },
    });
    // The document holds working download links: no cache may keep it.
    c.header('cache-control', 'private, no-store');
    return c.json(document, 200);
  },
);

gdprRoutes.openapi(
  createRoute({
    method: 'delete',
    path: '/gdpr/data',
    tags: ['gdpr'],
    summary: 'Erase the subject: crypto-shredding plus deletion of objects and rows (legal holds excepted), with a verification report',
    security,
    request: { query: SubjectQuery },
    responses: { 200: json(ErasureSchema, 'Erasure report'), ...authErrors },
  }),
  async (c) => {
    const userId = await resolveSubject(c, c.req.valid('query').userId, 'gdpr.erased');
    const report = await eraseSubjectOnRequest(changeRequestDeps(c), userId);
    return c.json(report, 200);
  },
);
