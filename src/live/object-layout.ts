/**
 * Where the bytes of a live recording's object go. The object is the chunked format's
 * header (56) ‖ sealed chunk 0 ‖ sealed chunk 1 ‖ …, and chunk k starts at byte 56 + k × 16400.
 * It is uploaded in parts of exactly PART_SIZE bytes (R2 wants every part but the last of one
 * size), so part n holds object bytes [(n−1)·PART_SIZE, n·PART_SIZE): part 1 starts with the
 * header, and a part boundary can fall inside a chunk. Everything here is arithmetic on those
 * offsets, so a part rebuilt after a restart is byte-identical.
 */
import { HEADER_SIZE, SEALED_CHUNK_SIZE } from '../crypto/chunked';
import { PART_SIZE } from '../storage/stream-upload';

export { PART_SIZE };

/** Object bytes once `fullChunks` chunks are sealed, plus the final chunk's sealed bytes when known. */
export const objectLength = (fullChunks: number, finalSealedBytes = 0) => HEADER_SIZE + fullChunks * SEALED_CHUNK_SIZE + finalSealedBytes;

export const chunkStart = (index: number) => HEADER_SIZE + index * SEALED_CHUNK_SIZE;

/** Object byte range of part `part` (numbered from 1) in an object of `length` bytes. */
export function partRange(part: number, length: number): { start: number; end: number } {
  const start = (part - 1) * PART_SIZE;
  return { start, end: Math.min(part * PART_SIZE, length) };
}

/** Chunks overlapping object bytes [start, end): indices first..last (last may be −1 when only the header is covered). */
export function chunksIn(start: number, end: number): { first: number; last: number } {
  const first = Math.max(0, Math.floor((start - HEADER_SIZE) / SEALED_CHUNK_SIZE));
  const last = Math.floor((end - 1 - HEADER_SIZE) / SEALED_CHUNK_SIZE);
  return { first, last };
}

/** Highest chunk index that lies wholly before object byte `offset` (−1 if none): safe to forget once that prefix is uploaded. */
export const lastChunkBefore = (offset: number) => Math.floor((offset - HEADER_SIZE) / SEALED_CHUNK_SIZE) - 1;

/** Full parts available when `fullChunks` chunks are sealed (the final, short part waits for the end of the call). */
export const fullPartsAvailable = (fullChunks: number) => Math.floor(objectLength(fullChunks) / PART_SIZE);

/**
 * Bytes [start, end) of the object, copied from the header and the sealed chunks that overlap it.
 * `chunk(k)` returns sealed chunk k (absent chunks are a bug in the caller: it throws).
 */
export function assembleRange(start: number, end: number, header: Uint8Array, chunk: (index: number) => Uint8Array | undefined): Uint8Array {
  const out = new Uint8Array(end - start);
  if (start < HEADER_SIZE) out.set(header.subarray(start, Math.min(HEADER_SIZE, end)), 0);
  const { first, last } = chunksIn(Math.max(start, HEADER_SIZE), end);
  for (let k = first; k <= last; k++) {
    const sealed = chunk(k);
    if (!sealed) throw new Error(`sealed chunk ${k} is missing for object bytes ${start}..${end}`);
    const at = chunkStart(k);
    const from = Math.max(start, at);
    const to = Math.min(end, at + sealed.length);
    if (to > from) out.set(sealed.subarray(from - at, to - at), from - start);
  }
  return out;
}
