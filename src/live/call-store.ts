/**
 * The call object's SQLite storage. Hibernation and eviction drop memory, so everything a call
 * needs to go on lives here: its identity and wrapped data key (never the key in clear), the
 * sequence counter, the audio not yet sealed into chunks and chunks that arrived early (each
 * frame sealed on its own, src/crypto/live-frames.ts: nothing of a call is stored in clear; a
 * stream row is one chunk, or a run of in-order chunks of one batch sealed as one frame, keyed by
 * its first sequence),
 * sealed chunks not yet uploaded, the multipart upload and its parts' etags, pauses and gaps.
 * Every method is synchronous (the SQL API is), and each mutation is one transaction, so a chunk
 * that has been acknowledged is on disk whatever happens next.
 *
 * The hot path (chunks in order, nothing buffered) costs one row insert and one state update per
 * batch: the call's state row is kept in memory (read once per object instance), the batch's
 * run of in-order chunks is staged there, and `flush()` writes what is staged and the state row
 * together. The recorder flushes at the end of every batch, before its acks are sent (the
 * runtime then holds them until that write is durable), and every other method here flushes
 * first, so SQL never sees staged and written rows out of order. Staged rows never outlive the
 * batch that made them: an object that dies first loses them unacked.
 */
import { FRAME_OVERHEAD } from '../crypto/live-frames';
import type { Gap, Pause } from './protocol';

export type CallPhase = 'recording' | 'finalizing' | 'stopped';

export interface CallState {
  owner: string;
  ownerRole: string;
  callId: string;
  recordingId: string;
  format: string;
  callerPhone: string | null;
  receiverPhone: string | null;
  keyVersion: number;
  wrappedKey: Uint8Array;
  salt: Uint8Array;
  /** Connection object (id string) that started or last resumed the call: told when an alarm ends it. */
  connection: string | null;
  startedMs: number;
  lastActivityMs: number;
  nextSequence: number;
  /** Plaintext bytes taken into the recording so far (sealed or not). */
  plaintextSize: number;
  /** Plaintext bytes in `stream` not yet sealed into chunks. */
  streamBytes: number;
  /** Bytes of the first `stream` row already sealed. */
  streamOffset: number;
  /** Chunks waiting beyond a hole (dropped-while-paused placeholders included), and their plaintext bytes. */
  bufferedCount: number;
  bufferedBytes: number;
  /** Full chunks sealed: the index of the next chunk. */
  sealedChunks: number;
  /** Plaintext bytes of the final short chunk, once sealed (the call is then closed to audio). */
  finalChunkSize: number | null;
  uploadId: string | null;
  pausedAtMs: number | null;
  phase: CallPhase;
  objectStored: boolean;
  rowWritten: boolean;
  endedMs: number | null;
  endReason: string | null;
}

export type NewCall = Pick<
  CallState,
  'owner' | 'ownerRole' | 'callId' | 'recordingId' | 'format' | 'callerPhone' | 'receiverPhone' | 'keyVersion' | 'wrappedKey' | 'salt' | 'connection' | 'startedMs'
>;

const SCHEMA = `
create table if not exists call_state (
  id integer primary key check (id = 1),
  owner text not null, owner_role text not null, call_id text not null, recording_id text not null,
  format text not null, caller_phone text, receiver_phone text,
  key_version integer not null, wrapped_key blob not null, salt blob not null,
  connection text, started_ms integer not null, last_activity_ms integer not null,
  next_sequence integer not null default 0, plaintext_size integer not null default 0,
  stream_bytes integer not null default 0, stream_offset integer not null default 0,
  buffered_count integer not null default 0, buffered_bytes integer not null default 0, sealed_chunks integer not null default 0,
  final_chunk_size integer, upload_id text, paused_at_ms integer,
  phase text not null default 'recording', object_stored integer not null default 0,
  row_written integer not null default 0, ended_ms integer, end_reason text
);
create table if not exists stream (seq integer primary key, data blob not null);
create table if not exists buffered (seq integer primary key, data blob);
create table if not exists sealed (chunk integer primary key, data blob not null);
create table if not exists parts (part integer primary key, etag text not null);
create table if not exists pauses (at_ms integer primary key, duration_ms integer not null);
create table if not exists gaps (from_seq integer primary key, to_seq integer not null);
`;

