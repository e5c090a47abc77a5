/**
 * docs/encryption.md is enough to decrypt a stored recording: this test seals a recording with the
 * service's own code (chunked.ts and keys.ts, run under Node against SQLite with the D1
 * migrations), then decrypts it again using nothing but `node:crypto` and the document.
 */
import { createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { drizzle } from 'drizzle-orm/sqlite-proxy';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client';
import { ChunkSealer, createSealStream } from '../../src/crypto/chunked';
import { activeUserKey, newDataKey, wrapDataKey } from '../../src/crypto/keys';
import * as schema from '../../src/db/schema';

const MASTER = 'dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMtISE=';

// ---- The document's procedure, with node:crypto only ----

/** AES-256-GCM open of iv (12) ‖ ciphertext ‖ tag (16). */
function openGcm(key: Buffer, iv: Buffer, sealed: Buffer, aad?: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

const openWrapped = (key: Buffer, wrapped: Buffer, aad: string) => openGcm(key, wrapped.subarray(0, 12), wrapped.subarray(12), Buffer.from(aad));

/** HKDF-Expand (RFC 5869 §2.3) with SHA-512. */
function hkdfExpandSha512(prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = createHmac('sha512', prk).update(Buffer.concat([previous, info, Buffer.from([i])])).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** "Decrypting a stored recording", step by step. */
function decryptRecording(input: { master: string; userId: string; wrappedSecret: Buffer; keyVersion: number; recordingId: string; wrappedDataKey: Buffer; object: Buffer }): Buffer {
  const master = Buffer.from(input.master, 'base64');
  const wrapKey = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'call-recorder/user-secret-wrap/v1', 32));
  const secret = openWrapped(wrapKey, input.wrappedSecret, `call-recorder/user-secret/v1/${input.userId}/${input.keyVersion}`);
  const userKey = Buffer.from(hkdfSync('sha256', master, secret, `call-recorder/user-key/v1/${input.userId}/${input.keyVersion}`, 32));
  const dataKey = openWrapped(userKey, input.wrappedDataKey, input.recordingId);
  return decryptObject(dataKey, Buffer.from(input.recordingId), input.object);
}

function decryptObject(dataKey: Buffer, context: Buffer, object: Buffer): Buffer {
  const salt = object.subarray(0, 24);
  const info = Buffer.concat([Buffer.from('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0'), salt, context]);
  const okm = hkdfExpandSha512(dataKey, info, 76);
  const [key, baseNonce, commitment] = [okm.subarray(0, 32), okm.subarray(32, 44), okm.subarray(44, 76)];
  if (!commitment.equals(object.subarray(24, 56))) throw new Error('commitment mismatch');
  const body = object.subarray(56);
  const finalChunk = Math.floor(body.length / 16400);
  if (body.length % 16400 < 16) throw new Error('truncated');
  const out: Buffer[] = [];
  for (let k = 0; k <= finalChunk; k++) {
    const counter = Buffer.alloc(12);
    counter.writeUIntBE(k, 6, 6); // k as a 96-bit big-endian integer (k < 2^38)
    const nonce = Buffer.from(baseNonce.map((byte, i) => byte ^ counter[i]!));
    out.push(openGcm(key, nonce, body.subarray(k * 16400, Math.min(body.length, (k + 1) * 16400))));
  }
  return Buffer.concat(out);
}

// ---- Producing a stored recording with the service's own code ----

async function sqliteDatabase(): Promise<{ db: Database; sqlite: DatabaseSync }> {
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
  const sqlite = new DatabaseSync(':memory:');
  const migrations = path.join(import.meta.dirname, '../../migrations');
  for (const file of readdirSync(migrations).filter((f) => f.endsWith('.sql')).sort()) {
    for (const statement of readFileSync(path.join(migrations, file), 'utf8').split('--> statement-breakpoint')) sqlite.exec(statement);
  }
  const db = drizzle(
    async (query, params, method) => {
      const statement = sqlite.prepare(query);
      if (method === 'run') {
        statement.run(...(params as never[]));
        return { rows: [] };
      }
      const rows = statement.all(...(params as never[])).map((row) => Object.values(row));
      // `get` answers one row, or undefined when there is none (drizzle then yields undefined too).
      return { rows: method === 'get' ? (rows[0] as unknown[]) : rows };
    },
    { schema },
  );
  return { db: db as unknown as Database, sqlite };
}

async function sealObject(dataKey: Uint8Array, recordingId: string, plaintext: Uint8Array, salt?: Uint8Array): Promise<Buffer> {
  const sealer = await ChunkSealer.create(dataKey, new TextEncoder().encode(recordingId), salt);
  let at = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= plaintext.length) return controller.close();
      const size = 1 + Math.floor(Math.random() * 50_000);
      controller.enqueue(plaintext.subarray(at, (at += size)));
    },
  });
  return Buffer.from(await new Response(source.pipeThrough(createSealStream(sealer))).arrayBuffer());
}

describe('docs/encryption.md', () => {
  it.each([0, 1, 16383, 16384, 16385, 256 * 16384 + 99])('decrypts a %i-byte object with a known key, salt and context', async (size) => {
    const dataKey = randomBytes(32);
    const plaintext = randomBytes(size);
    const object = await sealObject(dataKey, 'rec_doc', plaintext, randomBytes(24));
    expect(decryptObject(dataKey, Buffer.from('rec_doc'), object).equals(plaintext)).toBe(true);
    expect(() => decryptObject(dataKey, Buffer.from('rec_other'), object)).toThrow('commitment');
  });

  it('decrypts a stored recording from MASTER_ENCRYPTION_KEY, the D1 rows and the object alone', async () => {
    const { db, sqlite } = await sqliteDatabase();
    const userId = 'user_doc';
    const recordingId = 'rec_01doc';
    const { version, key } = await activeUserKey(db, MASTER, userId);
    const dataKey = newDataKey();
    const plaintext = randomBytes(3 * 16384 + 1234);
    const object = await sealObject(dataKey, recordingId, plaintext);
    const now = new Date().toISOString();
    await db.insert(schema.recordings).values({
      id: recordingId,
      callId: 'call_doc',
      userId,
      startTime: now,
      format: 'wav',
      contentType: 'audio/wav',
      status: 'ready',
      wrappedDataKey: Buffer.from(await wrapDataKey(key, dataKey, recordingId)),
      keyVersion: version,
      ciphertextSize: object.length,
      createdAt: now,
      updatedAt: now,
    });

    const recording = sqlite.prepare('select wrapped_data_key, key_version from recordings where id = ?').get(recordingId) as { wrapped_data_key: Uint8Array; key_version: number };
    const userKey = sqlite.prepare('select wrapped_secret from user_keys where user_id = ? and version = ?').get(userId, recording.key_version) as { wrapped_secret: Uint8Array };
    const decrypted = decryptRecording({
      master: MASTER,
      userId,
      keyVersion: recording.key_version,
      wrappedSecret: Buffer.from(userKey.wrapped_secret),
      recordingId,
      wrappedDataKey: Buffer.from(recording.wrapped_data_key),
      object,
    });
    expect(decrypted.equals(plaintext)).toBe(true);
  });
});
