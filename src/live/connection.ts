/**
 * One client WebSocket, inside its connection object: accepted with the hibernation API (an idle
 * socket costs nothing), its per-socket state in the socket's attachment (memory does not survive
 * hibernation), its frames translated by the plain or the Socket.IO codec into commands for the
 * call objects, and their answers translated back. The runtime hands a socket's next message over
 * only once the handler of the previous one has returned, so handlers never wait for a call's
 * answer: commands for one call travel in order, in batches (one RPC in flight per call, and what
 * arrives meanwhile goes in the next, see forward), within a bound (a client that floods faster
 * than its call commits is refused with `rate_limited`, not buffered).
 * A socket lives no longer than its token: `start` is refused once `exp` has passed, and an
 * alarm closes the socket at that moment.
 */
import { authenticate, credentialsExpireAt, credentialsFromSocketIoAuth, Unauthenticated } from '../auth/authenticate';
import type { Principal } from '../auth/principal';
import { auditLedger } from '../compliance/audit-log';
import { recordDeniedAuth } from '../compliance/denied-auth';
import { getConfig, type Bindings } from '../config';
import { createDb } from '../db/client';
import { describeError, type Logger } from '../observability/logger';
import { decodePlainFrame, encodePlainEvent } from './plain-protocol';
import { liveError, type CallEvent, type LiveCommand } from './protocol';
import { callStub, type LiveCallRpc } from './routing';
import { ENGINE_IO, SocketIoDecoder, connectErrorFrames, connectFrames, eventCommand, eventFrames, openFrame, pingFrame, pongFrame } from './socket-io';
import type { CallOwner } from './call-recorder';
import { bytesToBase64Url } from '../encoding';
import { SocketAttachments } from './socket-attachments';

export type LiveProtocol = 'plain' | 'socketio';

/** What the Worker hands over with the upgrade (built by the Worker, never taken from the client). */
export interface ConnectionRequest {
  protocol: LiveProtocol;
  /** Known at the upgrade for the plain protocol; for Socket.IO only when a header or ?token= carried it. */
  principal: Principal | null;
  /** When the principal's token stops being valid (ms); null for an API key or no principal yet. */
  expiresAtMs: number | null;
  requestId: string;
  /** The client's address (CF-Connecting-IP), for the audit of a refused Socket.IO connect. */
  clientAddress: string;
}

export const CONNECTION_HEADER = 'x-live-connection';

/** Per-socket state, kept in the socket's attachment (at most 2 KiB). */
interface Attachment {
  protocol: LiveProtocol;
  principal: { id: string; role: string } | null;
  expiresAtMs: number | null;
  requestId: string;
  clientAddress: string;
  openedMs: number;
  /** Plain: the call this socket records (a binary frame names no call). */
  callId: string | null;
  /** Socket.IO: the Engine.IO session id, and whether the namespace "/" is connected. */
  sid?: string;
  connected?: boolean;
  /** Socket.IO: namespace CONNECTs refused so far (the socket closes at MAX_FAILED_CONNECTS). */
  failedConnects?: number;
}

interface CommandQueue {
  items: { command: LiveCommand; resolve: (events: CallEvent[]) => void }[];
  busy: boolean;
}

/** Commands waiting for one call, and audio bytes waiting for all calls of this object: beyond either, a chunk is refused with `rate_limited`. */
export const QUEUE_LIMITS = { commandsPerCall: 1024, bytes: 4 * 1024 * 1024 } as const;

/** A Socket.IO socket that fails this many namespace CONNECTs is closed (credential guessing costs a new socket each time). */
export const MAX_FAILED_CONNECTS = 3;

/** One batch to a call carries at most this much (RPC messages stay small; a slow batch delays few acks). */
const MAX_BATCH_COMMANDS = 64;
const MAX_BATCH_BYTES = 2 * 1024 * 1024;

/** A Socket.IO client that has not connected the namespace by then is disconnected. */
const CONNECT_TIMEOUT_MS = 45_000;

const randomId = () => bytesToBase64Url(crypto.getRandomValues(new Uint8Array(15)));