type Row = Record<string, SqlStorageValue>;

const bytes = (value: SqlStorageValue): Uint8Array => new Uint8Array(value as ArrayBuffer);
const num = (value: SqlStorageValue): number => Number(value);
const optNum = (value: SqlStorageValue): number | null => (value === null ? null : Number(value));
const optText = (value: SqlStorageValue): string | null => (value === null ? null : String(value));
/** Plaintext bytes of a stored (sealed) frame. */
const frameBytes = (stored: Uint8Array | null): number => (stored === null ? 0 : stored.length - FRAME_OVERHEAD);

function toState(row: Row): CallState {
  return {
    owner: String(row.owner),
    ownerRole: String(row.owner_role),
    callId: String(row.call_id),
    recordingId: String(row.recording_id),
    format: String(row.format),
    callerPhone: optText(row.caller_phone!),
    receiverPhone: optText(row.receiver_phone!),
    keyVersion: num(row.key_version!),
    wrappedKey: bytes(row.wrapped_key!),
    salt: bytes(row.salt!),
    connection: optText(row.connection!),
    startedMs: num(row.started_ms!),
    lastActivityMs: num(row.last_activity_ms!),
    nextSequence: num(row.next_sequence!),
    plaintextSize: num(row.plaintext_size!),
    streamBytes: num(row.stream_bytes!),
    streamOffset: num(row.stream_offset!),
    bufferedCount: num(row.buffered_count!),
    bufferedBytes: num(row.buffered_bytes!),
    sealedChunks: num(row.sealed_chunks!),
    finalChunkSize: optNum(row.final_chunk_size!),
    uploadId: optText(row.upload_id!),
    pausedAtMs: optNum(row.paused_at_ms!),
    phase: String(row.phase) as CallPhase,
    objectStored: num(row.object_stored!) === 1,
    rowWritten: num(row.row_written!) === 1,
    endedMs: optNum(row.ended_ms!),
    endReason: optText(row.end_reason!),
  };
}

export class CallStore {
  private ready = false;
  /** The state row as it is once staged rows are written; undefined: read it again from SQL. */
  private cached: CallState | null | undefined;
  /** In-order frames taken into the stream but not yet written, and whether `cached` is ahead of the row. */
  private staged: { seq: number; data: Uint8Array }[] = [];
  private dirty = false;

  constructor(private readonly storage: DurableObjectStorage) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /** True once a call was started here; reads only, so a stray chunk for an unknown call writes nothing. */
  private exists(): boolean {
    if (!this.ready) this.ready = this.sql.exec("select 1 from sqlite_master where type = 'table' and name = 'call_state'").toArray().length > 0;
    return this.ready;
  }

  /** After `deleteAll()`: the tables are gone. */
  forget(): void {
    this.ready = false;
    this.cached = undefined;
    this.staged = [];
    this.dirty = false;
  }

  /** The call's state, staged chunks included (from memory once read). Treat it as a snapshot: methods here replace it, never change it. */
  state(): CallState | null {
    if (this.cached === undefined) {
      if (!this.exists()) return null;
      const row = this.sql.exec('select * from call_state where id = 1').toArray()[0];
      this.cached = row ? toState(row) : null;
    }
    return this.cached;
  }

  /**
   * Write the staged chunks and the state row (nothing to do when nothing is staged), in the
   * caller's synchronous run: the runtime commits them together. On failure it stays staged, for
   * the next flush (the writes are idempotent) or discardStaged; the caller must then not ack
   * what it staged.
   */
  flush(): void {
    if (!this.dirty) return;
    const state = this.cached!;
    const rows = this.staged;
    // No savepoint (it cost as much as the writes): the runtime commits the run's writes together,
    // and these are idempotent (a failed flush is retried, or undone by discardStaged).
    for (const row of rows) this.sql.exec('insert or replace into stream (seq, data) values (?, ?)', row.seq, row.data);
    this.sql.exec(
      'update call_state set next_sequence = ?, plaintext_size = ?, stream_bytes = ?, last_activity_ms = ? where id = 1',
      state.nextSequence, state.plaintextSize, state.streamBytes, state.lastActivityMs,
    );
    this.staged = [];
    this.dirty = false;
  }

