/**
 * Uploads: the body flows gate (size limit + format sniffing) → chunked AES-256-GCM → storage,
 * never held whole. The row is written only after the object is complete, and a rejected upload
 * leaves no object, no row and no open multipart upload behind.
 */
import { z } from '@hono/zod-openapi';
import { parseMultipart } from 'multitars';
import type { Config } from '../config';
import type { Database } from '../db/client';
import { ChunkSealer, createSealStream, ciphertextSize } from '../crypto/chunked';
import { activeUserKey, newDataKey, wrapDataKey } from '../crypto/keys';
import { newRecordingId, type RecordingRow } from '../db/recordings';
import { AppError } from '../errors';
import { createAudioGate, type AudioFormat } from '../domain/audio-format';
import type { BlobStore } from '../storage/blob-store';
import { objectKeyFor } from '../storage/object-keys';
import { uploadStream } from '../storage/stream-upload';
import { E164, IsoTime, validationError } from '../domain/schemas';
import { assertMayRecord, MayNotRecord } from '../auth/permissions';
import type { Principal } from '../auth/principal';
import { getConsent } from '../db/consents';
import { commitRecording, recordingRow, type CommitDeps } from './create';

export const UploadFields = z
  .object({
    callId: z.string().min(1, 'is required').max(200),
    callerPhone: E164,
    receiverPhone: E164,
    startTime: IsoTime,
    endTime: IsoTime.optional(),
    userId: z.string().min(1).max(256).optional(),
  })
  .refine((f) => !f.endTime || Date.parse(f.endTime) >= Date.parse(f.startTime), { message: 'must not be before startTime', path: ['endTime'] });
export type UploadFields = z.infer<typeof UploadFields>;

export interface UploadDeps extends CommitDeps {
  db: Database;
  store: BlobStore;
  config: Config;
}

interface SealedObject {
  id: string;
  objectKey: string;
  format: AudioFormat;
  size: number;
  ciphertextSize: number;
  wrappedDataKey: Uint8Array;
  keyVersion: number;
}

/** Encrypt `body` into a new object for `ownerId`. Errors (413, 415, storage) leave nothing stored. */
async function sealIntoStorage(deps: UploadDeps, ownerId: string, body: ReadableStream<Uint8Array>): Promise<SealedObject> {
  const id = newRecordingId();
  const objectKey = objectKeyFor(id);
  const { version, key } = await activeUserKey(deps.db, deps.config.MASTER_ENCRYPTION_KEY, ownerId);
  const dataKey = newDataKey();
  const wrappedDataKey = await wrapDataKey(key, dataKey, id);
  const sealer = await ChunkSealer.create(dataKey, new TextEncoder().encode(id));
  const gate = createAudioGate(deps.config.MAX_FILE_SIZE);
  const sealed = body.pipeThrough(gate.stream).pipeThrough(createSealStream(sealer));
  const { size: stored } = await uploadStream(sealed, { db: deps.db, store: deps.store, key: objectKey, recordingId: id, contentType: 'application/octet-stream' });
  const size = gate.size();
  if (stored !== ciphertextSize(size)) {
    await deps.store.delete(objectKey);
    throw new Error(`stored ${stored} bytes, expected ${ciphertextSize(size)}`);
  }
  return { id, objectKey, format: gate.format()!, size, ciphertextSize: stored, wrappedDataKey, keyVersion: version };
}

/** The row goes in through the one creation path (src/recordings/create.ts). */
async function finish(deps: UploadDeps, ownerId: string, fields: UploadFields, sealed: SealedObject): Promise<RecordingRow> {
  const row = recordingRow({
    id: sealed.id,
    callId: fields.callId,
    userId: ownerId,
    callerPhone: fields.callerPhone,
    receiverPhone: fields.receiverPhone,
    startTime: fields.startTime,
    endTime: fields.endTime ?? null,
    format: sealed.format,
    size: sealed.size,
    status: 'processing',
    object: { objectKey: sealed.objectKey, ciphertextSize: sealed.ciphertextSize, wrappedDataKey: sealed.wrappedDataKey, keyVersion: sealed.keyVersion },
    createdAt: new Date().toISOString(),
  });
  await commitRecording(deps, { source: 'upload', row, abandon: () => deps.store.delete(sealed.objectKey) });
  return row;
}

/** A raw `audio/*` body; fields come from the query string and are checked before any byte is read. */
export async function uploadRaw(deps: UploadDeps, ownerId: string, fields: UploadFields, body: ReadableStream<Uint8Array>): Promise<RecordingRow> {
  return finish(deps, ownerId, fields, await sealIntoStorage(deps, ownerId, body));
}

