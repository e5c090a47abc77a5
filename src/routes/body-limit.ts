/**
 * Every request body the API reads whole (JSON) is bounded before anything reads it: 64 KiB, and
 * 5 MiB for a transcript. Counted on the bytes received, so a chunked body with no Content-Length
 * is cut off too. Audio uploads are not read whole: they stream through their own MAX_FILE_SIZE gate.
 */
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context';
import { AppError } from '../errors';

export const JSON_BODY_LIMIT_BYTES = 64 * 1024;
export const TRANSCRIPT_BODY_LIMIT_BYTES = 5 * 1024 * 1024;

const UPLOAD = /^\/api\/v1\/recordings\/?$/;
const TRANSCRIPT = /^\/api\/v1\/recordings\/[^/]+\/transcript\/?$/;

const limited = (maxSize: number, what: string) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError('payload_too_large', `The request body is over the ${what} limit`);
    },
  });
const jsonLimit = limited(JSON_BODY_LIMIT_BYTES, '64 KiB');
const transcriptLimit = limited(TRANSCRIPT_BODY_LIMIT_BYTES, '5 MiB');

/** 413 `payload_too_large` for a body over its route's limit; audio uploads pass untouched. */
export const limitRequestBodies = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.method === 'POST' && UPLOAD.test(c.req.path)) return next();
  if (c.req.method === 'PUT' && TRANSCRIPT.test(c.req.path)) return transcriptLimit(c, next);
  return jsonLimit(c, next);
});