  /**
   * Forget what is staged and read the state from SQL again (after a flush that failed): rows a
   * failed flush wrote beyond the stored next_sequence go too, so the stream holds only what the
   * state row counts.
   */
  discardStaged(): void {
    this.staged = [];
    this.dirty = false;
    this.cached = undefined;
    this.sql.exec('delete from stream where seq >= (select next_sequence from call_state where id = 1)');
  }

  /** Run a write that changes the state row in SQL: staged rows first, and the row read again afterwards. */
  private write<T>(operation: () => T): T {
    this.flush();
    try {
      return operation();
    } finally {
      this.cached = undefined;
    }
  }

  /** A read of rows a flush may change: staged rows first. */
  private read<T>(operation: () => T): T {
    this.flush();
    return operation();
  }

  create(call: NewCall): void {
    this.forget();
    this.storage.transactionSync(() => {
      this.sql.exec(SCHEMA);
      this.sql.exec(
        `insert into call_state (id, owner, owner_role, call_id, recording_id, format, caller_phone, receiver_phone, key_version, wrapped_key, salt, connection, started_ms, last_activity_ms)
         values (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        call.owner, call.ownerRole, call.callId, call.recordingId, call.format, call.callerPhone, call.receiverPhone,
        call.keyVersion, call.wrappedKey, call.salt, call.connection, call.startedMs, call.startedMs,
      );
    });
    this.ready = true;
  }

  /** Activity without a new chunk (a duplicate): staged, written with the batch. With `connection`: written now. */
  touch(nowMs: number, connection?: string): void {
    if (connection === undefined) {
      const state = this.state()!;
      this.cached = { ...state, lastActivityMs: nowMs };
      this.dirty = true;
      return;
    }
    this.write(() => this.sql.exec('update call_state set last_activity_ms = ?, connection = ? where id = 1', nowMs, connection));
  }

  isBuffered(sequence: number): boolean {
    return this.read(() => this.sql.exec('select 1 from buffered where seq = ?', sequence).toArray().length > 0);
  }

  /** Keep a sealed frame that arrived ahead of `nextSequence` (`sealed` null: it arrived while paused and is dropped). */
  buffer(sequence: number, sealed: Uint8Array | null, nowMs: number): void {
    this.write(() => this.storage.transactionSync(() => {
      this.sql.exec('insert into buffered (seq, data) values (?, ?)', sequence, sealed);
      this.sql.exec(
        'update call_state set buffered_count = buffered_count + 1, buffered_bytes = buffered_bytes + ?, last_activity_ms = ? where id = 1',
        frameBytes(sealed),
        nowMs,
      );
    }));
  }

  /**
   * Take sealed frame `state.nextSequence` into the recording (`sealed` null: dropped while
   * paused, only the sequence advances; `count` > 1: the frame is a run of that many in-order
   * chunks, sealed together, only while nothing is buffered), then every buffered frame that now follows without a
   * hole. `state` is the current one (`state()`). The common case (nothing buffered) runs for
   * every chunk and only stages the frame (see `flush`). The state as it is afterwards.
   */
  append(state: CallState, sealed: Uint8Array | null, nowMs: number, count = 1): CallState {
    if (state.bufferedCount === 0) {
      const added = frameBytes(sealed);
      if (added > 0) this.staged.push({ seq: state.nextSequence, data: sealed! });
      const after = { ...state, nextSequence: state.nextSequence + count, plaintextSize: state.plaintextSize + added, streamBytes: state.streamBytes + added, lastActivityMs: nowMs };
      this.cached = after;
      this.dirty = true;
      return after;
    }
    if (count !== 1) throw new Error('a run of chunks is only appended while nothing is buffered');
    this.flush();
    const after = this.storage.transactionSync(() => {
      let next = state.nextSequence;
      let added = 0;
      let unbufferedCount = 0;
      let unbufferedBytes = 0;
      const take = (sequence: number, piece: Uint8Array | null) => {
        if (frameBytes(piece) > 0) {
          this.sql.exec('insert into stream (seq, data) values (?, ?)', sequence, piece);
          added += frameBytes(piece);
        }
      };
      take(next, sealed);
      next++;
      while (state.bufferedCount > unbufferedCount) {
        const row = this.sql.exec('select data from buffered where seq = ?', next).toArray()[0];
        if (!row) break;
        const piece = row.data === null ? null : bytes(row.data!);
        take(next, piece);
        unbufferedCount++;
        unbufferedBytes += frameBytes(piece);
        this.sql.exec('delete from buffered where seq = ?', next);
        next++;
      }
      this.sql.exec(
        `update call_state set next_sequence = ?, plaintext_size = plaintext_size + ?, stream_bytes = stream_bytes + ?,
         buffered_count = buffered_count - ?, buffered_bytes = buffered_bytes - ?, last_activity_ms = ? where id = 1`,
        next, added, added, unbufferedCount, unbufferedBytes, nowMs,
      );
      return {
        ...state,
        nextSequence: next,
        plaintextSize: state.plaintextSize + added,
        streamBytes: state.streamBytes + added,
        bufferedCount: state.bufferedCount - unbufferedCount,
        bufferedBytes: state.bufferedBytes - unbufferedBytes,
        lastActivityMs: nowMs,
      };
    });
    this.cached = after;
    return after;
  }

  /**
   * At the end of a call: buffered chunks beyond a hole are spliced in after it, and each hole
   * is recorded as a gap, never silently closed.
   */
  closeGaps(): void {
    this.write(() => this.storage.transactionSync(() => {
      let next = num(this.sql.exec('select next_sequence from call_state where id = 1').one().next_sequence!);
      let added = 0;
      for (const row of this.sql.exec('select seq, data from buffered order by seq').toArray()) {
        const sequence = num(row.seq!);
        if (sequence > next) this.sql.exec('insert into gaps (from_seq, to_seq) values (?, ?)', next, sequence - 1);
        const piece = row.data === null ? null : bytes(row.data!);
        if (frameBytes(piece) > 0) {
          this.sql.exec('insert into stream (seq, data) values (?, ?)', sequence, piece);
          added += frameBytes(piece);
        }
        next = sequence + 1;
      }
      this.sql.exec('delete from buffered');
      this.sql.exec(
        'update call_state set next_sequence = ?, plaintext_size = plaintext_size + ?, stream_bytes = stream_bytes + ?, buffered_count = 0, buffered_bytes = 0 where id = 1',
        next, added, added,
      );
    }));
  }

  /**
   * The sealed frames not yet in chunks, in order (`streamOffset` plaintext bytes of the first
   * are), staged ones included without writing them: the commitSealed that follows writes them
   * and the chunks they fill in one synchronous run, so in one commit (one disk sync, not two).
   */
  streamRows(): { seq: number; data: Uint8Array }[] {
    const rows = this.sql.exec('select seq, data from stream order by seq').toArray().map((r) => ({ seq: num(r.seq!), data: bytes(r.data!) }));
    // Staged rows continue the stream in order, beyond every written one.
    return this.staged.length === 0 ? rows : [...rows, ...this.staged];
  }

  /**
   * Store freshly sealed chunks (indices from `sealedChunks` on) and forget the plaintext they
   * came from: rows up to `consumedThrough` entirely, and `offset` bytes of the row after it.
   */
  commitSealed(chunks: Uint8Array[], plaintextBytes: number, consumedThrough: number | null, offset: number, final: boolean): void {
    this.write(() => this.storage.transactionSync(() => {
      let index = num(this.sql.exec('select sealed_chunks from call_state where id = 1').one().sealed_chunks!);
      for (const chunk of chunks) this.sql.exec('insert into sealed (chunk, data) values (?, ?)', index++, chunk);
      if (consumedThrough !== null) this.sql.exec('delete from stream where seq <= ?', consumedThrough);
      if (final) {
        this.sql.exec('delete from stream');
        this.sql.exec('update call_state set final_chunk_size = ?, stream_bytes = 0, stream_offset = 0 where id = 1', plaintextBytes);
      } else {
        this.sql.exec('update call_state set sealed_chunks = ?, stream_bytes = stream_bytes - ?, stream_offset = ? where id = 1', index, plaintextBytes, offset);
      }
    }));
  }

  sealedChunk(index: number): Uint8Array | undefined {
    const row = this.sql.exec('select data from sealed where chunk = ?', index).toArray()[0];
    return row ? bytes(row.data!) : undefined;
  }

  setUploadId(uploadId: string): void {
    this.write(() => this.sql.exec('update call_state set upload_id = ? where id = 1', uploadId));
  }

  parts(): { partNumber: number; etag: string }[] {
    return this.sql.exec('select part, etag from parts order by part').toArray().map((r) => ({ partNumber: num(r.part!), etag: String(r.etag) }));
  }

  /** A part is in storage: remember its etag and drop the sealed chunks wholly inside the uploaded prefix. */
  commitPart(part: number, etag: string, forgetThroughChunk: number): void {
    this.storage.transactionSync(() => {
      this.sql.exec('insert or replace into parts (part, etag) values (?, ?)', part, etag);
      this.sql.exec('delete from sealed where chunk <= ?', forgetThroughChunk);
    });
  }

  pause(nowMs: number): void {
    this.write(() => this.sql.exec('update call_state set paused_at_ms = ?, last_activity_ms = ? where id = 1', nowMs, nowMs));
  }

  /** Close the open pause interval; its duration in ms. */
  resume(nowMs: number): number {
    return this.write(() => this.storage.transactionSync(() => {
      const at = num(this.sql.exec('select paused_at_ms from call_state where id = 1').one().paused_at_ms!);
      const duration = Math.max(0, nowMs - at);
      this.sql.exec('insert or replace into pauses (at_ms, duration_ms) values (?, ?)', at, duration);
      this.sql.exec('update call_state set paused_at_ms = null, last_activity_ms = ? where id = 1', nowMs);
      return duration;
    }));
  }

  beginFinalizing(nowMs: number, reason: string): void {
    this.write(() => this.sql.exec("update call_state set phase = 'finalizing', ended_ms = ?, end_reason = ? where id = 1", nowMs, reason));
  }

  markObjectStored(): void {
    this.write(() => this.storage.transactionSync(() => {
      this.sql.exec('update call_state set object_stored = 1 where id = 1');
      this.sql.exec('delete from sealed');
      this.sql.exec('delete from parts');
    }));
  }

  /** The call is refused after it started: every byte of its audio goes, and it counts as finished. */
  discardAudio(nowMs: number, reason: string): void {
    this.write(() => this.storage.transactionSync(() => {
      for (const table of ['stream', 'buffered', 'sealed', 'parts']) this.sql.exec(`delete from ${table}`);
      this.sql.exec(
        `update call_state set phase = 'stopped', row_written = 1, object_stored = 1, ended_ms = ?, end_reason = ?, plaintext_size = 0,
         stream_bytes = 0, stream_offset = 0, buffered_count = 0, buffered_bytes = 0, final_chunk_size = 0 where id = 1`,
        nowMs,
        reason,
      );
    }));
  }

  markRowWritten(): void {
    this.write(() => this.sql.exec("update call_state set row_written = 1, phase = 'stopped' where id = 1"));
  }

  pauses(): Pause[] {
    this.flush();
    return this.sql
      .exec('select at_ms, duration_ms from pauses order by at_ms')
      .toArray()
      .map((r) => ({ at: new Date(num(r.at_ms!)).toISOString(), durationMs: num(r.duration_ms!) }));
  }

  gaps(): Gap[] {
    this.flush();
    return this.sql
      .exec('select from_seq, to_seq from gaps order by from_seq')
      .toArray()
      .map((r) => ({ fromSequence: num(r.from_seq!), toSequence: num(r.to_seq!) }));
  }
}
