/**
 * One live call, inside its call object: takes chunks in sequence order, makes each durable in
 * SQLite (sealed) before it is acknowledged, checks that the call's first bytes are the declared
 * audio format, seals the audio into the chunked format as 16 KiB chunks fill, uploads equal
 * parts to a multipart upload as they fill, keeps the `recording` row's size current, and at the
 * end (stop, idle alarm, maximum duration) completes the object, finishes the Recording and
 * queues its processing.
 *
 * Operations run one at a time (`serial`): sealing and finalizing await, and the next chunk must
 * see the state the previous one left. The object itself is written by call-object.ts, full parts
 * in the background, so that acks never wait for storage.
 */
import { assertMayRecord, MayNotRecord } from '../auth/permissions';
import { appendAudit, auditLedger } from '../compliance/audit-log';
import type { AuditOutcome } from '../compliance/audit-format';
import { emitEvent } from '../compliance/webhooks';
import { getConfig, type Bindings, type Config } from '../config';
import { createDb, type Database } from '../db/client';
import { CHUNK_SIZE, TAG_SIZE } from '../crypto/chunked';
import { KeyUnavailable, activeUserKey, newDataKey, wrapDataKey } from '../crypto/keys';
import { getConsent } from '../db/consents';
import { concatBytes } from '../encoding';
import { failLiveRecording, insertLiveRecording, reportLiveSize } from '../db/live-recordings';
import { newRecordingId } from '../db/recordings';
import { AudioSniffer, type AudioFormat } from '../domain/audio-format';
import { describeError, type Logger } from '../observability/logger';
import { commitRecording, recordingRow } from '../recordings/create';
import { objectKeyFor } from '../storage/object-keys';
import { createBlobStore } from '../storage/select';
import { CallKeys, sealersFor } from './call-keys';
import { CallObjectWriter } from './call-object';
import { CallStore, type CallState } from './call-store';
import { objectLength } from './object-layout';
import { LIVE_LIMITS, liveError, type CallEvent, type LiveCommand, type StartFields } from './protocol';
import { registryStub } from './routing';

/** A finished call's small state row is kept this long so that a repeated `stop` still gets `stopped`. */
const KEEP_FINISHED_MS = 86_400_000;
/** After a failed finalization, the alarm tries again this much later. */
const FINALIZE_RETRY_MS = 30_000;
/** A place in the per-user registry outlives the maximum call duration by this much before it counts as abandoned. */
const STALE_CLAIM_MARGIN_MS = 3_600_000;
/** The `recording` row's size trails the acked bytes by at most this much. */
const SIZE_REPORT_MS = 10_000;

/**
 * A call's format is decided within its first this many bytes (ID3 tags included): they stay in the
 * unsealed stream until it is, so they must fit in one chunk. Tags that claim more are refused.
 */
const SNIFF_LIMIT = CHUNK_SIZE;

/** At most this much audio goes into one run (see sealChunks): a run is one row, opened whole when chunks are sealed. */
const MAX_RUN_BYTES = 64 * 1024;

/** A batch's leading in-order chunks, sealed as one frame. */
interface SealedRun {
  count: number;
  frame: Uint8Array;
}

/** What sealChunks made of a batch: the run, and the other chunks' frames by command index. */
interface SealedBatch {
  run?: SealedRun;
  frames: Map<number, Uint8Array>;
}

export interface CallOwner {
  id: string;
  role: string;
}

interface StartInput {
  owner: CallOwner;
  fields: StartFields;
  /** Id of the connection object asking, told later if an alarm ends the call. */
  connection: string;
}

export class CallRecorder {
  private readonly store: CallStore;
  private readonly keys: CallKeys;
  private readonly object: CallObjectWriter;
  private queue: Promise<unknown> = Promise.resolve();
  private sizeReport: { lastMs: number; busy: boolean; pending?: { recordingId: string; size: number } } = { lastMs: 0, busy: false };
  /** The call's first bytes were found to be its declared format (memory only: checkFormat finds it out again). */
  private formatAccepted = false;
  /**
   * While the format is undecided: the check's sniffer, fed the first `sniffed` plaintext bytes of
   * recording `recordingId`, so that each check pushes only the bytes that came since. Memory
   * only: a fresh instance (or one whose staged chunks were discarded) feeds it again from byte 0.
   */
  private sniffing: { recordingId: string; sniffer: AudioSniffer; sniffed: number } | null = null;

