/**
 * Shapes of the domain that the HTTP layer, the live protocols and the services share (zod, so each
 * is validator, type and OpenAPI component at once), and the one way a zod failure becomes the
 * contract's 400. Lives below routes/ so that services never import the HTTP layer.
 */
import { z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import { AppError } from '../errors';

export const E164 = z.string().regex(/^\+[1-9]\d{1,14}$/, 'must be an E.164 phone number such as +14155550123');
export const IsoTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' });

/** 400 `invalid_request` whose message names the first failing field (`where` when the issue has no path). */
export function validationError(error: ZodError, where: string): AppError {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : where;
  return new AppError('invalid_request', `${field}: ${issue?.message ?? 'is invalid'}`, {
    details: error.issues.map((i) => ({ field: i.path.join('.') || where, message: i.message })),
  });
}
