/** The one page cursor of the listings (src/domain/cursor.ts). */
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, pageOf } from '../../src/domain/cursor';
import { bytesToBase64Url } from '../../src/encoding';
import { AppError } from '../../src/errors';

const cursorOf = (text: string) => bytesToBase64Url(new TextEncoder().encode(text));

function refusal(cursor: string): unknown {
  try {
    decodeCursor(cursor);
    return null;
  } catch (error) {
    return error instanceof AppError ? { code: error.code, status: error.status, message: error.message } : error;
  }
}

describe('page cursor', () => {
  it('gives back the time and id of the position it was made from, as URL-safe text', () => {
    const position = { time: '2025-03-01T10:00:00.000Z', id: 'rec_01JNA4Z8X9Q2W3E4R5T6Y7U8I9' };
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it('keeps an id that itself holds the separator whole', () => {
    expect(decodeCursor(encodeCursor({ time: '2025-03-01T10:00:00Z', id: 'a|b' }))).toEqual({ time: '2025-03-01T10:00:00Z', id: 'a|b' });
  });

  it('answers 400 invalid_request naming the cursor for anything it did not make', () => {
    const invalid = { code: 'invalid_request', status: 400, message: 'cursor: must be a nextCursor returned by this endpoint' };
    for (const cursor of ['not base64!', 'a', cursorOf('no separator'), cursorOf('yesterday|rec_1'), cursorOf('2025-03-01T10:00:00Z|'), cursorOf('|rec_1')]) {
      expect(refusal(cursor), cursor).toEqual(invalid);
    }
    expect(refusal(bytesToBase64Url(new Uint8Array([0xff, 0xfe, 0x7c, 0x31]))), 'not UTF-8').toEqual(invalid);
  });
});

describe('pageOf', () => {
  const rows = [
    { at: '2025-03-01T10:00:03.000Z', id: 'c' },
    { at: '2025-03-01T10:00:02.000Z', id: 'b' },
    { at: '2025-03-01T10:00:01.000Z', id: 'a' },
  ];
  const positionOf = (row: { at: string; id: string }) => ({ time: row.at, id: row.id });

  it('gives no cursor when the rows fetched do not go past the limit', () => {
    expect(pageOf(rows, 3, positionOf)).toEqual({ items: rows, nextCursor: null });
    expect(pageOf(rows.slice(0, 2), 3, positionOf)).toEqual({ items: rows.slice(0, 2), nextCursor: null });
    expect(pageOf([], 3, positionOf)).toEqual({ items: [], nextCursor: null });
  });

  it('keeps `limit` rows of limit + 1, with a cursor at the last one kept', () => {
    const page = pageOf(rows, 2, positionOf);
    expect(page.items).toEqual(rows.slice(0, 2));
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor!)).toEqual({ time: '2025-03-01T10:00:02.000Z', id: 'b' });
  });
});