  /** `deliver` tells the socket(s) of connection `connection` that an alarm ended the call. */
  constructor(
    private readonly env: Bindings,
    private readonly storage: DurableObjectStorage,
    private readonly log: Logger,
    private readonly deliver: (connection: string, events: CallEvent[]) => Promise<void>,
  ) {
    this.store = new CallStore(storage);
    this.keys = new CallKeys(env);
    this.object = new CallObjectWriter(env, this.store, this.keys, log);
  }

  private get config(): Config {
    return getConfig(this.env);
  }

  private get db(): Database {
    return createDb(this.env.DB);
  }

  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private idleMs(): number {
    return this.config.LIVE_IDLE_TIMEOUT_SECONDS * 1000;
  }

  private maxMs(): number {
    return this.config.LIVE_MAX_DURATION_HOURS * 3_600_000;
  }

  /**
   * Run commands in order, as one operation: the answers to each, once all of them are durable.
   * The connection sends whatever piled up while its previous batch was in flight, so under load
   * many chunks share one call and one commit; an idle call gets batches of one.
   */
  execute(owner: CallOwner, connection: string, commands: LiveCommand[]): Promise<CallEvent[][]> {
    return this.serial(async () => {
      const answers: CallEvent[][] = [];
      const sealed = await this.sealChunks(commands);
      if (sealed.run) answers.push(...(await this.guard(sealed.run.count, 'chunk', () => this.appendRun(sealed.run!))));
      for (let index = answers.length; index < commands.length; index++) {
        const command = commands[index]!;
        answers.push(...(await this.guard(1, command.kind, async () => [await this.apply(owner, connection, command, sealed.frames.get(index))])));
      }
      return this.commitBatch(answers);
    });
  }

  /** The answers of `count` commands, or for each the error that ended `operation`. */
  private async guard(count: number, kind: string, operation: () => Promise<CallEvent[][]>): Promise<CallEvent[][]> {
    let failure: CallEvent[];
    try {
      return await operation();
    } catch (error) {
      if (error instanceof KeyUnavailable) {
        failure = await this.endWithoutKey();
      } else {
        this.log.error('live command failed', { command: kind, ...describeError(error) });
        failure = [liveError('service_unavailable', 'The command failed; send it again (chunks: everything without an ack)')];
      }
    }
    return Array.from({ length: count }, () => failure);
  }

  /**
   * The batch's staged chunks and state in one write (CallStore.flush), before any answer leaves:
   * the runtime holds the acks until that write is durable. Should it fail, no chunk of the batch
   * is acked (those written by an earlier flush are acked as duplicates when sent again).
   */
  private commitBatch(answers: CallEvent[][]): CallEvent[][] {
    try {
      this.store.flush();
      return answers;
    } catch (error) {
      this.store.discardStaged();
      // Bytes the format check took from the discarded chunks are no longer the stream's.
      this.sniffing = null;
      this.log.error('live batch write failed', describeError(error));
      const refused = liveError('service_unavailable', 'The chunk could not be stored; send again everything without an ack');
      return answers.map((events) => events.map((event) => (event.type === 'ack' && !event.duplicate ? { ...refused, callId: event.callId } : event)));
    }
  }

