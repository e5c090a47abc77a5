/**
 * The plain protocol on sockets the call object holds itself: a client that names its call at
 * the upgrade (`?callId=`) costs one object hop per frame instead of two. The runtime hands a
 * socket's next message over only once the previous handler has returned, so handlers only
 * queue, and a batch starts a turn of the event loop after the frame that found the queue idle:
 * what arrives meanwhile, or while a batch is being applied, goes into it or the next one, whose
 * writes share one commit (see CallRecorder.sealChunks). Each frame is acked once its own batch
 * is durable.
 * The queue is bounded like the connection object's. A socket lives no longer than its token:
 * every frame checks it, and the call's alarm closes sockets at expiry.
 */
import { decodePlainFrame, encodeBinaryAcks, encodePlainEvent, type AckEvent, type AckFraming } from './plain-protocol';
import { liveError, type CallEvent, type LiveCommand } from './protocol';
import type { CallOwner, CallRecorder } from './call-recorder';
import { QUEUE_LIMITS } from './connection';
import { SocketAttachments } from './socket-attachments';

/** What the Worker hands over with the upgrade (built by the Worker, never taken from the client). */
export interface CallSocketRequest {
  principal: CallOwner;
  /** When the principal's token stops being valid (ms); null for an API key. */
  expiresAtMs: number | null;
  callId: string;
  /** `?acks=binary`: acks as binary records (see plain-protocol.ts); absent: JSON. */
  acks?: AckFraming;
}

/** Stored as the call's `connection` when the call object holds the socket itself. */
export const CALL_HOLDS_SOCKET = 'call-object';

export const CALL_SOCKET_HEADER = 'x-live-call-socket';

/** Per-socket state, in the socket's attachment (memory does not survive hibernation). */
interface Attachment {
  principal: CallOwner;
  expiresAtMs: number | null;
  callId: string;
  /** `start` was sent on this socket (and not refused): chunks may follow. */
  started: boolean;
  /** Absent in attachments written before binary acks existed: JSON. */
  acks?: AckFraming;
}

interface Queued {
  ws: WebSocket;
  command: LiveCommand;
}

/** At most this many commands go into one batch (a slow batch delays few acks). */
const MAX_BATCH_COMMANDS = 256;

