/**
 * Streams one call's chunks over the plain live protocol (CONTRACT.md, "Live recording over
 * WebSocket") and survives the socket dropping. Every chunk stays in memory until the server acks
 * it (an ack means durable); after a drop the client reconnects with backoff, sends `start` for
 * the same callId and resends from the `nextSequence` the server answers. A token that expires
 * mid-call (the server answers `unauthorized` and closes the socket) does not end the call when
 * the caller can renew credentials (`renewCredentials`): the uploader waits for a fresh token,
 * reconnects with it (`url` is read again) and resumes from `nextSequence`, the audio kept in
 * memory meanwhile. No DOM: it runs in any runtime with a WebSocket (the tests drive it from Node).
 */

export interface StartFields {
  callId: string;
  format: string;
  callerPhone?: string;
  receiverPhone?: string;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'finished' | 'failed';

export interface LiveUploadState {
  connection: ConnectionState;
  recordingId: string | null;
  /** Chunks handed to the uploader. */
  produced: number;
  /** Distinct chunks sent at least once. */
  sent: number;
  /** Chunks the server holds durably (acked, or below its nextSequence). */
  acked: number;
  /** Chunks sent again after a reconnect. */
  resent: number;
  /** Bytes held in memory until acked. */
  pendingBytes: number;
  reconnects: number;
  lastError: string | null;
}

export interface StopResult {
  recordingId: string;
  size: number | null;
  gaps: { fromSequence: number; toSequence: number }[];
}

export interface LiveUploadOptions {
  /** The socket URL, read at every (re)connect so that a renewed token is used. */
  url: () => string | Promise<string>;
  /**
   * Called when the server refuses the token mid-call (`unauthorized`, an expired token): resolve
   * true once a fresh token is available to `url`, and the call goes on from `nextSequence`;
   * false (or no function) ends the upload as failed.
   */
  renewCredentials?: () => Promise<boolean>;
  start: StartFields;
  onChange?: (state: LiveUploadState) => void;
  /** First reconnect delay; doubles per failed attempt up to maxBackoffMs, with jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Chunks in flight ahead of the oldest unacked one. The server refuses chunks more than 512
   * sequence numbers ahead of its nextSequence, so this stays well below.
   */
  window?: number;
  /** An in-flight chunk unacked this long means a dead connection (a drop TCP did not report). */
  ackTimeoutMs?: number;
  /** For tests: a WebSocket constructor other than the global one. */
  WebSocketImpl?: typeof WebSocket;
}

/** Error codes after which retrying cannot help: the call ends and the audio stays in the page. */
const FATAL_CODES = new Set(['unauthorized', 'consent_required', 'too_many_calls', 'invalid_request', 'wrong_call', 'payload_too_large', 'forbidden', 'unsupported_media_type']);

type ServerFrame =
  | { type: 'started'; recordingId: string; nextSequence: number }
  | { type: 'ack'; sequence: number }
  | { type: 'stopped'; recordingId: string; size: number; gaps?: StopResult['gaps'] }
  | { type: 'error'; code: string; message: string }
  | { type: string };

export class LiveUpload {
  private readonly options: Required<Omit<LiveUploadOptions, 'onChange' | 'WebSocketImpl' | 'renewCredentials'>> & Pick<LiveUploadOptions, 'onChange' | 'renewCredentials'>;
  private readonly WebSocketImpl: typeof WebSocket;
  /** Unacked chunks by sequence; Map keeps insertion (= sequence) order. */
  private readonly pending = new Map<number, Uint8Array>();
  /** When each in-flight chunk was last sent on the current socket. */
  private readonly sentAt = new Map<number, number>();
  private nextSequence = 0;
  /** The next sequence to send on the current socket. */
  private sendCursor = 0;
  private highestSent = -1;
  private socket: WebSocket | null = null;
  private started = false;
  private stopping = false;
  private stopSent = false;
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private stopWaiters: { resolve: (result: StopResult) => void; reject: (error: Error) => void }[] = [];
  private readonly current: LiveUploadState = {
    connection: 'connecting',
    recordingId: null,
    produced: 0,
    sent: 0,
    acked: 0,
    resent: 0,
    pendingBytes: 0,
    reconnects: 0,
    lastError: null,
  };