  /**
   * Group commit, sealing up front so that applying a batch awaits nothing in the common case.
   * The batch's leading chunks that continue the stream in order (`nextSequence`,
   * `nextSequence + 1`, …: the steady state of a call under load) are sealed together as one
   * frame, the run, stored as one row; any other chunk is sealed on its own. Runs are only taken
   * while nothing is paused or waiting beyond a hole, once the format check is behind, and within
   * the maximum duration: those chunks need no decision of their own. A batch is what arrived
   * while the previous one was being applied; the runtime commits its writes together and holds
   * its acks until that commit is durable.
   */
  private async sealChunks(commands: LiveCommand[]): Promise<SealedBatch> {
    const sealed: SealedBatch = { frames: new Map() };
    const state = this.store.state();
    if (!state || state.phase !== 'recording' || !commands.some((command) => command.kind === 'chunk')) return sealed;
    let frames;
    try {
      frames = (await this.keys.for(state)).frames;
    } catch {
      // Each chunk then finds out on its own (and a destroyed key ends the call there).
      return sealed;
    }
    const run: Uint8Array[] = [];
    let runBytes = 0;
    if (state.pausedAtMs === null && state.bufferedCount === 0 && this.formatAccepted && Date.now() < state.startedMs + this.maxMs()) {
      for (const command of commands) {
        if (command.kind !== 'chunk' || command.sequence !== state.nextSequence + run.length || (run.length > 0 && runBytes + command.data.length > MAX_RUN_BYTES)) break;
        run.push(command.data);
        runBytes += command.data.length;
      }
    }
    const sealing: Promise<unknown>[] = [];
    if (run.length > 0) sealing.push(frames.seal(state.nextSequence, concatBytes(run)).then((frame) => (sealed.run = { count: run.length, frame })));
    commands.forEach((command, index) => {
      if (index >= run.length && command.kind === 'chunk' && command.sequence >= state.nextSequence) {
        sealing.push(frames.seal(command.sequence, command.data).then((frame) => sealed.frames.set(index, frame)));
      }
    });
    await Promise.all(sealing);
    return sealed;
  }

  /** A run of in-order chunks (see sealChunks) taken into the recording at once: an ack for each. */
  private async appendRun(run: SealedRun): Promise<CallEvent[][]> {
    const state = this.store.state()!;
    const after = this.store.append(state, run.frame, Date.now(), run.count);
    this.reportSize(after.recordingId, after.plaintextSize);
    if (after.streamBytes >= CHUNK_SIZE) {
      await this.object.sealFullChunks();
      this.object.pumpParts();
    }
    return Array.from({ length: run.count }, (_, i) => [{ type: 'ack', callId: state.callId, sequence: state.nextSequence + i }]);
  }

  private apply(owner: CallOwner, connection: string, command: LiveCommand, sealed: Uint8Array | undefined): Promise<CallEvent[]> | CallEvent[] {
    switch (command.kind) {
      case 'start':
        return this.start({ owner, fields: command.fields, connection });
      case 'chunk':
        return this.chunk(command.sequence, command.data, sealed);
      case 'pause':
        return this.pause();
      case 'resume':
        return this.resume();
      case 'stop':
        return this.stop();
    }
  }

