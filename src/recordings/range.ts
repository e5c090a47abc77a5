/** HTTP Range parsing for one byte range: `a-b`, `a-`, `-n` (RFC 9110 §14.1.2). */
import { AppError } from '../errors';

export interface ResolvedRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * The range asked for, clamped to `size`; null for no (or an ignorable) Range header; 416 when
 * no byte of it exists. Multi-range requests are served as the whole (allowed by RFC 9110).
 */
export function resolveRange(header: string | undefined, size: number): ResolvedRange | null {
  if (!header) return null;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return null;
  const [, first, last] = match;
  const unsatisfiable = () => new AppError('range_not_satisfiable', `Range ${header.trim()} is outside the ${size} bytes`, { headers: { 'content-range': `bytes */${size}` } });
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) throw unsatisfiable();
  return { start, end };
}
