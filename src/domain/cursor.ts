/**
 * The one page cursor of the listings (recordings, audit events, webhook dead letters): the time and
 * id of a page's last item, `time|id` in base64url. Every listing is newest first with ties broken
 * by id, so that pair is a position that rows inserted meanwhile do not move.
 */
import { base64UrlToBytes, bytesToBase64Url } from '../encoding';
import { AppError } from '../errors';

/** Where a page ended: the last item's time (ISO-8601) and id. */
export interface PagePosition {
  time: string;
  id: string;
}

/** The cursor that resumes a listing after `position`. */
export function encodeCursor(position: PagePosition): string {
  return bytesToBase64Url(new TextEncoder().encode(`${position.time}|${position.id}`));
}

/** The position a cursor of `encodeCursor` names; anything else is a 400 `invalid_request` naming the field. */
export function decodeCursor(cursor: string): PagePosition {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(base64UrlToBytes(cursor));
  } catch (cause) {
    throw invalidCursor(cause);
  }
  const separator = text.indexOf('|');
  const time = text.slice(0, separator);
  const id = text.slice(separator + 1);
  if (separator <= 0 || !id || Number.isNaN(Date.parse(time))) throw invalidCursor();
  return { time, id };
}

/**
 * A page of a listing out of the `limit + 1` rows its query fetched: the first `limit`, and a cursor
 * after the last of them. The one row more is there only to tell whether anything follows, so a page
 * that ends the listing exactly carries no cursor and the caller is not sent after an empty page.
 */
export function pageOf<T>(rows: T[], limit: number, positionOf: (row: T) => PagePosition): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(positionOf(last)) : null };
}

const invalidCursor = (cause?: unknown) =>
  new AppError('invalid_request', 'cursor: must be a nextCursor returned by this endpoint', { details: { field: 'cursor' }, cause });