  constructor(options: LiveUploadOptions) {
    this.options = {
      initialBackoffMs: 250,
      maxBackoffMs: 5_000,
      window: 256,
      ackTimeoutMs: 10_000,
      ...options,
    };
    const impl = options.WebSocketImpl ?? globalThis.WebSocket;
    if (!impl) throw new Error('This browser has no WebSocket support');
    this.WebSocketImpl = impl;
    this.connect();
    this.watchdog = setInterval(() => this.checkAcks(), 1_000);
  }

  get state(): LiveUploadState {
    return { ...this.current };
  }

  /** Queue one chunk; it is sent as soon as the window and the connection allow. */
  push(data: Uint8Array): void {
    if (this.stopping) throw new Error('The call is stopping: no more chunks');
    if (this.current.connection === 'failed') return;
    const sequence = this.nextSequence++;
    this.pending.set(sequence, data);
    this.current.produced = this.nextSequence;
    this.current.pendingBytes += data.byteLength;
    this.pump();
    this.emit();
  }

  /** Resolves once every chunk is acked and the server has finalized the call. */
  stop(): Promise<StopResult> {
    const result = new Promise<StopResult>((resolve, reject) => this.stopWaiters.push({ resolve, reject }));
    if (this.current.connection === 'failed') {
      this.rejectStop(new Error(this.current.lastError ?? 'The upload failed'));
      return result;
    }
    this.stopping = true;
    this.maybeSendStop();
    return result;
  }

  /** Give up: close the socket, keep nothing running. Unacked audio is discarded. */
  abandon(reason = 'Abandoned'): void {
    this.fail(reason);
  }

  private emit(): void {
    this.current.acked = this.nextSequence - this.pending.size;
    this.current.sent = this.highestSent + 1;
    this.options.onChange?.(this.state);
  }

  private connect(): void {
    this.started = false;
    this.stopSent = false;
    this.sentAt.clear();
    Promise.resolve()
      .then(() => this.options.url())
      .then(
        (url) => this.open(url),
        (error: unknown) => {
          this.current.lastError = error instanceof Error ? error.message : String(error);
          this.scheduleReconnect();
        },
      );
  }