  /** Start the call, or resume it when it exists: same recording id, and the sequence to send next. */
  private async start(input: StartInput): Promise<CallEvent[]> {
    const { callId } = input.fields;
    const now = Date.now();
    const existing = this.store.state();
    if (existing && existing.phase !== 'recording') return [finished(existing)];
    try {
      // The same rule as an upload (src/recordings/create.ts); the owner of a call is its caller.
      assertMayRecord(input.owner, input.owner.id, await getConsent(this.db, input.owner.id));
    } catch (error) {
      if (!(error instanceof MayNotRecord)) throw error;
      await this.audit(input.owner, 'recording.live_start', existing?.recordingId ?? null, 'denied', { callId, reason: error.reason });
      return [liveError(error.code as 'forbidden' | 'consent_required', error.message, callId)];
    }
    if (existing) {
      this.store.touch(now, input.connection);
      return [startedEvent(existing)];
    }
    const registry = registryStub(this.env, input.owner.id);
    if (!(await registry.claimCall(callId, LIVE_LIMITS.maxCallsPerUser, now, this.maxMs() + STALE_CLAIM_MARGIN_MS))) {
      await this.audit(input.owner, 'recording.live_start', null, 'denied', { callId, reason: 'too_many_calls' });
      return [liveError('too_many_calls', `At most ${LIVE_LIMITS.maxCallsPerUser} calls may be recorded at once; stop one first`, callId)];
    }
    const recordingId = newRecordingId(now);
    let rowInserted = false;
    try {
      const { version, key } = await activeUserKey(this.db, this.config.MASTER_ENCRYPTION_KEY, input.owner.id);
      const dataKey = newDataKey();
      const wrappedKey = await wrapDataKey(key, dataKey, recordingId);
      const sealers = sealersFor(dataKey, recordingId);
      const { salt } = (await sealers).chunks;
      this.keys.adopt(sealers);
      const format = input.fields.format;
      const startTime = new Date(now).toISOString();
      // Visible (status `recording`) from `started` on; the state below is what makes the call real.
      await insertLiveRecording(
        this.db,
        recordingRow({
          id: recordingId,
          callId,
          userId: input.owner.id,
          callerPhone: input.fields.callerPhone ?? null,
          receiverPhone: input.fields.receiverPhone ?? null,
          startTime,
          endTime: null,
          format,
          size: 0,
          status: 'recording',
          object: null,
          createdAt: startTime,
        }),
      );
      rowInserted = true;
      this.store.create({
        owner: input.owner.id,
        ownerRole: input.owner.role,
        callId,
        recordingId,
        format,
        callerPhone: input.fields.callerPhone ?? null,
        receiverPhone: input.fields.receiverPhone ?? null,
        keyVersion: version,
        wrappedKey,
        salt,
        connection: input.connection,
        startedMs: now,
      });
      await this.storage.setAlarm(now + this.idleMs());
      await this.audit(input.owner, 'recording.live_start', recordingId, 'success', { callId, format });
      await emitEvent({ queue: this.env.WEBHOOK_QUEUE, config: this.config }, 'recording.started', { recordingId, userId: input.owner.id, callId });
      return [startedEvent(this.store.state()!)];
    } catch (error) {
      if (!this.store.state()) {
        this.keys.adopt(undefined);
        if (rowInserted) await failLiveRecording(this.db, recordingId, 'The call could not be started', new Date().toISOString()).catch(() => undefined);
        await registry.releaseCall(callId);
      }
      throw error;
    }
  }

  /** `presealed`: the frame already sealed for this sequence (see sealChunks). */
  private async chunk(sequence: number, data: Uint8Array, presealed?: Uint8Array): Promise<CallEvent[]> {
    const state = this.store.state();
    if (!state) return [liveError('not_started', 'Send start before any chunk')];
    const { callId } = state;
    if (state.phase !== 'recording') return [finished(state)];
    const now = Date.now();
    if (now >= state.startedMs + this.maxMs()) {
      return [liveError('call_finished', 'The call reached LIVE_MAX_DURATION_HOURS and was finalized', callId), ...(await this.finalize('max_duration'))];
    }
    // Only sequences beyond nextSequence are ever buffered.
    if (sequence < state.nextSequence || (sequence > state.nextSequence && this.store.isBuffered(sequence))) {
      this.store.touch(now);
      return [{ type: 'ack', callId, sequence, duplicate: true }];
    }
    if (sequence >= state.nextSequence + LIVE_LIMITS.sequenceWindow) {
      return [liveError('sequence_out_of_window', `sequence ${sequence} is more than ${LIVE_LIMITS.sequenceWindow} ahead of nextSequence ${state.nextSequence}; resend from nextSequence`, callId)];
    }
    const paused = state.pausedAtMs !== null;
    const ack: CallEvent = paused ? { type: 'ack', callId, sequence, dropped: true } : { type: 'ack', callId, sequence };
    if (sequence > state.nextSequence && !paused && state.bufferedBytes + data.length > LIVE_LIMITS.maxBufferedBytes) {
      return [liveError('sequence_out_of_window', `too much audio is waiting for sequence ${state.nextSequence}; resend from there`, callId)];
    }
    const sealed = paused ? null : (presealed ?? (await (await this.keys.for(state)).frames.seal(sequence, data)));
    if (sequence > state.nextSequence) {
      this.store.buffer(sequence, sealed, now);
      return [ack];
    }
    const after = this.store.append(state, sealed, now);
    if (!this.formatAccepted && after.plaintextSize > 0) {
      const refused = await this.checkFormat(after, false);
      if (refused) return refused;
    }
    this.reportSize(after.recordingId, after.plaintextSize);
    // Most chunks leave the unsealed tail short of a full chunk: nothing more to do then.
    if (after.streamBytes >= CHUNK_SIZE) {
      await this.object.sealFullChunks();
      this.object.pumpParts();
    }
    return [ack];
  }

