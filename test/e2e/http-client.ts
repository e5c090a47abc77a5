/**
 * A plain HTTP client of the service for the contract tests over the wire (test/node/contract-http*):
 * Node's `http` for responses whose raw headers matter, tokens and API key, uploads, waiting for
 * processing, and the contract's error shape checked in one place.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import { TEST_SECRETS } from '../support/secrets';

export const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;

export type Role = 'user' | 'admin' | 'auditor';

export interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request through Node's http client: the headers exactly as they came over the wire. */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const rawGet = (url: string, headers: Record<string, string> = {}) => rawRequest(url, { headers });

export function tokenFor(sub: string, role: Role = 'user'): Promise<string> {
  return new SignJWT({ role }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(TEST_SECRETS.JWT_SECRET));
}

export const bearer = async (sub: string, role?: Role) => ({ authorization: `Bearer ${await tokenFor(sub, role)}` });

export interface RecordingJson {
  id: string;
  status: string;
  storageTier: string;
  size: number;
  renditions?: string[];
  legalHold: boolean;
}

export interface ErrorJson {
  error: { code: string; message: string };
}

/** A request whose answer is checked against the contract's error shape. */
export async function expectError(res: Response, status: number, code: string): Promise<ErrorJson> {
  expect(res.status, `${res.url} ${code}`).toBe(status);
  expect(res.headers.get('content-type'), res.url).toMatch(/^application\/json/);
  const body = (await res.json()) as ErrorJson;
  expect(body.error.code, res.url).toBe(code);
  expect(typeof body.error.message).toBe('string');
  return body;
}

/** What every audio response must carry on the wire, whatever the route. */
export function expectExactLength(res: Raw, what: string): void {
  expect(res.headers['transfer-encoding'], what).toBeUndefined();
  expect(res.headers['content-length'], what).toBe(String(res.body.length));
  expect(res.headers['cache-control'], what).toBe('private, no-store');
}

/** Calls of the API of the service at `baseUrl()` (read when called: the service starts in a hook). */
export function contractClient(baseUrl: () => string) {
  const api = (path: string) => `${baseUrl()}/api/v1${path}`;

  /** A raw WAV upload for `owner` (by the API key, which may name the owner). */
  async function upload(owner: string, bytes: Uint8Array, startTime = new Date().toISOString()): Promise<RecordingJson> {
    const query = new URLSearchParams({ userId: owner, callId: `http-${crypto.randomUUID()}`, callerPhone: '+14155550100', receiverPhone: '+442071838750', startTime });
    const res = await fetch(api(`/recordings?${query}`), { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'audio/wav' }, body: bytes });
    if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as RecordingJson;
  }

  async function metadata(id: string): Promise<RecordingJson> {
    return (await (await fetch(api(`/recordings/${id}`), { headers: { 'x-api-key': API_KEY } })).json()) as RecordingJson;
  }

  /** Polls until the media queue has made every rendition (usable in hooks, unlike expect.poll). */
  async function whenProcessed(id: string, timeoutMs = 90_000): Promise<RecordingJson> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await metadata(id);
      if (row.status === 'ready' && (row.renditions ?? []).length === 3) return row;
      if (row.status === 'failed' || Date.now() > deadline) throw new Error(`recording ${id} was not processed: ${JSON.stringify(row)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async function signedUrl(id: string, who: Record<string, string>, quality = 'original'): Promise<string> {
    const res = await fetch(api(`/recordings/${id}/playback-url?quality=${quality}`), { headers: who });
    if (res.status !== 200) throw new Error(`playback-url answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { url: string }).url;
  }

  return { api, upload, metadata, whenProcessed, signedUrl };
}