const MAX_FIELD_BYTES = 4096;
const MAX_PARTS = 20;

async function readField(stream: ReadableStream<Uint8Array>, name: string): Promise<string> {
  const reader = stream.getReader();
  const pieces: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > MAX_FIELD_BYTES) {
      await reader.cancel();
      throw new AppError('invalid_request', `${name}: is longer than ${MAX_FIELD_BYTES} bytes`);
    }
    pieces.push(value);
  }
  const all = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(all);
}

const fieldName = (disposition: string | undefined) => /\bname="([^"]*)"/i.exec(disposition ?? '')?.[1] ?? /\bname=([^;\s]+)/i.exec(disposition ?? '')?.[1];

/**
 * `multipart/form-data` parsed as a stream (multitars). The `audio` part is encrypted as it
 * arrives; text fields may come before or after it, except `userId`, which picks the key and so
 * must precede the audio. `resolveOwner` applies the caller's rights to a given `userId`.
 */
export async function uploadMultipart(
  deps: UploadDeps,
  body: ReadableStream<Uint8Array>,
  contentType: string,
  resolveOwner: (requested: string | undefined) => Promise<string>,
): Promise<RecordingRow> {
  const fields: Record<string, string> = {};
  let sealed: SealedObject | undefined;
  let ownerId: string | undefined;
  let parts = 0;
  try {
    for await (const part of parseMultipart(body, { contentType })) {
      if (++parts > MAX_PARTS) throw new AppError('invalid_request', `body: more than ${MAX_PARTS} form parts`);
      const name = fieldName(part.headers['content-disposition']);
      if (!name) throw new AppError('invalid_request', 'body: a form part has no name');
      if (name === 'audio') {
        if (sealed) throw new AppError('invalid_request', 'audio: only one file may be sent');
        ownerId = await resolveOwner(fields.userId);
        sealed = await sealIntoStorage(deps, ownerId, part.stream());
      } else {
        if (name === 'userId' && sealed) throw new AppError('invalid_request', 'userId: must come before the audio part');
        fields[name] = await readField(part.stream(), name);
      }
    }
    if (!sealed || !ownerId) throw new AppError('invalid_request', 'audio: a file part named "audio" is required');
    const parsed = UploadFields.safeParse(fields);
    if (!parsed.success) throw validationError(parsed.error, 'body');
    return await finish(deps, ownerId, parsed.data, sealed);
  } catch (error) {
    if (sealed) await deps.store.delete(sealed.objectKey).catch(() => undefined);
    if (error instanceof AppError) throw error;
    if (error instanceof Error && /multipart|boundary/i.test(error.message)) {
      throw new AppError('invalid_request', 'body: malformed multipart/form-data', { cause: error });
    }
    throw error;
  }
}

/**
 * Whose recording this is: the caller's, or `requested`'s when an admin names another user; refused
 * (and audited) by the rule live calls follow too (`assertMayRecord`), before any audio byte is read.
 */
async function ownerFor(deps: UploadDeps, principal: Principal, requested: string | undefined): Promise<string> {
  const owner = requested ?? principal.id;
  try {
    assertMayRecord(principal, owner, await getConsent(deps.db, owner));
  } catch (error) {
    if (error instanceof MayNotRecord) await deps.audit({ action: 'recording.create', outcome: 'denied', subjectUserId: owner, details: { reason: error.reason } });
    throw error;
  }
  return owner;
}

export interface UploadRequest {
  contentType: string;
  /** The query string's fields (a raw body's metadata travels there). */
  query: Record<string, string>;
  body: ReadableStream<Uint8Array>;
}

/** `POST /recordings`: multipart/form-data with an `audio` part, or a raw audio body with its fields in the query. */
export async function uploadRecording(deps: UploadDeps, principal: Principal, request: UploadRequest): Promise<RecordingRow> {
  const resolveOwner = (requested: string | undefined) => ownerFor(deps, principal, requested);
  if (/^multipart\/form-data/i.test(request.contentType)) return uploadMultipart(deps, request.body, request.contentType, resolveOwner);
  if (/^audio\//i.test(request.contentType) || /^application\/octet-stream/i.test(request.contentType)) {
    const parsed = UploadFields.safeParse(request.query);
    if (!parsed.success) throw validationError(parsed.error, 'query');
    return uploadRaw(deps, await resolveOwner(parsed.data.userId), parsed.data, request.body);
  }
  throw new AppError('unsupported_media_type', 'Invalid file format: send multipart/form-data with an "audio" file, or a raw audio/* body');
}