  /**
   * The upload gate's rule on the call's first bytes (an ID3 tag must be followed by an MPEG
   * frame): a call whose audio is not the declared format (or no known audio at all) is refused
   * and ended, its audio discarded, before FFmpeg or anyone else ever reads it. Until enough bytes
   * have come to tell (at most SNIFF_LIMIT), nothing is sealed and the check runs again with each
   * chunk; `final` (the call is ending) decides on what came. The answers that refuse, or null.
   */
  private async checkFormat(state: CallState, final: boolean): Promise<CallEvent[] | null> {
    // Nothing is sealed before the check passes: sealed audio means it passed in an earlier life of this object.
    if (state.sealedChunks > 0 || state.finalChunkSize !== null) {
      this.formatAccepted = true;
      return null;
    }
    const sniffed = await this.sniff(state, final || state.plaintextSize >= SNIFF_LIMIT);
    if (sniffed === undefined) return null;
    this.sniffing = null;
    if (sniffed === state.format) {
      this.formatAccepted = true;
      return null;
    }
    const now = Date.now();
    this.store.discardAudio(now, 'unsupported_format');
    await failLiveRecording(this.db, state.recordingId, `Invalid file format: the audio is not ${state.format}`, new Date(now).toISOString());
    await registryStub(this.env, state.owner).releaseCall(state.callId);
    await this.storage.setAlarm(now + KEEP_FINISHED_MS);
    await this.audit({ id: state.owner, role: state.ownerRole }, 'recording.live_refused', state.recordingId, 'denied', {
      callId: state.callId,
      reason: 'unsupported_format',
      declared: state.format,
      sniffed,
    });
    return [liveError('unsupported_media_type', `Invalid file format: the call's first bytes are not ${state.format} audio; the call is ended and nothing of it is kept`, state.callId)];
  }

  /**
   * The format of the call's first min(SNIFF_LIMIT, streamBytes) bytes, as one sniffer given them
   * all at once would tell (`final`: decide on them), or undefined while they cannot tell yet.
   * The sniffer is kept between checks and pushed only the bytes not yet given to it: only the
   * frames holding those are opened, not every frame from byte 0 again.
   */
  private async sniff(state: CallState, final: boolean): Promise<AudioFormat | null | undefined> {
    const through = Math.min(SNIFF_LIMIT, state.streamBytes);
    let sniffing = this.sniffing;
    if (!sniffing || sniffing.recordingId !== state.recordingId || sniffing.sniffed > through) {
      sniffing = this.sniffing = { recordingId: state.recordingId, sniffer: new AudioSniffer(SNIFF_LIMIT), sniffed: 0 };
    }
    let format: AudioFormat | null | undefined;
    if (through > sniffing.sniffed) {
      const piece = await this.object.bytesBetween(state, sniffing.sniffed, through);
      format = sniffing.sniffer.push(piece);
      sniffing.sniffed = through;
    } else {
      format = sniffing.sniffer.push(new Uint8Array(0));
    }
    return format !== undefined || !final ? format : sniffing.sniffer.end();
  }

  /**
   * The owner's key was destroyed during the call (a GDPR erasure): the frames stored here can no
   * longer be opened, so the call ends with nothing kept, rather than retrying forever.
   */
  private async endWithoutKey(): Promise<CallEvent[]> {
    const state = this.store.state()!;
    const now = Date.now();
    this.keys.adopt(undefined);
    this.store.discardAudio(now, 'key_destroyed');
    await failLiveRecording(this.db, state.recordingId, 'The encryption key of this recording was destroyed', new Date(now).toISOString());
    await registryStub(this.env, state.owner).releaseCall(state.callId);
    await this.storage.setAlarm(now + KEEP_FINISHED_MS);
    await this.audit({ id: state.owner, role: state.ownerRole }, 'recording.live_discarded', state.recordingId, 'success', { callId: state.callId, reason: 'key_destroyed' });
    return [liveError('call_finished', 'The encryption key of this call was destroyed (an erasure): the call is ended and nothing of it is kept', state.callId)];
  }

