/**
 * The baseline Worker for benchmarks: the same runtime and bindings as the service with none of
 * its work. `PUT /r2/<key>` streams the body into R2 in equal parts (as the service does, minus
 * encryption, auth, D1 and audit); `GET /crypto?mb=N` measures the chunk encryptor inside workerd.
 * For the audit benchmark: `GET /hello` answers a few bytes (what `wrangler dev` can serve at all
 * on this machine), `GET /recordings/<id>` reads the recording's row from D1 and answers it as JSON
 * (the audited read without auth, audit or the service around it), and `GET /audit-floor` reads
 * every shard's events with the verifier's query and SHA-256s each once (the least any verification
 * of the log must do, without its canonical form, links or checkpoints).
 */
import { createHash } from 'node:crypto';
import { ChunkSealer, createSealStream } from '../../src/crypto/chunked';

const PART = 320 * 16_400;

async function streamToR2(bucket: R2Bucket, key: string, body: ReadableStream<Uint8Array>): Promise<number> {
  const upload = await bucket.createMultipartUpload(key);
  const parts: R2UploadedPart[] = [];
  const reader = body.getReader();
  let buffer = new Uint8Array(PART);
  let filled = 0;
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let at = 0;
    while (at < value.length) {
      const take = Math.min(value.length - at, PART - filled);
      buffer.set(value.subarray(at, at + take), filled);
      filled += take;
      at += take;
      total += take;
      if (filled === PART) {
        parts.push(await upload.uploadPart(parts.length + 1, buffer));
        buffer = new Uint8Array(PART);
        filled = 0;
      }
    }
  }
  if (filled > 0) parts.push(await upload.uploadPart(parts.length + 1, buffer.subarray(0, filled)));
  await upload.complete(parts);
  return total;
}

/** Every shard's rows, a page of 5,000 at a time as the verifier reads them, each hashed once over its columns. */
async function auditFloor(db: D1Database): Promise<number> {
  const shards = (await db.prepare('select distinct shard from audit_events').raw<[number]>()).map(([shard]) => shard);
  let events = 0;
  for (const shard of shards) {
    for (let after = 0; ; ) {
      const rows = await db
        .prepare('select id, shard, seq, at, actor, actor_role, action, recording_id, subject_user_id, outcome, details, request_id, prev_hash, hash from audit_events where shard = ? and seq > ? order by seq limit ?')
        .bind(shard, after, 5000)
        .raw<unknown[]>();
      for (const row of rows) createHash('sha256').update(row.join('\n'), 'utf8').digest('hex');
      events += rows.length;
      if (rows.length < 5000) break;
      after = rows[rows.length - 1]![2] as number;
    }
  }
  return events;
}

export default {
  async fetch(request: Request, env: { BUCKET: R2Bucket; DB: D1Database }): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/hello') return Response.json({ ok: true });
    if (url.pathname.startsWith('/recordings/')) {
      const row = await env.DB.prepare('select * from recordings where id = ?').bind(url.pathname.slice('/recordings/'.length)).first();
      return row ? Response.json(row) : Response.json({ error: 'not_found' }, { status: 404 });
    }
    if (url.pathname === '/audit-floor') return Response.json({ events: await auditFloor(env.DB) });
    if (request.method === 'PUT' && url.pathname.startsWith('/r2/')) {
      const size = await streamToR2(env.BUCKET, url.pathname.slice(4), request.body!);
      return Response.json({ size });
    }
    if (url.pathname === '/crypto') {
      const mb = Number(url.searchParams.get('mb') ?? '64');
      const sealer = await ChunkSealer.create(crypto.getRandomValues(new Uint8Array(32)), new TextEncoder().encode('bench'));
      const piece = crypto.getRandomValues(new Uint8Array(65536));
      const pieces = (mb * 1024 * 1024) / piece.length;
      const started = performance.now();
      let out = 0;
      const sealed = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (out++ >= pieces) controller.close();
          else controller.enqueue(piece);
        },
      }).pipeThrough(createSealStream(sealer));
      const reader = sealed.getReader();
      while (!(await reader.read()).done);
      // performance.now() only advances across I/O in workerd: a fetch of nothing marks the end.
      await fetch('http://127.0.0.1:9/').catch(() => undefined);
      return Response.json({ mb, ms: performance.now() - started });
    }
    return new Response('not found', { status: 404 });
  },
};
