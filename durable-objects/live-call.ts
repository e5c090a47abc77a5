/**
 * The live-recording Durable Object. One class, three kinds of objects (see src/live/routing.ts):
 * a connection object per WebSocket (hibernatable; src/live/connection.ts), a call object per
 * (owner, callId) that keeps the recording durable and writes it to storage
 * (src/live/call-recorder.ts), and a registry object per owner capping concurrent calls
 * (src/live/registry.ts). An object only ever plays one part, chosen by how it is reached: an
 * upgrade and socket events make a connection, `liveCommands` a call, the *Call methods a
 * registry.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../src/context';
import { CallRecorder, type CallOwner } from '../src/live/call-recorder';
import { CONNECTION_HEADER, LiveConnection, type ConnectionRequest } from '../src/live/connection';
import type { CallEvent, LiveCommand } from '../src/live/protocol';
import { CallRegistry } from '../src/live/registry';
import { createLogger, describeError, type LogLevel, type Logger } from '../src/observability/logger';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export class LiveCall extends DurableObject<Bindings> {
  private readonly log: Logger;
  private recorder?: CallRecorder;
  private connection?: LiveConnection;
  private registry?: CallRegistry;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.log = createLogger({ component: 'live-call', object: ctx.id.toString() }, LEVELS.find((l) => l === env.LOG_LEVEL) ?? 'info');
  }

  private call(): CallRecorder {
    this.recorder ??= new CallRecorder(this.env, this.ctx.storage, this.log);
    return this.recorder;
  }

  private sockets(): LiveConnection {
    this.connection ??= new LiveConnection(this.ctx, this.env, this.log);
    return this.connection;
  }

  private calls(): CallRegistry {
    this.registry ??= new CallRegistry(this.ctx.storage.sql);
    return this.registry;
  }

  /** The upgrade, forwarded by src/routes/live.ts with the connection's details in a header it built. */
  override async fetch(request: Request): Promise<Response> {
    const details = request.headers.get(CONNECTION_HEADER);
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket' || !details) return new Response('expected a WebSocket upgrade', { status: 426 });
    return this.sockets().accept(JSON.parse(details) as ConnectionRequest);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    try {
      await this.sockets().message(ws, message);
    } catch (error) {
      this.log.error('live message failed', describeError(error));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.sockets().close(ws, code);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets().close(ws, 1011);
  }

  /** Connection objects ping their Socket.IO clients; call objects time out, retry or clean up. */
  override async alarm(): Promise<void> {
    if (this.ctx.getWebSockets().length > 0) await this.sockets().alarm();
    else await this.call().alarm();
  }

  /** Call objects: run a connection's commands for this call, in order; the answers to each. */
  liveCommands(owner: CallOwner, connection: string, commands: LiveCommand[]): Promise<CallEvent[][]> {
    return this.call().execute(owner, connection, commands);
  }

  /** Connection objects: events of a call that an alarm ended. */
  deliver(events: CallEvent[]): void {
    this.sockets().deliver(events);
  }

  /** Registry objects: take one of the owner's `limit` places for `callId` (true), or refuse (false). */
  claimCall(callId: string, limit: number, nowMs: number, staleAfterMs: number): boolean {
    return this.calls().claim(callId, limit, nowMs, staleAfterMs);
  }

  releaseCall(callId: string): void {
    this.calls().release(callId);
  }
}
