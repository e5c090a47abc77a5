/**
 * The call object: one per (owner, callId) (src/live/routing.ts). It keeps the recording durable
 * and writes it to storage (src/live/call-recorder.ts); its commands come over RPC from
 * connection objects, or straight from the sockets it holds itself when the client named the
 * call at the upgrade (src/live/call-sockets.ts). Its alarm is the call's: idle timeout, maximum
 * duration, finalization retries and the clean-up of a finished call.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../src/config';
import { CALL_HOLDS_SOCKET, CALL_SOCKET_HEADER, CallSockets, type CallSocketRequest } from '../src/live/call-sockets';
import { CallRecorder, type CallOwner } from '../src/live/call-recorder';
import { liveLogger } from '../src/live/live-logger';
import type { CallEvent, LiveCommand } from '../src/live/protocol';
import { connectionStub, type LiveCallRpc } from '../src/live/routing';
import { describeError, type Logger } from '../src/observability/logger';

export class LiveCall extends DurableObject<Bindings> implements LiveCallRpc {
  private readonly log: Logger;
  private readonly recorder: CallRecorder;
  private readonly sockets: CallSockets;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.log = liveLogger(env, 'live-call', ctx.id.toString());
    this.recorder = new CallRecorder(env, ctx.storage, this.log, async (connection, events) => {
      if (connection === CALL_HOLDS_SOCKET) this.sockets.deliver(events);
      else await connectionStub(env, connection).deliver(events);
    });
    this.sockets = new CallSockets(ctx, this.recorder);
  }

  /** A plain-protocol upgrade that named this call (`?callId=`), forwarded by src/routes/live.ts with details it built. */
  override async fetch(request: Request): Promise<Response> {
    const details = request.headers.get(CALL_SOCKET_HEADER);
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket' || !details) return new Response('expected a WebSocket upgrade', { status: 426 });
    return this.sockets.accept(JSON.parse(details) as CallSocketRequest);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    try {
      this.sockets.message(ws, message);
    } catch (error) {
      this.log.error('live message failed', describeError(error));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.sockets.close(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets.close(ws, 1011);
  }

  override async alarm(): Promise<void> {
    this.sockets.closeExpired();
    await this.recorder.alarm();
    await this.sockets.armExpiry();
  }

  /** Run a connection's commands for this call, in order; the answers to each. */
  liveCommands(owner: CallOwner, connection: string, commands: LiveCommand[]): Promise<CallEvent[][]> {
    return this.recorder.execute(owner, connection, commands);
  }
}