  /** Keep the `recording` row's size current, at most one D1 write per SIZE_REPORT_MS, off the ack path. */
  private reportSize(recordingId: string, size: number): void {
    const report = this.sizeReport;
    report.pending = { recordingId, size };
    if (report.busy) return;
    report.busy = true;
    setTimeout(async () => {
      const pending = report.pending!;
      report.pending = undefined;
      try {
        await reportLiveSize(this.db, pending.recordingId, pending.size);
      } catch (error) {
        this.log.warn('live size report failed; the next one catches up', describeError(error));
      }
      report.lastMs = Date.now();
      report.busy = false;
      // A chunk acked during the write left a newer size: it goes in the next report.
      const newer = this.sizeReport.pending as { recordingId: string; size: number } | undefined;
      if (newer) this.reportSize(newer.recordingId, newer.size);
    }, Math.max(0, report.lastMs + SIZE_REPORT_MS - Date.now()));
  }

  private pause(): CallEvent[] {
    const state = this.store.state();
    if (!state) return [liveError('not_started', 'Send start before pause')];
    if (state.phase !== 'recording') return [finished(state)];
    const at = state.pausedAtMs ?? Date.now();
    if (state.pausedAtMs === null) this.store.pause(at);
    return [{ type: 'paused', callId: state.callId, at: new Date(at).toISOString() }];
  }

  private resume(): CallEvent[] {
    const state = this.store.state();
    if (!state) return [liveError('not_started', 'Send start before resume')];
    if (state.phase !== 'recording') return [finished(state)];
    const durationMs = state.pausedAtMs === null ? 0 : this.store.resume(Date.now());
    return [{ type: 'resumed', callId: state.callId, durationMs }];
  }

  private async stop(): Promise<CallEvent[]> {
    const state = this.store.state();
    if (!state) return [liveError('not_started', 'Send start before stop')];
    try {
      return await this.finalize('stop');
    } catch (error) {
      this.log.error('live call finalization failed; the alarm retries', { recordingId: state.recordingId, ...describeError(error) });
      await this.storage.setAlarm(Date.now() + FINALIZE_RETRY_MS);
      return [liveError('service_unavailable', 'Storage is unavailable; the audio is kept and the call will be finalized shortly', state.callId)];
    }
  }

  /** Idle timeout, maximum duration, a finalization to retry, or the clean-up of a finished call. */
  alarm(): Promise<void> {
    return this.serial(async () => {
      const state = this.store.state();
      if (!state) return;
      const now = Date.now();
      if (state.phase === 'stopped') {
        if (now >= (state.endedMs ?? 0) + KEEP_FINISHED_MS) {
          await this.storage.deleteAll();
          this.store.forget();
        } else {
          await this.storage.setAlarm((state.endedMs ?? now) + KEEP_FINISHED_MS);
        }
        return;
      }
      let reason = state.endReason ?? 'idle';
      if (state.phase === 'recording') {
        const idleAt = state.lastActivityMs + this.idleMs();
        const maxAt = state.startedMs + this.maxMs();
        if (now < Math.min(idleAt, maxAt)) {
          await this.storage.setAlarm(Math.min(idleAt, maxAt));
          return;
        }
        reason = maxAt <= idleAt ? 'max_duration' : 'idle';
      }
      try {
        const events = await this.finalize(reason);
        if (state.connection) await this.deliver(state.connection, events).catch(() => undefined);
      } catch (error) {
        if (error instanceof KeyUnavailable) {
          await this.endWithoutKey();
          return;
        }
        this.log.error('live call finalization failed; retrying later', { recordingId: state.recordingId, reason, ...describeError(error) });
        await this.storage.setAlarm(now + FINALIZE_RETRY_MS);
      }
    });
  }

