/**
 * Router factory: every resource file builds its routes on one of these, so zod validation
 * failures everywhere become the same 400 `invalid_request` whose message names the field.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../context';
import { validationError } from '../domain/schemas';

export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
}
