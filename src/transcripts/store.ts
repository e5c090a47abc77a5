/**
 * Storing and reading transcripts: sealed under the recording's data key (sealed.ts), indexed by
 * keyed hashes of their words (search-index.ts). What PUT, the transcription job, redaction and
 * the GDPR export call, so that every path seals and indexes the same way.
 */
import type { Config } from '../config';
import type { Database } from '../db/client';
import type { RecordingRow } from '../db/recordings';
import { findTranscript, writeTranscript, type TranscriptRewrite, type TranscriptRow } from '../db/transcripts';
import { dataKeyFor } from '../recordings/read';
import { textOf, type TranscriptContent, type TranscriptSegment } from './content';
import { openTranscript, sealTranscript } from './sealed';
import { MAX_INDEXED_WORDS, termTokens, wordsOf } from './search-index';

/** Only the recording's data key is needed: D1 and the master key. */
export interface TranscriptDeps {
  db: Database;
  config: Pick<Config, 'MASTER_ENCRYPTION_KEY'>;
}

export type TranscriptOrigin = { source: 'service' } | { source: 'automatic'; engine: string; audioObjectKey: string };

export interface StoredTranscript extends TranscriptContent {
  source: TranscriptRow['source'];
  engine: string | null;
  audioObjectKey: string | null;
}

/** The search index's tokens of a transcript's words. */
const tokensOf = (deps: TranscriptDeps, content: TranscriptContent) =>
  termTokens(deps.config.MASTER_ENCRYPTION_KEY, wordsOf(`${content.text} ${textOf(content.segments)}`).slice(0, MAX_INDEXED_WORDS));

async function write(deps: TranscriptDeps, row: RecordingRow, content: TranscriptContent, origin: TranscriptOrigin & { engine?: string | null; audioObjectKey?: string | null }, onlyFromOriginal?: string): Promise<boolean> {
  const dataKey = await dataKeyFor(deps, row);
  const sealed = await sealTranscript(dataKey, row.id, { text: content.text, segments: content.segments });
  const tokens = await tokensOf(deps, content);
  return writeTranscript(
    deps.db,
    { recordingId: row.id, userId: row.userId, language: content.language, sealed, source: origin.source, engine: origin.engine ?? null, audioObjectKey: origin.audioObjectKey ?? null, tokens, onlyFromOriginal },
    new Date().toISOString(),
  );
}

/**
 * Store `content` as the recording's transcript. A service's transcript replaces any other; an
 * automatic one is stored only if no service transcript exists and the recording still has the
 * original it was made from. False when it was not stored.
 */
export function saveTranscript(deps: TranscriptDeps, row: RecordingRow, content: TranscriptContent, origin: TranscriptOrigin): Promise<boolean> {
  return write(deps, row, content, origin, origin.source === 'automatic' ? origin.audioObjectKey : undefined);
}

/** The transcript, opened; null when there is none. A row from before sealing is sealed now. */
export async function readTranscript(deps: TranscriptDeps, row: RecordingRow): Promise<StoredTranscript | null> {
  const stored = await findTranscript(deps.db, row.id);
  if (!stored) return null;
  const meta = { source: stored.source, engine: stored.engine, audioObjectKey: stored.audioObjectKey };
  const content = await contentOf(deps, row, stored);
  if (!stored.sealed) await write(deps, row, content, meta as TranscriptOrigin);
  return { ...content, ...meta };
}

/** A stored row's content: opened with the recording's data key, or as it is for a row from before sealing. */
async function contentOf(deps: TranscriptDeps, row: RecordingRow, stored: TranscriptRow): Promise<TranscriptContent> {
  if (!stored.sealed) return { language: stored.language, text: stored.text, segments: stored.segments };
  const words = await openTranscript(await dataKeyFor(deps, row), row.id, new Uint8Array(stored.sealed));
  return { language: stored.language, text: words.text, segments: words.segments };
}

/** True when [startMs, endMs) and [start, end] seconds overlap. */
const overlaps = (start: number, end: number, startMs: number, endMs: number) => start * 1000 < endMs && end * 1000 > startMs;

/**
 * Remove what was said in [startMs, endMs) from a transcript: the words timed inside the span, or
 * the whole segment when its words have no times (a service's transcript, PocketSphinx's
 * utterances), since which of its words fall in the span is then unknown.
 */
export function withoutSpan(content: TranscriptContent, startMs: number, endMs: number): TranscriptContent {
  const segments: TranscriptSegment[] = [];
  for (const segment of content.segments) {
    if (!overlaps(segment.start, segment.end, startMs, endMs)) {
      segments.push(segment);
      continue;
    }
    if (!segment.words || segment.words.length === 0) continue;
    const words = segment.words.filter((w) => !overlaps(w.start, w.end, startMs, endMs));
    if (words.length === 0) continue;
    segments.push({ ...segment, start: words[0]!.start, end: words[words.length - 1]!.end, text: words.map((w) => w.text.trim()).join(' '), words });
  }
  return { language: content.language, text: textOf(segments), segments };
}

/**
 * A redaction of [startMs, endMs), before it is committed: the stored transcript without that
 * span's words, sealed under `newDataKey` (the key the redacted audio gets, media/redact.ts), with
 * the `updated_at` it was read at. The redaction's own D1 transaction stores it (src/db/redactions.ts),
 * so the swap to the new key and the transcript under it are one step. Its origin is kept, so an
 * automatic transcript still names the unredacted original and the next transcription job makes it
 * again from the redacted audio.
 */
export async function redactedTranscript(deps: TranscriptDeps, before: RecordingRow, newDataKey: Uint8Array, startMs: number, endMs: number): Promise<TranscriptRewrite> {
  const stored = await findTranscript(deps.db, before.id);
  if (!stored) return { readUpdatedAt: null };
  const content = withoutSpan(await contentOf(deps, before, stored), startMs, endMs);
  const sealed = await sealTranscript(newDataKey, before.id, { text: content.text, segments: content.segments });
  return { readUpdatedAt: stored.updatedAt, rewrite: { language: content.language, sealed, tokens: await tokensOf(deps, content) } };
}
