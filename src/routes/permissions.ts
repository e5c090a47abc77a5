/** Per-recording read grants: the owner or an admin lets another user read one recording. */
import { createRoute, z } from '@hono/zod-openapi';
import { notImplemented } from '../errors';
import { authErrors, IdParams, json, security } from './schemas';
import { createRouter } from './router';

const Grant = z.object({ userId: z.string().min(1).max(256), permission: z.enum(['read']).default('read') }).openapi('PermissionGrant');
const GrantList = z.object({
  recordingId: z.string(),
  grants: z.array(z.object({ userId: z.string(), permission: z.literal('read'), grantedBy: z.string(), grantedAt: z.string() })),
});

export const permissionRoutes = createRouter();

permissionRoutes.openapi(
  createRoute({
    method: 'post',
    path: '/recordings/{id}/permissions',
    tags: ['permissions'],
    summary: "Grant another user read access to this recording (owner or admin)",
    security,
    request: { params: IdParams, body: { content: { 'application/json': { schema: Grant } }, required: true } },
    responses: { 200: json(GrantList, 'Grants after the change'), ...authErrors },
  }),
  () => {
    throw notImplemented('Permissions');
  },
);

permissionRoutes.openapi(
  createRoute({
    method: 'delete',
    path: '/recordings/{id}/permissions',
    tags: ['permissions'],
    summary: "Revoke a user's read access (owner or admin)",
    security,
    request: { params: IdParams, query: z.object({ userId: z.string().min(1).max(256) }) },
    responses: { 200: json(GrantList, 'Grants after the change'), ...authErrors },
  }),
  () => {
    throw notImplemented('Permissions');
  },
);
