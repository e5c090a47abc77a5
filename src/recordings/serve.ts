/**
 * Audio serving, the one path behind download, stream (original and renditions), signed playback
 * URLs and their target: picks the rendition, resolves the Range, decrypts only what is asked,
 * audits the read (and any integrity failure or refusal) before a byte is sent, and answers with
 * the exact Content-Length on the wire and never a publicly cacheable response.
 */
import type { Role } from '../auth/principal';
import type { AuditInput } from '../compliance/audit-log';
import { IntegrityError } from '../crypto/aes-gcm';
import { hasReadGrant, listRenditions, findRecording, type RecordingRow } from '../db/recordings';
import { AppError, notFound } from '../errors';
import type { Logger } from '../observability/logger';
import { metrics } from '../observability/metrics';
import { signPlaybackUrl, verifyPlaybackSignature, type PlaybackLink, type Quality } from './playback-url';
import { resolveRange } from './range';
import { dataKeyFor, openRange, type ReadDeps, type SealedSource } from './read';
import { inArchive } from '../domain/recording';

export type AuditEvent = Omit<AuditInput, 'actor' | 'actorRole' | 'requestId'>;

export interface ServeDeps extends ReadDeps {
  /** Append an audit event for the caller of this request. */
  audit(event: AuditEvent): Promise<unknown>;
  log: Logger;
}

export interface AudioRequest {
  quality: Quality;
  /** The request's Range header, if any. */
  range?: string | undefined;
  /** Download: the whole original as an attachment, no Range. */
  attachment?: boolean;
  action: string;
}

export interface AudioAnswer {
  status: 200 | 206;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
}

/**
 * Audio is private: every use is authorized (a token, or a signed link whose grant and row are
 * checked again), so neither a shared nor a browser cache may keep a copy to answer with later.
 */
const CACHE_CONTROL = 'private, no-store';

function refuseUnservable(row: RecordingRow): void {
  if (inArchive(row)) throw new AppError('archived', 'The recording is archived; restore it first');
  if (row.status === 'recording' || !row.objectKey) throw new AppError('conflict', 'The recording has no stored audio yet');
}

/** The object to read for `quality`: its rendition once it exists, the original otherwise. */
async function pickSource(deps: ReadDeps, row: RecordingRow, quality: Quality) {
  if (quality !== 'original') {
    const rendition = (await listRenditions(deps.db, row.id)).find((r) => r.quality === quality);
    if (rendition) {
      const source: SealedSource = { objectKey: rendition.objectKey, size: rendition.size, context: `${row.id}/${rendition.quality}` };
      return { served: quality, source, contentType: rendition.contentType, extension: rendition.format };
    }
  }
  const source: SealedSource = { objectKey: row.objectKey!, size: row.size, context: row.id };
  return { served: 'original' as const, source, contentType: row.contentType, extension: row.format };
}

/**
 * The audio of a recording the caller may hear (the route has checked that). 409 `archived` while
 * archived, 409 `conflict` while there is no finished audio, 416 for a Range outside it.
 */
export async function serveAudio(deps: ServeDeps, row: RecordingRow, request: AudioRequest): Promise<AudioAnswer> {
  refuseUnservable(row);
  const { served, source, contentType, extension } = await pickSource(deps, row, request.quality);
  const range = request.attachment ? null : resolveRange(request.range, source.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? source.size - 1;
  const length = end - start + 1;
  let plaintext: ReadableStream<Uint8Array>;
  try {
    plaintext = await openRange(deps, await dataKeyFor(deps, row), source, start, end);
  } catch (error) {
    if (error instanceof IntegrityError) {
      await deps.audit({ action: 'recording.integrity_failure', recordingId: row.id, subjectUserId: row.userId, outcome: 'failure', details: { reason: error.reason, rendition: served } });
      deps.log.error('stored audio failed its integrity check', { recordingId: row.id, reason: error.reason });
    }
    throw error;
  }
  await deps.audit({ action: request.action, recordingId: row.id, subjectUserId: row.userId, outcome: 'success', details: { rendition: served, start, end } });
  metrics.downloadBytes.inc({ rendition: served }, length);

  const headers: Record<string, string> = {
    'content-type': contentType,
    // workerd sends a streamed body chunked, dropping this header, unless the body is a FixedLengthStream.
    'content-length': String(length),
    'accept-ranges': 'bytes',
    'x-rendition': served,
    'cache-control': CACHE_CONTROL,
  };
  if (request.attachment) headers['content-disposition'] = `attachment; filename="${row.id}.${extension}"`;
  if (range) headers['content-range'] = `bytes ${start}-${end}/${source.size}`;
  return { status: range ? 206 : 200, headers, body: plaintext.pipeThrough(new FixedLengthStream(length)) };
}

/** Who asks for a signed link: the link remembers them, and works only while they may still hear the recording. */
export interface LinkHolder {
  id: string;
  role: Role;
}

/**
 * A signed URL for a recording the caller may hear (the route has checked that); 409 `archived`
 * while archived. `base` is PUBLIC_BASE_URL or the request's origin.
 */
export async function issuePlaybackUrl(deps: ServeDeps, row: RecordingRow, holder: LinkHolder, options: { quality: Quality; ttlSeconds: number; base: string }) {
  refuseUnservable(row);
  const signed = await signPlaybackUrl(deps.config.MASTER_ENCRYPTION_KEY, options.base, row.id, options.quality, options.ttlSeconds, holder);
  await deps.audit({ action: 'recording.playback_url', recordingId: row.id, subjectUserId: row.userId, outcome: 'success', details: { quality: options.quality, expiresAt: signed.expiresAt } });
  return { url: signed.url, expiresAt: signed.expiresAt };
}

/** May the one who signed the link still hear the recording: an admin, its owner, or a grantee whose grant still stands. */
async function holderMayStillHear(deps: ReadDeps, row: RecordingRow, holder: LinkHolder): Promise<boolean> {
  if (holder.role === 'admin') return true;
  if (holder.role !== 'user') return false;
  return holder.id === row.userId || hasReadGrant(deps.db, row.id, holder.id);
}

/**
 * The target of a signed URL: no credentials, the signature is the authorization, and it is checked
 * again against the present on each use: 403 when expired, altered, or its signer's read grant was
 * revoked; 404 once the recording is deleted or erased. Every refusal is audited.
 */
export async function serveSignedPlayback(deps: ServeDeps, id: string, link: Partial<PlaybackLink>, range: string | undefined): Promise<AudioAnswer> {
  const deny = async (error: AppError): Promise<never> => {
    await deps.audit({ action: 'recording.play_signed', recordingId: id, outcome: 'denied', details: { reason: error.message } });
    throw error;
  };
  let verified: Awaited<ReturnType<typeof verifyPlaybackSignature>>;
  try {
    verified = await verifyPlaybackSignature(deps.config.MASTER_ENCRYPTION_KEY, id, link);
  } catch (error) {
    if (error instanceof AppError) return deny(error);
    throw error;
  }
  const row = await findRecording(deps.db, id);
  if (!row) return deny(notFound());
  if (!(await holderMayStillHear(deps, row, verified.holder))) return deny(new AppError('forbidden', 'This playback link is no longer valid: its access was withdrawn'));
  return serveAudio(deps, row, { quality: verified.quality, range, action: 'recording.play_signed' });
}