export class CallSockets {
  private readonly attachments = new SocketAttachments<Attachment>();
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private busy = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly recorder: CallRecorder,
  ) {}

  async accept(request: CallSocketRequest): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    this.attachments.save(server, { principal: request.principal, expiresAtMs: request.expiresAtMs, callId: request.callId, started: false, acks: request.acks ?? 'json' });
    await this.armExpiry();
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * The call's alarm fires no later than the first socket's token expiry (a timer would keep the
   * object from hibernating). The call re-arms it for its own deadlines; a socket whose expiry
   * that moves past is closed at its next frame.
   */
  async armExpiry(): Promise<void> {
    let next = Infinity;
    for (const ws of this.ctx.getWebSockets()) {
      const { expiresAtMs } = this.attachments.get(ws);
      if (expiresAtMs !== null && expiresAtMs > Date.now()) next = Math.min(next, expiresAtMs);
    }
    if (next !== Infinity && ((await this.ctx.storage.getAlarm()) ?? Infinity) > next) await this.ctx.storage.setAlarm(next);
  }

  /** At the alarm: close the sockets whose token has expired. */
  closeExpired(): void {
    for (const ws of this.ctx.getWebSockets()) this.expired(ws);
  }

  private send(ws: WebSocket, event: CallEvent | ArrayBuffer): void {
    try {
      ws.send(event instanceof ArrayBuffer ? event : encodePlainEvent(event));
    } catch {
      // The socket closed meanwhile; the client resends what it has no ack for.
    }
  }

  /** True (and the socket told and closed) once its token has expired. */
  private expired(ws: WebSocket): boolean {
    const attachment = this.attachments.get(ws);
    if (attachment.expiresAtMs === null || Date.now() < attachment.expiresAtMs) return false;
    this.send(ws, liveError('unauthorized', 'The token has expired; connect again with a fresh one (calls resume from nextSequence)', attachment.callId));
    try {
      ws.close(1008, 'token expired');
    } catch {
      // Closed already.
    }
    return true;
  }

  message(ws: WebSocket, message: string | ArrayBuffer): void {
    if (this.expired(ws)) return;
    const attachment = this.attachments.get(ws);
    const { callId } = attachment;
    const command = decodePlainFrame(message);
    if ('type' in command) return this.send(ws, { ...command, callId });
    if (command.kind === 'start') {
      if (command.fields.callId !== callId) return this.send(ws, liveError('wrong_call', `This connection records call ${callId} (named at the upgrade)`, command.fields.callId));
      // Set before the answer, so that chunks sent right behind the start are taken.
      if (!attachment.started) this.attachments.save(ws, { ...attachment, started: true });
    } else if (!attachment.started) {
      return this.send(ws, liveError('not_started', `Send start before ${command.kind === 'chunk' ? 'any chunk' : command.kind}`, callId));
    } else if (command.kind !== 'chunk' && command.callId !== undefined && command.callId !== callId) {
      return this.send(ws, liveError('wrong_call', `This connection records call ${callId}, not ${command.callId}`, command.callId));
    }
    const bytes = command.kind === 'chunk' ? command.data.length : 0;
    if (this.queue.length >= QUEUE_LIMITS.commandsPerCall || (bytes > 0 && this.queuedBytes + bytes > QUEUE_LIMITS.bytes)) {
      const sequence = command.kind === 'chunk' ? ` (chunk ${command.sequence} is not stored)` : '';
      return this.send(ws, liveError('rate_limited', `Too much is waiting for this call${sequence}: wait for acks, then send again what has none`, callId));
    }
    this.queuedBytes += bytes;
    this.queue.push({ ws, command });
    if (!this.busy) {
      this.busy = true;
      // A turn of the event loop first: frames of this call that the runtime already holds are
      // handed over meanwhile and join the batch (under load, several frames per write and seal).
      setTimeout(() => void this.drain(), 0);
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        // One principal per batch (sockets of one owner may carry tokens of different roles).
        const role = this.attachments.get(this.queue[0]!.ws).principal.role;
        let count = 0;
        while (count < this.queue.length && count < MAX_BATCH_COMMANDS && this.attachments.get(this.queue[count]!.ws).principal.role === role) count++;
        const batch = this.queue.splice(0, count);
        for (const item of batch) if (item.command.kind === 'chunk') this.queuedBytes -= item.command.data.length;
        const owner = this.attachments.get(batch[0]!.ws).principal;
        // A batch that failed as a whole is answered `internal` below, chunk by chunk: sent again, they are stored or acked as duplicates.
        const answers = await this.recorder.execute(owner, CALL_HOLDS_SOCKET, batch.map((item) => item.command)).catch((): CallEvent[][] => []);
        // Binary acks of one socket go out together, as one frame, ahead of any other event for it.
        const pendingAcks = new Map<WebSocket, AckEvent[]>();
        const sendAcks = (ws: WebSocket) => {
          const acks = pendingAcks.get(ws);
          if (acks) this.send(ws, encodeBinaryAcks(acks));
          pendingAcks.delete(ws);
        };
        batch.forEach((item, i) => {
          const events = answers[i] ?? [liveError('internal', 'The call gave no answer; send again what has no ack', this.attachments.get(item.ws).callId)];
          const attachment = this.attachments.get(item.ws);
          const ended = events.some((event) => event.type === 'stopped') || (item.command.kind === 'start' && events[0]?.type === 'error');
          if (ended && attachment.started) this.attachments.save(item.ws, { ...attachment, started: false });
          for (const event of events) {
            if (event.type === 'ack' && attachment.acks === 'binary') {
              const acks = pendingAcks.get(item.ws);
              if (acks) acks.push(event);
              else pendingAcks.set(item.ws, [event]);
              continue;
            }
            sendAcks(item.ws);
            this.send(item.ws, event.type === 'error' && event.callId === undefined ? { ...event, callId: attachment.callId } : event);
          }
        });
        for (const ws of [...pendingAcks.keys()]) sendAcks(ws);
      }
    } finally {
      this.busy = false;
    }
  }

  /** Events of a call that an alarm ended, for the sockets that carry it. */
  deliver(events: CallEvent[]): void {
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = this.attachments.get(ws);
      if (!attachment.started) continue;
      for (const event of events) if (event.type !== 'error') this.send(ws, event);
      if (events.some((event) => event.type === 'stopped')) this.attachments.save(ws, { ...attachment, started: false });
    }
  }

  close(ws: WebSocket, code: number): void {
    this.attachments.forget(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closing');
    } catch {
      // Already closed (the runtime answers the close frame itself).
    }
  }
}
