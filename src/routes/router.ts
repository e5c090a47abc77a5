/**
 * Router factory: every resource file builds its routes on one of these, so zod validation
 * failures everywhere become the same 400 `invalid_request` whose message names the field.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import type { AppEnv } from '../context';
import { AppError } from '../errors';

export function validationError(error: ZodError, where: string): AppError {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : where;
  return new AppError('invalid_request', `${field}: ${issue?.message ?? 'is invalid'}`, {
    details: error.issues.map((i) => ({ field: i.path.join('.') || where, message: i.message })),
  });
}

export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
}
