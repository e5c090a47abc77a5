/**
 * Shapes shared by several routes. Each zod schema is at once the runtime validator, the
 * TypeScript type (`z.infer`) and the OpenAPI component.
 */
import { z } from '@hono/zod-openapi';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'not_found' }),
      message: z.string().openapi({ example: 'Recording not found' }),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

export const RecordingId = z.string().regex(/^rec_[0-9A-Za-z]{16,40}$/, 'must be a recording id').openapi({ example: 'rec_01JD4W9X0Y1Z2A3B4C5D6E7F8G' });

export const IdParams = z.object({ id: RecordingId.openapi({ param: { name: 'id', in: 'path' } }) });

const errorResponse = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });

/** The error responses every authenticated route may give. */
export const authErrors = {
  400: errorResponse('Invalid request: the message names the field'),
  401: errorResponse('Missing or invalid credentials'),
  403: errorResponse('Authenticated but not allowed'),
  404: errorResponse('Not found, or not yours (existence is not disclosed)'),
  429: errorResponse('Rate limited'),
  500: errorResponse('Internal error (no details disclosed)'),
  501: errorResponse('Not implemented in this deployment yet'),
} as const;

export const errorResponses = (codes: Record<number, string>) =>
  Object.fromEntries(Object.entries(codes).map(([status, description]) => [status, errorResponse(description)]));

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });

export const security: Record<string, string[]>[] = [{ bearerAuth: [] }, { apiKey: [] }];
