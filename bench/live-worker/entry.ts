/**
 * The live benchmark's Worker: the service's entry unchanged, plus the bare durable-ack baseline
 * of issue 15 (accept a WebSocket, insert each chunk into the object's SQLite, ack) at
 * /api/v1/bench/bare-ack, so that both sides run in one `wrangler dev`, one runtime, one process.
 * Never deployed: bench/live-throughput.mjs builds its config from wrangler.toml.
 */
import { DurableObject } from 'cloudflare:workers';
import service from '../../src/index';
import type { Bindings } from '../../src/context';

// Every Durable Object class of the service, whatever wrangler.toml binds.
export * from '../../src/index';

export class BareAck extends DurableObject {
  private ready = false;

  override fetch(): Response {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message === 'string') return;
    if (!this.ready) {
      this.ctx.storage.sql.exec('create table if not exists chunks (seq integer primary key, data blob not null)');
      this.ready = true;
    }
    const sequence = new DataView(message).getUint32(0);
    this.ctx.storage.sql.exec('insert or ignore into chunks (seq, data) values (?, ?)', sequence, message.slice(4));
    // The runtime holds this until the insert is durable: an ack after commit, as the service's.
    ws.send(JSON.stringify({ type: 'ack', sequence }));
  }
}

export default {
  fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/bench/bare-ack') {
      const namespace = (env as unknown as { BARE_ACK: DurableObjectNamespace<BareAck> }).BARE_ACK;
      return namespace.getByName(url.searchParams.get('id') ?? 'bare').fetch(request);
    }
    return service.fetch(request, env, ctx);
  },
  queue: service.queue,
  scheduled: service.scheduled,
} satisfies ExportedHandler<Bindings>;
