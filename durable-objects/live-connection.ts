/**
 * The connection object: one per WebSocket whose call is not known at the upgrade (Socket.IO, or
 * plain without `?callId=`). It holds the hibernating socket and speaks its protocol
 * (src/live/connection.ts); its alarm is the Socket.IO heartbeat and the token's expiry.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../src/config';
import type { LiveConnectionRpc } from '../src/live/routing';
import { CONNECTION_HEADER, ConnectionSockets, type ConnectionRequest } from '../src/live/connection';
import type { CallEvent } from '../src/live/protocol';
import { liveLogger } from '../src/live/live-logger';
import { describeError, type Logger } from '../src/observability/logger';

export class LiveConnection extends DurableObject<Bindings> implements LiveConnectionRpc {
  private readonly log: Logger;
  private readonly sockets: ConnectionSockets;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.log = liveLogger(env, 'live-connection', ctx.id.toString());
    this.sockets = new ConnectionSockets(ctx, env, this.log);
  }

  /** The upgrade, forwarded by src/routes/live.ts with the connection's details in a header it built. */
  override async fetch(request: Request): Promise<Response> {
    const details = request.headers.get(CONNECTION_HEADER);
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket' || !details) return new Response('expected a WebSocket upgrade', { status: 426 });
    return this.sockets.accept(JSON.parse(details) as ConnectionRequest);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    try {
      await this.sockets.message(ws, message);
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
    await this.sockets.alarm();
  }

  /** Events of a call that an alarm ended, for the socket(s) that carried it. */
  deliver(events: CallEvent[]): void {
    this.sockets.deliver(events);
  }
}