export class ConnectionSockets {
  private readonly attachments = new SocketAttachments<Attachment>();
  private readonly decoders = new Map<WebSocket, SocketIoDecoder>();
  private readonly stubs = new Map<string, DurableObjectStub<LiveCallRpc>>();
  private readonly queues = new Map<string, CommandQueue>();
  /** Chunk bytes in every queue of this object. */
  private queuedBytes = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Bindings,
    private readonly log: Logger,
  ) {}

  async accept(request: ConnectionRequest): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    const attachment: Attachment = {
      protocol: request.protocol,
      principal: request.principal ? { id: request.principal.id, role: request.principal.role } : null,
      expiresAtMs: request.expiresAtMs,
      requestId: request.requestId,
      clientAddress: request.clientAddress,
      openedMs: Date.now(),
      callId: null,
    };
    if (request.protocol === 'socketio') {
      attachment.sid = randomId();
      attachment.connected = false;
      server.send(openFrame(attachment.sid));
    }
    this.attachments.save(server, attachment);
    await this.scheduleAlarm();
    return new Response(null, { status: 101, webSocket: client });
  }

  /** The next ping (Socket.IO sockets) or token expiry, whichever comes first. */
  private async scheduleAlarm(): Promise<void> {
    let next = Infinity;
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = this.attachments.get(ws);
      if (attachment.protocol === 'socketio') next = Math.min(next, Date.now() + ENGINE_IO.pingIntervalMs);
      // An expired socket is already closed (see expired).
      if (attachment.expiresAtMs !== null && attachment.expiresAtMs > Date.now()) next = Math.min(next, attachment.expiresAtMs);
    }
    if (next === Infinity) await this.ctx.storage.deleteAlarm();
    else if (((await this.ctx.storage.getAlarm()) ?? Infinity) > next) await this.ctx.storage.setAlarm(next);
  }

  /** True (and the socket told and closed) once its token has expired. */
  private expired(ws: WebSocket, attachment: Attachment): boolean {
    if (attachment.expiresAtMs === null || Date.now() < attachment.expiresAtMs) return false;
    const error = liveError('unauthorized', 'The token has expired; connect again with a fresh one (calls resume from nextSequence)', attachment.callId ?? undefined);
    if (attachment.protocol === 'plain') this.send(ws, encodePlainEvent(error));
    else if (attachment.connected) for (const frame of eventFrames(error)) this.send(ws, frame);
    try {
      ws.close(1008, 'token expired');
    } catch {
      // Closed already.
    }
    return true;
  }

  async message(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = this.attachments.get(ws);
    if (this.expired(ws, attachment)) return;
    if (attachment.protocol === 'plain') await this.plainMessage(ws, attachment, message);
    else await this.socketIoMessage(ws, attachment, message);
  }

  close(ws: WebSocket, code: number): void {
    this.attachments.forget(ws);
    this.decoders.delete(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closing');
    } catch {
      // Already closed (the runtime answers the close frame itself).
    }
    if (this.ctx.getWebSockets().every((socket) => socket === ws)) this.ctx.storage.deleteAlarm().catch(() => undefined);
  }

  /** Token expiry closes its socket; Socket.IO heartbeat: ping every pingInterval, drop sockets that never connected the namespace. */
  async alarm(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = this.attachments.get(ws);
      if (this.expired(ws, attachment) || attachment.protocol !== 'socketio') continue;
      if (!attachment.connected && Date.now() - attachment.openedMs > CONNECT_TIMEOUT_MS) {
        ws.close(1008, 'no namespace connect');
        continue;
      }
      this.send(ws, pingFrame());
    }
    await this.scheduleAlarm();
  }

  /** Events from a call that ended by itself (idle or maximum duration), for the socket(s) that carried it. */
  deliver(events: CallEvent[]): void {
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = this.attachments.get(ws);
      for (const event of events) {
        if (attachment.protocol === 'socketio') {
          if (attachment.connected) for (const frame of eventFrames(event)) this.send(ws, frame);
        } else if (event.type !== 'error' && attachment.callId === event.callId) {
          this.send(ws, encodePlainEvent(event));
          if (event.type === 'stopped') this.attachments.save(ws, { ...attachment, callId: null });
        }
      }
    }
  }

  private send(ws: WebSocket, frame: string | ArrayBuffer): void {
    try {
      ws.send(frame);
    } catch {
      // The socket closed meanwhile; the client resends what it has no ack for.
    }
  }

  private stub(owner: string, callId: string): DurableObjectStub<LiveCallRpc> {
    const key = JSON.stringify([owner, callId]);
    let stub = this.stubs.get(key);
    if (!stub) {
      stub = callStub(this.env, owner, callId);
      this.stubs.set(key, stub);
    }
    return stub;
  }

  /**
   * Forward one command to its call. Commands wait in a per-call queue while a batch is in
   * flight, and go together in the next one: order is kept (a pause lands between the very
   * chunks it separates), and a busy call commits many chunks at once. Every answer names the
   * call, even one from an object that has no call.
   */
  private forward(owner: CallOwner, callId: string, command: LiveCommand): Promise<CallEvent[]> {
    const key = JSON.stringify([owner.id, callId]);
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { items: [], busy: false };
      this.queues.set(key, queue);
    }
    const bytes = command.kind === 'chunk' ? command.data.length : 0;
    if (queue.items.length >= QUEUE_LIMITS.commandsPerCall || (bytes > 0 && this.queuedBytes + bytes > QUEUE_LIMITS.bytes)) {
      if (queue.items.length === 0 && !queue.busy) this.queues.delete(key);
      const sequence = command.kind === 'chunk' ? ` (chunk ${command.sequence} is not stored)` : '';
      return Promise.resolve([liveError('rate_limited', `Too much is waiting for this call${sequence}: wait for acks, then send again what has none`, callId)]);
    }
    this.queuedBytes += bytes;
    const answer = new Promise<CallEvent[]>((resolve) => queue.items.push({ command, resolve }));
    if (!queue.busy) void this.drain(key, owner, callId, queue);
    return answer.then((events) => events.map((event) => (event.type === 'error' && event.callId === undefined ? { ...event, callId } : event)));
  }

  private async drain(key: string, owner: CallOwner, callId: string, queue: CommandQueue): Promise<void> {
    queue.busy = true;
    while (queue.items.length > 0) {
      let bytes = 0;
      let count = 0;
      while (count < queue.items.length && count < MAX_BATCH_COMMANDS && bytes < MAX_BATCH_BYTES) {
        const command = queue.items[count]!.command;
        bytes += command.kind === 'chunk' ? command.data.length : 0;
        count++;
      }
      const batch = queue.items.splice(0, count);
      const answers = await this.invoke(owner, callId, batch.map((item) => item.command));
      for (const item of batch) if (item.command.kind === 'chunk') this.queuedBytes -= item.command.data.length;
      batch.forEach((item, i) => item.resolve(answers[i] ?? [liveError('internal', 'The call gave no answer; send again what has no ack', callId)]));
    }
    queue.busy = false;
    this.queues.delete(key);
  }

  /** A call object that restarts under us (a retryable failure) is tried once more; replays are harmless. */
  private async invoke(owner: CallOwner, callId: string, commands: LiveCommand[]): Promise<CallEvent[][]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.stub(owner.id, callId).liveCommands(owner, this.ctx.id.toString(), commands);
      } catch (error) {
        this.stubs.delete(JSON.stringify([owner.id, callId]));
        if (attempt === 0 && (error as { retryable?: boolean }).retryable === true) continue;
        this.log.error('live call did not answer', { callId, commands: commands.length, ...describeError(error) });
        return commands.map(() => [liveError('service_unavailable', 'The call is temporarily unavailable; send again what has no ack', callId)]);
      }
    }
  }

  private async plainMessage(ws: WebSocket, attachment: Attachment, message: string | ArrayBuffer): Promise<void> {
    const reply = (events: CallEvent[]) => {
      for (const event of events) this.send(ws, encodePlainEvent(event));
    };
    const command = decodePlainFrame(message);
    if ('type' in command) return reply([{ ...command, ...(attachment.callId ? { callId: attachment.callId } : {}) }]);
    const owner = attachment.principal!;
    if (command.kind === 'start') {
      const { callId } = command.fields;
      if (attachment.callId !== null && attachment.callId !== callId) {
        return reply([liveError('wrong_call', `This connection records call ${attachment.callId}; stop it or open another connection`, callId)]);
      }
      // Bound before the answer, so that chunks sent right behind the start follow it to the same call.
      this.attachments.save(ws, { ...attachment, callId });
      void this.forward(owner, callId, command).then((events) => {
        if (events[0]?.type === 'error') {
          const current = this.attachments.get(ws);
          if (current.callId === callId) this.attachments.save(ws, { ...current, callId: null });
        }
        reply(events);
      });
      return;
    }
    const callId = attachment.callId;
    if (callId === null) return reply([liveError('not_started', `Send start before ${command.kind === 'chunk' ? 'any chunk' : command.kind}`)]);
    if (command.kind !== 'chunk' && command.callId !== undefined && command.callId !== callId) {
      return reply([liveError('wrong_call', `This connection records call ${callId}, not ${command.callId}`, command.callId)]);
    }
    void this.forward(owner, callId, command).then((events) => {
      if (events.some((event) => event.type === 'stopped')) {
        const current = this.attachments.get(ws);
        if (current.callId === callId) this.attachments.save(ws, { ...current, callId: null });
      }
      reply(events);
    });
  }

  private decoder(ws: WebSocket): SocketIoDecoder {
    let decoder = this.decoders.get(ws);
    if (!decoder) {
      decoder = new SocketIoDecoder();
      this.decoders.set(ws, decoder);
    }
    return decoder;
  }

  private async socketIoMessage(ws: WebSocket, attachment: Attachment, message: string | ArrayBuffer): Promise<void> {
    const input = this.decoder(ws).decode(message);
    switch (input.kind) {
      case 'ping':
        return this.send(ws, pongFrame());
      case 'close':
        return ws.close(1000, 'client closed');
      case 'pong':
      case 'noop':
      case 'partial':
        return;
      case 'invalid':
        if (attachment.connected) for (const frame of eventFrames(liveError('invalid_request', input.message))) this.send(ws, frame);
        else ws.close(1002, 'invalid frame');
        return;
    }
    const { packet } = input;
    switch (packet.type) {
      case 0: // CONNECT
        return this.connectNamespace(ws, attachment, packet.nsp, packet.data);
      case 1: // DISCONNECT
        return ws.close(1000, 'namespace disconnect');
      case 2: {
        // EVENT (binary events arrive reassembled as EVENT too)
        if (!attachment.connected || !attachment.principal) return;
        const { command, ackId } = eventCommand(packet);
        const answer = (events: CallEvent[]) =>
          events.forEach((event, i) => {
            for (const frame of eventFrames(event, i === 0 ? ackId : undefined)) this.send(ws, frame);
          });
        if ('type' in command) return answer([command]);
        void this.forward(attachment.principal, command.kind === 'start' ? command.fields.callId : command.callId!, command).then(answer);
        return;
      }
      default:
        return;
    }
  }

  private async connectNamespace(ws: WebSocket, attachment: Attachment, nsp: string, auth: unknown): Promise<void> {
    const refuse = (namespace: string, message: string, code: string) => {
      for (const frame of connectErrorFrames(namespace, message, code)) this.send(ws, frame);
      const failedConnects = (this.attachments.get(ws).failedConnects ?? 0) + 1;
      this.attachments.save(ws, { ...this.attachments.get(ws), failedConnects });
      if (failedConnects >= MAX_FAILED_CONNECTS) ws.close(1008, 'too many failed connects');
    };
    if (nsp !== '/') return refuse(nsp, 'Invalid namespace', 'invalid_request');
    let principal = attachment.principal;
    let expiresAtMs = attachment.expiresAtMs;
    if (!principal) {
      const config = getConfig(this.env);
      const credentials = credentialsFromSocketIoAuth(auth);
      try {
        const authenticated = await authenticate(credentials, config);
        principal = { id: authenticated.id, role: authenticated.role };
        expiresAtMs = credentialsExpireAt(credentials, config);
      } catch (error) {
        if (error instanceof Unauthenticated) {
          this.log.info('authentication failed', { reason: error.reason, requestId: attachment.requestId });
          const denial = { source: attachment.clientAddress, reason: error.reason, path: '/socket.io/' };
          this.ctx.waitUntil(recordDeniedAuth(createDb(this.env.DB), auditLedger(this.env, config), denial).catch((e) => this.log.error('recording a denied connect failed', describeError(e))));
        } else {
          this.log.error('authentication failed to run', describeError(error));
          for (const frame of connectErrorFrames('/', 'Authentication is temporarily unavailable', 'service_unavailable')) this.send(ws, frame);
          return;
        }
      }
    }
    if (!principal) return refuse('/', 'Missing or invalid credentials', 'unauthorized');
    const current = this.attachments.get(ws);
    this.attachments.save(ws, { ...current, principal, expiresAtMs, connected: true });
    await this.scheduleAlarm();
    for (const frame of connectFrames(randomId())) this.send(ws, frame);
  }
}
