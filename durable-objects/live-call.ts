/** One Durable Object per live call: takes WebSocket chunks, keeps them durable, writes R2 multipart parts. */
import { DurableObject } from 'cloudflare:workers';
import type { Bindings } from '../src/context';

export class LiveCall extends DurableObject<Bindings> {
  override async fetch(): Promise<Response> {
    return Response.json({ error: { code: 'not_implemented', message: 'Live recording is not implemented yet in this deployment' } }, { status: 501 });
  }
}
