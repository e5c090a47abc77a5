/**
 * D1 schema (drizzle-orm). Migrations in migrations/ are generated from this file by drizzle-kit
 * (`npm run generate`) and never edited by hand after release. Timestamps are ISO-8601 UTC strings
 * so that lexical order is time order and indexes serve range scans.
 */
import { sql } from 'drizzle-orm';
import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

export const recordings = sqliteTable(
  'recordings',
  {
    id: text('id').primaryKey(),
    callId: text('call_id').notNull(),
    userId: text('user_id').notNull(),
    callerPhone: text('caller_phone'),
    receiverPhone: text('receiver_phone'),
    startTime: text('start_time').notNull(),
    endTime: text('end_time'),
    durationMs: integer('duration_ms'),
    format: text('format').notNull(),
    contentType: text('content_type').notNull(),
    /** Bytes of the original (plaintext) audio. */
    size: integer('size').notNull().default(0),
    status: text('status', { enum: ['recording', 'processing', 'ready', 'failed', 'deleted'] }).notNull(),
    failureReason: text('failure_reason'),
    storageTier: text('storage_tier', { enum: ['hot', 'cool', 'cold', 'archive'] }).notNull().default('hot'),
    /** Set while a provider restores from archive asynchronously: the tier it is going back to. */
    pendingTier: text('pending_tier'),
    legalHold: integer('legal_hold', { mode: 'boolean' }).notNull().default(false),
    /** Storage key of the encrypted original. */
    objectKey: text('object_key'),
    /** Bytes of the encrypted object (header + sealed chunks). */
    ciphertextSize: integer('ciphertext_size'),
    /** Per-recording data key, wrapped by the owner's key of `keyVersion`; never stored in clear. */
    wrappedDataKey: blob('wrapped_data_key', { mode: 'buffer' }),
    keyVersion: integer('key_version'),
    pauses: text('pauses', { mode: 'json' }).$type<{ at: string; durationMs: number }[]>(),
    gaps: text('gaps', { mode: 'json' }).$type<{ fromSequence: number; toSequence: number }[]>(),
    redactions: text('redactions', { mode: 'json' }).$type<{ startMs: number; endMs: number; reason: string; at: string }[]>(),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
    /** Set when deleted by retention: the row stays, anonymized, as a tombstone for audits. */
    deletedAt: text('deleted_at'),
  },
  (t) => [
    index('recordings_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('recordings_created_idx').on(t.createdAt, t.id),
    index('recordings_call_idx').on(t.callId),
    index('recordings_status_idx').on(t.status, t.createdAt),
    index('recordings_caller_idx').on(t.callerPhone),
    index('recordings_receiver_idx').on(t.receiverPhone),
    // Retention and tiering count a recording's age from its call's start (see db/lifecycle.ts).
    index('recordings_status_start_idx').on(t.status, t.startTime, t.id),
    index('recordings_tier_start_idx').on(t.storageTier, t.startTime),
    index('recordings_key_version_idx').on(t.userId, t.keyVersion),
  ],
);

export const renditions = sqliteTable(
  'renditions',
  {
    recordingId: text('recording_id').notNull().references(() => recordings.id, { onDelete: 'cascade' }),
    quality: text('quality', { enum: ['high', 'low', 'mp3'] }).notNull(),
    objectKey: text('object_key').notNull(),
    format: text('format').notNull(),
    contentType: text('content_type').notNull(),
    size: integer('size').notNull(),
    ciphertextSize: integer('ciphertext_size').notNull(),
    durationMs: integer('duration_ms'),
    createdAt: text('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.recordingId, t.quality] })],
);

/**
 * One transcript per recording. Its words are never stored in clear: `sealed` is the JSON of
 * {text, segments} in the chunked format under the recording's data key (context `<id>/transcript`),
 * so crypto-shredding the owner's key shreds it too. `text`/`segments` hold words only on rows
 * written before sealing existed (`sealed` null); such a row is sealed, and they are emptied, the
 * first time it is read. Sealed rows keep them '' and [].
 * `source` says who wrote it: a transcript a service PUT is never replaced by the automatic one.
 */
export const transcripts = sqliteTable(
  'transcripts',
  {
    recordingId: text('recording_id').primaryKey().references(() => recordings.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    language: text('language').notNull(),
    text: text('text').notNull(),
    segments: text('segments', { mode: 'json' }).notNull().$type<{ start: number; end: number; speaker: string | null; text: string }[]>(),
    sealed: blob('sealed', { mode: 'buffer' }),
    source: text('source', { enum: ['service', 'automatic'] }).notNull().default('service'),
    /** The engine of an automatic transcript (`ffmpeg-pocketsphinx`, `workers-ai-whisper-large-v3-turbo`). */
    engine: text('engine'),
    /** The original it was made from: a redaction points the recording at a new one, and the automatic transcript is made again. */
    audioObjectKey: text('audio_object_key'),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
  },
  (t) => [index('transcripts_created_idx').on(t.createdAt), index('transcripts_user_idx').on(t.userId)],
);

/**
 * The search index of transcripts: one row per distinct word of a transcript, the word replaced
 * by a keyed hash (HMAC-SHA-256 under a key derived from MASTER_ENCRYPTION_KEY, truncated to 128
 * bits), so that `?q=` finds recordings without any word at rest in clear. Goes with its transcript.
 */
export const transcriptTerms = sqliteTable(
  'transcript_terms',
  {
    token: text('token').notNull(),
    recordingId: text('recording_id')
      .notNull()
      .references(() => transcripts.recordingId, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.token, t.recordingId] }), index('transcript_terms_recording_idx').on(t.recordingId)],
);

/**
 * Per-user key versions. `wrappedSecret` is the random per-user secret sealed under a key derived
 * from MASTER_ENCRYPTION_KEY: the user key is HKDF(master, secret), so destroying the secret
 * (setting it to NULL, `destroyedAt`) crypto-shreds every recording of that user.
 */
export const userKeys = sqliteTable(
  'user_keys',
  {
    userId: text('user_id').notNull(),
    version: integer('version').notNull(),
    wrappedSecret: blob('wrapped_secret', { mode: 'buffer' }),
    createdAt: text('created_at').notNull(),
    retiredAt: text('retired_at'),
    destroyedAt: text('destroyed_at'),
  },
  (t) => [primaryKey({ columns: [t.userId, t.version] }), index('user_keys_created_idx').on(t.createdAt)],
);

export const consents = sqliteTable('consents', {
  userId: text('user_id').primaryKey(),
  recording: integer('recording', { mode: 'boolean' }).notNull().default(true),
  transcription: integer('transcription', { mode: 'boolean' }).notNull().default(true),
  updatedAt: text('updated_at').notNull(),
});

export const legalHolds = sqliteTable(
  'legal_holds',
  {
    id: text('id').primaryKey(),
    recordingId: text('recording_id').notNull(),
    reason: text('reason'),
    placedBy: text('placed_by').notNull(),
    placedAt: text('placed_at').notNull(),
    releasedBy: text('released_by'),
    releasedAt: text('released_at'),
  },
  (t) => [index('legal_holds_recording_idx').on(t.recordingId, t.placedAt)],
);

export const recordingPermissions = sqliteTable(
  'recording_permissions',
  {
    recordingId: text('recording_id').notNull().references(() => recordings.id, { onDelete: 'cascade' }),
    granteeUserId: text('grantee_user_id').notNull(),
    permission: text('permission', { enum: ['read'] }).notNull().default('read'),
    grantedBy: text('granted_by').notNull(),
    grantedAt: text('granted_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.recordingId, t.granteeUserId] }), index('recording_permissions_grantee_idx').on(t.granteeUserId)],
);

/**
 * Append-only audit log in `shard` chains (src/compliance/audit-ledger.ts): within a shard,
 * `hash` = SHA-256 over prevHash and the event's canonical JSON, `seq` is the chain order given by
 * the shard's sequencer, and the unique index makes a forked chain impossible to write.
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: text('id').primaryKey(),
    shard: integer('shard').notNull().default(0),
    seq: integer('seq').notNull(),
    at: text('at').notNull(),
    actor: text('actor').notNull(),
    actorRole: text('actor_role'),
    action: text('action').notNull(),
    recordingId: text('recording_id'),
    subjectUserId: text('subject_user_id'),
    outcome: text('outcome', { enum: ['success', 'denied', 'failure'] }).notNull(),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
    requestId: text('request_id'),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    uniqueIndex('audit_events_shard_seq_idx').on(t.shard, t.seq),
    index('audit_events_recording_idx').on(t.recordingId, t.at),
    index('audit_events_actor_idx').on(t.actor, t.at),
    index('audit_events_subject_idx').on(t.subjectUserId, t.at),
    index('audit_events_action_idx').on(t.action, t.at),
    index('audit_events_at_idx').on(t.at, t.id),
  ],
);

/** Where each resumable background job (retention, tiering, rotation) stopped last time. */
export const jobCursors = sqliteTable('job_cursors', {
  job: text('job').primaryKey(),
  cursor: text('cursor'),
  runStartedAt: text('run_started_at'),
  updatedAt: text('updated_at').notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
});

/**
 * Every multipart upload in flight, written before the first part and removed after complete or
 * abort: the hourly cron aborts the ones left behind by a crash (no provider lists them cheaply).
 */
export const openUploads = sqliteTable(
  'open_uploads',
  {
    uploadId: text('upload_id').primaryKey(),
    objectKey: text('object_key').notNull(),
    recordingId: text('recording_id'),
    startedAt: text('started_at').notNull(),
  },
  (t) => [index('open_uploads_started_idx').on(t.startedAt)],
);

/**
 * When a recording was last brought back from a colder tier. Tiering by age counts from here rather
 * than from `createdAt`, so that a restored recording is not archived again by the next daily run:
 * it stays hot for ARCHIVAL_AFTER_DAYS and then ages through the tiers again.
 */
export const tierRestores = sqliteTable('tier_restores', {
  recordingId: text('recording_id')
    .primaryKey()
    .references(() => recordings.id, { onDelete: 'cascade' }),
  requestedAt: text('requested_at').notNull(),
  requestedBy: text('requested_by').notNull(),
});

/**
 * Unredacted originals still in storage. A redaction seals the redacted audio under a NEW data key
 * and object key and, in the same transaction that points the recording at both, records the
 * superseded object here. Its data key is kept here (`wrappedDataKey`, wrapped as the recording's
 * was, context = the recording id) only when the recording is on legal hold at that instant, so
 * that what was redacted can still be produced; otherwise it is NULL from that transaction on, and
 * no copy of the unredacted object (a provider's version, a soft-deleted blob) can be opened again.
 * Destroying an original forgets its row first (in one statement that a concurrent hold wins), then
 * deletes the object. No foreign key: the row must outlive a purge of the recording's row, or the
 * object would be lost track of.
 */
export const redactionOriginals = sqliteTable(
  'redaction_originals',
  {
    objectKey: text('object_key').primaryKey(),
    recordingId: text('recording_id').notNull(),
    /** Plaintext bytes (what openRange needs) and stored bytes. */
    size: integer('size').notNull(),
    ciphertextSize: integer('ciphertext_size').notNull(),
    contentType: text('content_type').notNull(),
    /** The redaction that superseded it: its 1-based position in `recordings.redactions`. */
    redaction: integer('redaction').notNull(),
    /** The object's data key, wrapped by the owner's key of `keyVersion`: kept only under a legal hold, else NULL. */
    wrappedDataKey: blob('wrapped_data_key', { mode: 'buffer' }),
    keyVersion: integer('key_version'),
    createdAt: text('created_at').notNull(),
  },
  (t) => [index('redaction_originals_recording_idx').on(t.recordingId, t.createdAt)],
);

/**
 * Webhook events whose delivery gave up: after WEBHOOK_RETRY_HOURS of retries, or when the webhook
 * queue moved the message to its dead-letter queue. One row per event id; an admin lists them and
 * replays one, which queues the very same event (same id) again. A replay that fails in its turn
 * lands here again under the same id, with its attempts added up.
 */
export const webhookDeadLetters = sqliteTable(
  'webhook_dead_letters',
  {
    id: text('id').primaryKey(),
    event: text('event').notNull(),
    data: text('data', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
    /** When the event was emitted (the `createdAt` receivers see). */
    createdAt: text('created_at').notNull(),
    failedAt: text('failed_at').notNull(),
    attempts: integer('attempts').notNull(),
    lastError: text('last_error').notNull(),
    /** Set when an admin queues it again; cleared if that delivery fails too. */
    replayedAt: text('replayed_at'),
    replayedBy: text('replayed_by'),
  },
  (t) => [index('webhook_dead_letters_failed_idx').on(t.failedAt, t.id)],
);

/**
 * Denied authentications, counted per client address, minute and reason instead of one audit
 * event each (a flood without credentials must not cost an audit append per request). Once its
 * minute is over, an address's rows become one `auth.denied` audit event with the count and are
 * deleted; `claimed_at` is the lease of the sweeper writing that event (src/compliance/denied-auth.ts).
 */
export const authDenials = sqliteTable(
  'auth_denials',
  {
    source: text('source').notNull(),
    windowStart: text('window_start').notNull(),
    reason: text('reason').notNull(),
    count: integer('count').notNull(),
    firstAt: text('first_at').notNull(),
    lastAt: text('last_at').notNull(),
    firstPath: text('first_path').notNull(),
    claimedAt: text('claimed_at'),
  },
  (t) => [primaryKey({ columns: [t.source, t.windowStart, t.reason] }), index('auth_denials_window_idx').on(t.windowStart)],
);