  private open(url: string): void {
    if (this.current.connection === 'finished' || this.current.connection === 'failed') return;
    let socket: WebSocket;
    try {
      socket = new this.WebSocketImpl(url);
    } catch (error) {
      this.current.lastError = error instanceof Error ? error.message : String(error);
      this.scheduleReconnect();
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    // A replaced socket may still fire; only the current one counts.
    socket.addEventListener('open', () => {
      if (socket !== this.socket) return;
      const { callId, format, callerPhone, receiverPhone } = this.options.start;
      socket.send(JSON.stringify({ type: 'start', callId, format, ...(callerPhone ? { callerPhone } : {}), ...(receiverPhone ? { receiverPhone } : {}) }));
    });
    socket.addEventListener('message', (event: MessageEvent) => {
      if (socket !== this.socket || typeof event.data !== 'string') return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      this.handle(frame);
    });
    socket.addEventListener('close', () => this.lost(socket, null));
    socket.addEventListener('error', () => this.lost(socket, 'The connection failed'));
  }

  private handle(frame: ServerFrame): void {
    if (frame.type === 'started' && 'nextSequence' in frame) {
      this.started = true;
      this.attempts = 0;
      this.current.connection = 'open';
      this.current.recordingId = frame.recordingId;
      this.current.lastError = null;
      // Everything below nextSequence is durable on the server, acked or not.
      for (const sequence of [...this.pending.keys()]) if (sequence < frame.nextSequence) this.forget(sequence);
      this.sendCursor = Math.min(frame.nextSequence, this.nextSequence);
      this.pump();
      this.maybeSendStop();
    } else if (frame.type === 'ack' && 'sequence' in frame) {
      this.forget(frame.sequence);
      this.pump();
      this.maybeSendStop();
    } else if (frame.type === 'stopped' && 'size' in frame) {
      return this.finish({ recordingId: frame.recordingId, size: frame.size, gaps: frame.gaps ?? [] });
    } else if (frame.type === 'error' && 'code' in frame) {
      // A stop that landed just before a drop: the call is already final.
      if (frame.code === 'call_finished' && this.stopping && this.current.recordingId) return this.finish({ recordingId: this.current.recordingId, size: null, gaps: [] });
      // Every chunk is durable and the stop was received; the server finishes the call by itself when storage is back.
      if (frame.code === 'service_unavailable' && this.stopSent && this.current.recordingId) return this.finish({ recordingId: this.current.recordingId, size: null, gaps: [] });
      if (frame.code === 'unauthorized' && this.options.renewCredentials) return this.renew(`${frame.message} (${frame.code})`);
      if (FATAL_CODES.has(frame.code) || frame.code === 'call_finished') return this.fail(`${frame.message} (${frame.code})`);
      this.current.lastError = `${frame.message} (${frame.code})`;
    }
    this.emit();
  }

  /** The token was refused mid-call: drop this socket, wait for a fresh token, then reconnect and resume. */
  private renew(reason: string): void {
    this.detach();
    this.current.connection = 'reconnecting';
    this.current.lastError = `${reason}: waiting for a fresh token; the audio is kept`;
    this.emit();
    this.options.renewCredentials!().then(
      (renewed) => {
        if (this.current.connection !== 'reconnecting' || this.socket || this.retryTimer) return;
        if (!renewed) return this.fail(reason);
        this.current.reconnects++;
        this.connect();
      },
      () => this.fail(reason),
    );
  }

  private forget(sequence: number): void {
    const data = this.pending.get(sequence);
    if (!data) return;
    this.pending.delete(sequence);
    this.sentAt.delete(sequence);
    this.current.pendingBytes -= data.byteLength;
  }

  /** Send what the window allows, in sequence order. */
  private pump(): void {
    const socket = this.socket;
    if (!socket || !this.started || socket.readyState !== this.WebSocketImpl.OPEN) return;
    const oldest = this.pending.keys().next();
    const limit = (oldest.done ? this.nextSequence : oldest.value) + this.options.window;
    while (this.sendCursor < this.nextSequence && this.sendCursor < limit) {
      const sequence = this.sendCursor++;
      const data = this.pending.get(sequence);
      if (!data) continue;
      const frame = new Uint8Array(4 + data.byteLength);
      new DataView(frame.buffer).setUint32(0, sequence);
      frame.set(data, 4);
      socket.send(frame.buffer);
      this.sentAt.set(sequence, Date.now());
      if (sequence <= this.highestSent) this.current.resent++;
      else this.highestSent = sequence;
    }
  }

  private maybeSendStop(): void {
    if (!this.stopping || this.stopSent || !this.started || this.pending.size > 0) return;
    if (!this.socket || this.socket.readyState !== this.WebSocketImpl.OPEN) return;
    this.socket.send(JSON.stringify({ type: 'stop' }));
    this.stopSent = true;
  }

  /** A chunk in flight for too long: the connection is dead even if the socket did not say so. */
  private checkAcks(): void {
    if (!this.socket || !this.started) return;
    const oldest = Math.min(...this.sentAt.values());
    if (Number.isFinite(oldest) && Date.now() - oldest > this.options.ackTimeoutMs) this.lost(this.socket, 'No acknowledgement: reconnecting');
  }

  private lost(socket: WebSocket, reason: string | null): void {
    if (socket !== this.socket) return;
    this.detach();
    if (this.current.connection === 'finished' || this.current.connection === 'failed') return;
    this.current.lastError = reason ?? 'The connection closed';
    this.scheduleReconnect();
  }

  private detach(): void {
    const socket = this.socket;
    this.socket = null;
    this.started = false;
    if (!socket) return;
    if (socket.readyState === this.WebSocketImpl.OPEN || socket.readyState === this.WebSocketImpl.CONNECTING) socket.close();
  }

  private scheduleReconnect(): void {
    this.current.connection = 'reconnecting';
    this.current.reconnects++;
    const base = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** this.attempts++);
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.emit();
  }

  private finish(result: StopResult): void {
    this.current.connection = 'finished';
    this.current.recordingId = result.recordingId;
    this.shutDown();
    for (const waiter of this.stopWaiters.splice(0)) waiter.resolve(result);
    this.emit();
  }

  private fail(message: string): void {
    if (this.current.connection === 'finished' || this.current.connection === 'failed') return;
    this.current.connection = 'failed';
    this.current.lastError = message;
    this.shutDown();
    this.rejectStop(new Error(message));
    this.emit();
  }

  private rejectStop(error: Error): void {
    for (const waiter of this.stopWaiters.splice(0)) waiter.reject(error);
  }

  private shutDown(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.retryTimer = null;
    this.watchdog = null;
    this.detach();
  }
}
