/**
 * The one error type. Anything thrown anywhere becomes the contract's JSON
 * `{"error":{"code","message"}}` in `app.onError`; unknown errors become a bare 500 `internal`
 * so that no stack trace or secret ever reaches a client.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  consent_required: 403,
  not_found: 404,
  legal_hold: 409,
  archived: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  rate_limited: 429,
  internal: 500,
  integrity_error: 500,
  not_implemented: 501,
  service_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: ContentfulStatusCode;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = ERROR_STATUS[code];
  }

  toJSON(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.options.details !== undefined) body.error.details = this.options.details;
    return body;
  }

  toResponse(extraHeaders: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(this.toJSON()), {
      status: this.status,
      headers: { 'content-type': 'application/json; charset=utf-8', ...this.options.headers, ...extraHeaders },
    });
  }
}

export const notFound = (what = 'Recording') => new AppError('not_found', `${what} not found`);
export const notImplemented = (what: string) =>
  new AppError('not_implemented', `${what} is not implemented yet in this deployment`);
