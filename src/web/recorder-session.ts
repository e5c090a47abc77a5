/**
 * One call being recorded in this tab: the microphone, MediaRecorder (Opus in WebM, a chunk every
 * 250 ms), a level meter from an AnalyserNode, and the LiveUpload that streams the chunks. It
 * lives outside the recorder screen, so moving to another screen does not end the call.
 */
import { LiveUpload, type LiveUploadState, type StartFields, type StopResult } from './live-upload';
import { loadSession, type Session } from './session';

export type RecorderPhase = 'recording' | 'finishing' | 'done' | 'failed';

export interface RecorderSnapshot {
  phase: RecorderPhase;
  callId: string;
  mimeType: string;
  elapsedMs: number;
  /** Input level from 0 (−60 dBFS or less) to 1 (full scale). */
  level: number;
  upload: LiveUploadState;
  error: string | null;
  result: StopResult | null;
}

const TIMESLICE_MS = 250;
/** Preferred first; Firefox records Opus in Ogg. */
const MIME_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm'];

let active: RecorderSession | null = null;

/** The call being recorded (or just finished) in this tab, if any. */
export const activeRecorder = () => active;

/** `?callId=`: the call's own object holds the socket (one hop per frame). */
export function liveSocketUrl(session: Session, callId: string): string {
  if (session.credentials.kind !== 'token') throw new Error('Live recording needs a token: browsers cannot send an API key on a WebSocket');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/api/v1/recordings/live?callId=${encodeURIComponent(callId)}&token=${encodeURIComponent(session.credentials.token)}`;
}

/** How long a call waits for its user to sign in again after the token expired, before it gives up. */
const RENEW_WAIT_MS = 15 * 60_000;

/** The freshest token of `userId` in this tab: the one signed in now, if it is the same user, else the one the call started with. */
function currentSession(original: Session): Session {
  const stored = loadSession();
  return stored && stored.userId === original.userId && stored.credentials.kind === 'token' ? stored : original;
}

/**
 * Resolves true once this tab holds a token of the same user other than `expired` (the page signs
 * the user out when the API refuses the token; signing in again renews it), false after RENEW_WAIT_MS.
 */
function waitForFreshToken(original: Session, expired: () => string): Promise<boolean> {
  const deadline = Date.now() + RENEW_WAIT_MS;
  return new Promise((resolve) => {
    const check = () => {
      const session = currentSession(original);
      if (session.credentials.kind === 'token' && session.credentials.token !== expired() && (session.expiresAt === null || session.expiresAt > Date.now())) return resolve(true);
      if (Date.now() > deadline) return resolve(false);
      setTimeout(check, 1_000);
    };
    check();
  });
}

export class RecorderSession {
  private readonly listeners = new Set<(snapshot: RecorderSnapshot) => void>();
  private readonly startedAt = performance.now();
  private endedAt: number | null = null;
  private level = 0;
  private phase: RecorderPhase = 'recording';
  private error: string | null = null;
  private result: StopResult | null = null;
  /** dataavailable reads are async; chaining keeps the chunks in order. */
  private chunkChain: Promise<void> = Promise.resolve();
  private readonly levelBuffer: Float32Array<ArrayBuffer>;
  private readonly timer: ReturnType<typeof setInterval>;

  private constructor(
    readonly callId: string,
    private readonly stream: MediaStream,
    private readonly recorder: MediaRecorder,
    private readonly audioContext: AudioContext,
    private readonly analyser: AnalyserNode,
    readonly upload: LiveUpload,
  ) {
    this.levelBuffer = new Float32Array(analyser.fftSize);
    recorder.ondataavailable = (event) => {
      if (event.data.size === 0) return;
      const blob = event.data;
      this.chunkChain = this.chunkChain.then(async () => upload.push(new Uint8Array(await blob.arrayBuffer())));
    };
    recorder.onerror = () => this.fail('The browser stopped recording (MediaRecorder error)');
    this.timer = setInterval(() => {
      this.measureLevel();
      this.emit();
    }, 100);
  }

  /** Ask for the microphone and start recording and streaming. */
  static async start(session: Session, fields: Omit<StartFields, 'format'>): Promise<RecorderSession> {
    if (active && (active.phase === 'recording' || active.phase === 'finishing')) throw new Error('A call is already being recorded in this tab');
    if (typeof MediaRecorder === 'undefined') throw new Error('This browser cannot record audio (no MediaRecorder)');
    const mimeType = MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
    if (!mimeType) throw new Error('This browser cannot record Opus audio');
    // Throws for an API key, before the microphone is asked for.
    liveSocketUrl(session, fields.callId);
    let lastUrlToken = (session.credentials as { token: string }).token;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const audioContext = new AudioContext();
    const analyser = audioContext.createAnalyser();
    analyser.fftSize = 2048;
    audioContext.createMediaStreamSource(stream).connect(analyser);
    const recorder = new MediaRecorder(stream, { mimeType, audioBitsPerSecond: 32_000 });
    let recording: RecorderSession | null = null;
    const upload = new LiveUpload({
      // Read at every reconnect: a token renewed by signing in again is used from then on.
      url: () => {
        const fresh = currentSession(session);
        lastUrlToken = (fresh.credentials as { token: string }).token;
        return liveSocketUrl(fresh, fields.callId);
      },
      // A token that expires mid-call does not end the recording: the page asks the user to sign in again, and the call resumes from nextSequence.
      renewCredentials: () => waitForFreshToken(session, () => lastUrlToken),
      start: { ...fields, format: mimeType },
      onChange: (state) => {
        if (state.connection === 'failed') recording?.fail(state.lastError ?? 'The upload failed');
        recording?.emit();
      },
    });
    recording = new RecorderSession(fields.callId, stream, recorder, audioContext, analyser, upload);
    recorder.start(TIMESLICE_MS);
    active = recording;
    return recording;
  }

  get snapshot(): RecorderSnapshot {
    return {
      phase: this.phase,
      callId: this.callId,
      mimeType: this.recorder.mimeType,
      elapsedMs: (this.endedAt ?? performance.now()) - this.startedAt,
      level: this.level,
      upload: this.upload.state,
      error: this.error,
      result: this.result,
    };
  }

  subscribe(listener: (snapshot: RecorderSnapshot) => void): () => void {
    this.listeners.add(listener);
    listener(this.snapshot);
    return () => this.listeners.delete(listener);
  }

  /** Stop the microphone, wait until every chunk is acked, then end the call. */
  async stop(): Promise<StopResult> {
    if (this.phase !== 'recording') throw new Error('The call is not recording');
    this.phase = 'finishing';
    await this.stopMedia();
    await this.chunkChain;
    this.emit();
    try {
      this.result = await this.upload.stop();
      this.phase = 'done';
      return this.result;
    } catch (error) {
      this.fail(error instanceof Error ? error.message : String(error));
      throw error;
    } finally {
      clearInterval(this.timer);
      this.emit();
    }
  }

  private stopMedia(): Promise<void> {
    this.endedAt ??= performance.now();
    this.level = 0;
    const stopped = new Promise<void>((resolve) => {
      if (this.recorder.state === 'inactive') return resolve();
      // The last dataavailable fires before stop.
      this.recorder.addEventListener('stop', () => resolve(), { once: true });
      this.recorder.stop();
    });
    return stopped.finally(() => {
      for (const track of this.stream.getTracks()) track.stop();
      void this.audioContext.close();
    });
  }

  private fail(message: string): void {
    if (this.phase === 'done' || this.phase === 'failed') return;
    this.phase = 'failed';
    this.error = message;
    clearInterval(this.timer);
    void this.stopMedia();
    this.upload.abandon(message);
    this.emit();
  }

  private measureLevel(): void {
    if (this.phase !== 'recording') return;
    this.analyser.getFloatTimeDomainData(this.levelBuffer);
    let sum = 0;
    for (const sample of this.levelBuffer) sum += sample * sample;
    const rms = Math.sqrt(sum / this.levelBuffer.length);
    const dbfs = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
    this.level = Math.min(1, Math.max(0, (dbfs + 60) / 60));
  }

  private emit(): void {
    const snapshot = this.snapshot;
    for (const listener of this.listeners) listener(snapshot);
  }
}
