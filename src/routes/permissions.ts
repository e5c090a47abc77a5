/**
 * Per-recording read grants: the owner or an admin lets another user read one recording (metadata,
 * download, stream, playback URL, transcript), or takes it back. Grantees and auditors may not
 * change grants (403); anyone else does not learn the recording exists (404). Every change is audited.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { enforce, loadRecordingFor } from '../auth/middleware';
import { mayListGrants } from '../auth/permissions';
import { audit } from '../context';
import { grantReadAccess, listRecordingGrants, revokeReadAccess } from '../recordings/grants';
import { authErrors, errorResponses, IdParams, json, security } from './schemas';
import { createRouter } from './router';

const UserId = z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters');
const Grant = z.object({ userId: UserId, permission: z.enum(['read']).default('read') }).openapi('PermissionGrant');
const GrantList = z
  .object({
    recordingId: z.string(),
    grants: z.array(z.object({ userId: z.string(), permission: z.literal('read'), grantedBy: z.string(), grantedAt: z.string() })),
  })
  .openapi('PermissionGrants');

export const permissionRoutes = createRouter();

permissionRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/recordings/{id}/permissions',
    tags: ['permissions'],
    summary: "The recording's read grants (owner, admin or auditor)",
    security,
    request: { params: IdParams },
    responses: { 200: json(GrantList, 'Grants'), ...authErrors },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const principal = c.get('principal');
    const row = await loadRecordingFor(c, id, 'metadata', 'recording.permission.list');
    await enforce(c, mayListGrants(principal, row.userId), { action: 'recording.permission.list', recordingId: id });
    const list = await listRecordingGrants(c.get('db'), id);
    await audit(c, { action: 'recording.permission.list', recordingId: id, subjectUserId: row.userId, outcome: 'success' });
    return c.json(list, 200);
  },
);

permissionRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/recordings/{id}/permissions',
    tags: ['permissions'],
    summary: 'Grant another user read access to this recording (owner or admin); granting again changes nothing',
    security,
    request: { params: IdParams, body: { content: { 'application/json': { schema: Grant } }, required: true } },
    responses: { 200: json(GrantList, 'Grants after the change'), ...authErrors, ...errorResponses({ 413: '`payload_too_large`: body over 64 KiB' }) },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { userId, permission } = c.req.valid('json');
    const row = await loadRecordingFor(c, id, 'change', 'recording.permission.grant');
    const { created, list } = await grantReadAccess(c.get('db'), row, userId, c.get('principal').id);
    await audit(c, { action: 'recording.permission.grant', recordingId: id, subjectUserId: userId, outcome: 'success', details: { permission, owner: row.userId, created } });
    return c.json(list, 200);
  },
);

permissionRoutes.openapi(
  createRoute({
    method: 'delete',
    path: '/recordings/{id}/permissions',
    tags: ['permissions'],
    summary: "Revoke a user's read access (owner or admin); revoking an absent grant changes nothing",
    security,
    request: { params: IdParams, query: z.object({ userId: UserId }) },
    responses: { 200: json(GrantList, 'Grants after the change'), ...authErrors },
  }),
  async (c) => {
    const { id } = c.req.valid('param');
    const { userId } = c.req.valid('query');
    const row = await loadRecordingFor(c, id, 'change', 'recording.permission.revoke');
    const { existed, list } = await revokeReadAccess(c.get('db'), id, userId);
    await audit(c, { action: 'recording.permission.revoke', recordingId: id, subjectUserId: userId, outcome: 'success', details: { owner: row.userId, existed } });
    return c.json(list, 200);
  },
);
