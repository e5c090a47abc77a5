/**
 * Listing recordings as one caller sees them: everyone's for admins and auditors, otherwise those
 * the caller owns or was granted (src/auth/permissions.ts), filtered, newest first, a cursor page;
 * a transcript search goes through the keyed word index (src/transcripts/search-index.ts).
 */
import { recordingsVisibleTo } from '../auth/permissions';
import type { Principal } from '../auth/principal';
import type { Config } from '../config';
import type { Database } from '../db/client';
import { listRecordings, type ListFilters } from '../db/recordings';
import type { RecordingJson } from '../domain/recording';
import { queryTokens } from '../transcripts/search-index';
import { toRecordingJson } from './json';

export type ListQuery = Omit<ListFilters, 'visibleTo' | 'transcriptTokens'> & {
  /** Words the transcript must all contain (any order, case-insensitive). */
  q?: string;
};

/** A page of the recordings `principal` may see (the caller has checked `mayListRecordings`). */
export async function listRecordingPage(
  deps: { db: Database; config: Pick<Config, 'MASTER_ENCRYPTION_KEY'> },
  principal: Pick<Principal, 'id' | 'role'>,
  { q, ...filters }: ListQuery,
): Promise<{ items: RecordingJson[]; nextCursor: string | null }> {
  const transcriptTokens = q === undefined ? undefined : await queryTokens(deps.config.MASTER_ENCRYPTION_KEY, q);
  const { items, nextCursor } = await listRecordings(deps.db, { ...filters, transcriptTokens, visibleTo: recordingsVisibleTo(principal) });
  return { items: items.map((row) => toRecordingJson(row)), nextCursor };
}