  /** Every step checks what an earlier, interrupted attempt already did, so finalizing again is safe. */
  private async finalize(reason: string): Promise<CallEvent[]> {
    let state = this.store.state()!;
    if (state.phase === 'stopped') return [stoppedEvent(state, this.store)];
    // A call that ends before its first bytes could tell its format is judged on what came.
    if (state.phase === 'recording' && !this.formatAccepted && state.plaintextSize > 0) {
      const refused = await this.checkFormat(state, true);
      if (refused) return refused;
    }
    await this.object.close();
    if (state.phase === 'recording') {
      const now = Date.now();
      if (state.pausedAtMs !== null) this.store.resume(now);
      this.store.closeGaps();
      this.store.beginFinalizing(now, reason);
    }
    state = this.store.state()!;
    if (state.finalChunkSize === null) {
      await this.object.sealFullChunks();
      await this.object.sealFinalChunk();
      state = this.store.state()!;
    }
    if (!state.objectStored) await this.object.storeObject(state);
    if (!state.rowWritten) {
      await this.finishRecording(state);
      await registryStub(this.env, state.owner).releaseCall(state.callId);
      this.store.markRowWritten();
      await this.storage.setAlarm(Date.now() + KEEP_FINISHED_MS);
    }
    return [stoppedEvent(this.store.state()!, this.store)];
  }

  /** `recording` → `processing`, or, when the row was deleted or erased during the call, the object goes too. */
  private async finishRecording(state: CallState): Promise<void> {
    const pauses = this.store.pauses();
    const gaps = this.store.gaps();
    const objectKey = objectKeyFor(state.recordingId);
    const owner = { id: state.owner, role: state.ownerRole };
    const committed = await commitRecording(
      {
        db: this.db,
        config: this.config,
        mediaQueue: this.env.MEDIA_QUEUE,
        webhookQueue: this.env.WEBHOOK_QUEUE,
        audit: (event) => this.audit(owner, event.action, event.recordingId ?? null, event.outcome, event.details ?? {}),
      },
      {
        source: 'live',
        recordingId: state.recordingId,
        callId: state.callId,
        userId: state.owner,
        endTime: new Date(state.endedMs ?? Date.now()).toISOString(),
        size: state.plaintextSize,
        object: {
          objectKey,
          ciphertextSize: objectLength(state.sealedChunks, state.finalChunkSize! + TAG_SIZE),
          wrappedDataKey: Buffer.from(state.wrappedKey),
          keyVersion: state.keyVersion,
        },
        pauses: pauses.length > 0 ? pauses : null,
        gaps: gaps.length > 0 ? gaps : null,
        details: { callId: state.callId, endReason: state.endReason, pauses: pauses.length, gaps: gaps.length },
      },
    );
    if (committed === null) {
      await createBlobStore(this.env, this.config).delete(objectKey);
      await this.audit(owner, 'recording.live_discarded', state.recordingId, 'success', { callId: state.callId, reason: 'deleted during the call' });
    }
  }

  private async audit(owner: CallOwner, action: string, recordingId: string | null, outcome: AuditOutcome, details: Record<string, unknown>): Promise<void> {
    await appendAudit(auditLedger(this.env, this.config), { actor: owner.id, actorRole: owner.role, action, recordingId, subjectUserId: owner.id, outcome, details }, this.log);
  }
}

function startedEvent(state: CallState): CallEvent {
  return { type: 'started', callId: state.callId, recordingId: state.recordingId, nextSequence: state.nextSequence, paused: state.pausedAtMs !== null };
}

function stoppedEvent(state: CallState, store: CallStore): CallEvent {
  return { type: 'stopped', callId: state.callId, recordingId: state.recordingId, size: state.plaintextSize, pauses: store.pauses(), gaps: store.gaps() };
}

function finished(state: CallState): CallEvent {
  return liveError('call_finished', `Call ${state.callId} has ended (recording ${state.recordingId}); start a new call with another callId`, state.callId);
}
