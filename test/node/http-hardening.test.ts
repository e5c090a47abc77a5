/**
 * The HTTP hardening of issue 13 against `wrangler dev`, over real connections: a flood with bad
 * credentials is cut off by the per-address limit before authentication; denied authentications
 * become one audit event per address and minute; JSON bodies are bounded even when chunked; every
 * response carries nosniff and a CSP; /docs runs Swagger UI from this origin only, under its CSP,
 * in Chromium; unauthenticated /health answers from a 10 s cache.
 */
import { connect } from 'node:net';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../e2e/service';
import { TEST_SECRETS } from '../support/secrets';

const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;
/** Documentation addresses (RFC 5737), one per test, so that one test's budget is not another's. */
const DENIED_SOURCE = '198.51.100.20';
const DENIALS = 12;

let service: Service;
let deniedMinute = 0;

interface ErrorBody {
  error: { code: string; message: string };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const from = (address: string, headers: Record<string, string> = {}) => ({ 'cf-connecting-ip': address, ...headers });

/**
 * A request with a chunked body (no Content-Length), on a raw socket: the server may answer and
 * close while the body is still being sent, and the answer is what counts, so it is read as it comes.
 * `limit`: the server's body limit. The body goes on past it by one piece, then waits for the answer
 * without ending: a server that closes with bytes of the body still unread resets the connection,
 * and the reset can discard its answer before this client reads it (seen in CI). A server that does
 * not enforce the limit never answers, and the test fails on its timeout.
 */
function chunkedRequest(url: string, method: string, headers: Record<string, string>, bytes: number, limit: number): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const head = [`${method} ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`, 'transfer-encoding: chunked', 'connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const piece = Buffer.concat([Buffer.from('4000\r\n'), Buffer.alloc(16 * 1024, 0x20), Buffer.from('\r\n')]);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(target.port), target.hostname);
    let received = Buffer.alloc(0);
    let answered = false;
    const answer = () => {
      const text = received.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
      if (end < 0 || !status || !length || Buffer.byteLength(text.slice(end + 4)) < Number(length[1])) return false;
      answered = true;
      resolve({ status: Number(status[1]), body: text.slice(end + 4, end + 4 + Number(length[1])) });
      socket.destroy();
      return true;
    };
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      answer();
    });
    socket.on('error', (error) => (answered || answer() ? undefined : reject(error)));
    socket.on('close', () => (answered || answer() ? undefined : reject(new Error(`connection closed without an answer: ${received.toString('utf8').slice(0, 200)}`))));
    socket.on('connect', () => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      let sent = 0;
      // Paced, one piece per tick of 2 ms, and stopped as soon as the answer starts: a server that
      // answers 413 and closes while megabytes are still unread resets the connection, and the
      // reset can discard the answer before this client reads it.
      const write = () => {
        if (answered || socket.destroyed || received.length > 0) return;
        if (sent > limit) return;
        if (sent >= bytes) return void socket.write('0\r\n\r\n');
        sent += 16 * 1024;
        socket.write(piece);
        setTimeout(write, 2);
      };
      write();
    });
  });
}

beforeAll(async () => {
  service = await startService();
  // The denials must all fall in one minute, with time to spare.
  if (new Date().getUTCSeconds() > 45) await sleep((61 - new Date().getUTCSeconds()) * 1000);
  deniedMinute = Math.floor(Date.now() / 60_000);
  for (let i = 0; i < DENIALS; i++) {
    const headers = from(DENIED_SOURCE, i % 2 === 0 ? { authorization: 'Bearer not-a-token' } : {});
    expect((await fetch(`${service.url}/api/v1/recordings`, { headers })).status).toBe(401);
  }
}, 240_000);

afterAll(async () => {
  await service?.stop();
});

describe('rate limit by client address, before authentication', () => {
  it('a flood without credentials and with bad ones from one address gets 429 rate_limited; valid credentials from it too; another address does not', async () => {
    const guessedFrom = (address: string) => from(address, { 'x-api-key': 'guessed-key-0123456789abcdef' });
    // The address budget is 200 per 10 s (wrangler.toml), in windows aligned to the wall clock.
    // Each try floods from a fresh address from the start of a window; it counts only if the
    // flood and the valid request after it fell in one window (else the window rolled over in
    // between and the valid request rightly passed).
    const window = () => Math.floor(Date.now() / 10_000);
    for (let attempt = 0; ; attempt++) {
      const address = `198.51.100.${7 + attempt * 10}`;
      await sleep(10_000 - (Date.now() % 10_000) + 50);
      const started = window();
      let limited: Response | undefined;
      let sent = 0;
      // Most of the flood is the cheapest request there is (a cached /health), so that even a busy
      // machine sends it within one window.
      while (!limited && sent < 4000) {
        const batch = await Promise.all([
          ...Array.from({ length: 12 }, () => fetch(`${service.url}/health`, { headers: from(address) })),
          ...Array.from({ length: 4 }, () => fetch(`${service.url}/api/v1/recordings`, { headers: guessedFrom(address) })),
        ]);
        sent += batch.length;
        for (const [i, res] of batch.entries()) {
          if (i >= 12 && res.status === 429) limited ??= res;
          else expect([i < 12 ? 200 : 401, 429]).toContain(res.status);
          if (res !== limited) await res.arrayBuffer();
        }
      }
      expect(limited).toBeDefined();
      expect(((await limited!.json()) as ErrorBody).error.code).toBe('rate_limited');
      expect(limited!.headers.get('retry-after')).toBe('10');
      const valid = await fetch(`${service.url}/api/v1/recordings`, { headers: from(address, { 'x-api-key': API_KEY }) });
      await valid.arrayBuffer();
      if (window() !== started && attempt < 3) continue;
      expect(valid.status).toBe(429);
      break;
    }
    const other = await fetch(`${service.url}/api/v1/recordings`, { headers: from('198.51.100.8', { 'x-api-key': API_KEY }) });
    expect(other.status).toBe(200);
  }, 180_000);
});

describe('JSON body limits', () => {
  const admin = from('198.51.100.30', { 'x-api-key': API_KEY, 'content-type': 'application/json' });

  it('a body over 64 KiB with a Content-Length gets 413 payload_too_large before it is read', async () => {
    const res = await fetch(`${service.url}/api/v1/gdpr/consent?userId=limits`, { method: 'PUT', headers: admin, body: `{"recording":true,"transcription":true,"pad":"${' '.repeat(70 * 1024)}"}` });
    expect(res.status).toBe(413);
    expect(((await res.json()) as ErrorBody).error.code).toBe('payload_too_large');
  });

  it('a chunked body with no Content-Length is cut off at 64 KiB with 413 payload_too_large', async () => {
    const res = await chunkedRequest(`${service.url}/api/v1/gdpr/consent?userId=limits`, 'PUT', admin, 8 * 1024 * 1024, 64 * 1024);
    expect(res.status, res.body).toBe(413);
    expect((JSON.parse(res.body) as ErrorBody).error.code).toBe('payload_too_large');
  });

  it('a body under the limit still works', async () => {
    const res = await fetch(`${service.url}/api/v1/gdpr/consent?userId=limits`, { method: 'PUT', headers: admin, body: JSON.stringify({ recording: true, transcription: true }) });
    expect(res.status).toBe(200);
  });

  it('a transcript may be up to 5 MiB: 1 MiB passes the limit, a chunked 6 MiB gets 413', async () => {
    const transcript = `${service.url}/api/v1/recordings/rec_0000000000000000missing/transcript`;
    const big = JSON.stringify({ language: 'en', text: 'x'.repeat(1024 * 1024), segments: [] });
    const passed = await fetch(transcript, { method: 'PUT', headers: admin, body: big });
    // Past the body limit, the route answers for the recording: it does not exist.
    expect(passed.status).toBe(404);
    const res = await chunkedRequest(transcript, 'PUT', admin, 6 * 1024 * 1024, 5 * 1024 * 1024);
    expect(res.status).toBe(413);
    expect((JSON.parse(res.body) as ErrorBody).error.code).toBe('payload_too_large');
  });
});

describe('security headers', () => {
  it('API responses, errors included, carry nosniff and a CSP that allows nothing', async () => {
    for (const [path, headers] of [
      ['/api/v1/recordings', { 'x-api-key': API_KEY }],
      ['/api/v1/recordings', {}],
      ['/api/v1/no-such-route', { 'x-api-key': API_KEY }],
      ['/health', {}],
      ['/api/v1/openapi.json', {}],
    ] as const) {
      const res = await fetch(`${service.url}${path}`, { headers: from('198.51.100.40', headers) });
      await res.arrayBuffer();
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('content-security-policy'), path).toContain("default-src 'none'");
      expect(res.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
    }
  });

  it("the web app's static files carry nosniff and a CSP with script-src 'self'", async () => {
    for (const path of ['/', '/index.html', '/docs/swagger-ui-bundle.js']) {
      const res = await fetch(`${service.url}${path}`, { headers: from('198.51.100.40') });
      await res.arrayBuffer();
      expect(res.status, path).toBe(200);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('content-security-policy'), path).toContain("script-src 'self'");
    }
  });
});

describe('/docs', () => {
  it('serves Swagger UI from this origin with a strict CSP, and it renders the API in Chromium without a CSP violation', async () => {
    const page = await fetch(`${service.url}/docs`, { headers: from('198.51.100.50') });
    const html = await page.text();
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(html).toContain('/docs/swagger-ui-bundle.js');
    expect(html).not.toMatch(/https?:\/\//);
    const bundle = await fetch(`${service.url}/docs/swagger-ui-bundle.js`);
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect((await bundle.text()).length).toBeGreaterThan(500_000);

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const tab = await browser.newPage();
      const violations: string[] = [];
      const requested: string[] = [];
      tab.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      tab.on('request', (request) => requested.push(request.url()));
      await tab.goto(`${service.url}/docs`);
      await expect.poll(() => tab.locator('.opblock').count(), { timeout: 30_000 }).toBeGreaterThan(20);
      expect(await tab.locator('.info .title').first().textContent()).toContain('Call Recorder');
      expect(violations).toEqual([]);
      expect(requested.filter((url) => !url.startsWith(service.url) && !url.startsWith('data:'))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});

describe('/health', () => {
  interface Health {
    status: string;
    checkedAt: string;
    depth: string;
    checks: Record<string, { status: string }>;
  }

  it('unauthenticated: contract-shaped, from a 10 s cache (no storage call per request), FFmpeg not woken', async () => {
    const bodies: Health[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${service.url}/health`, { headers: from('198.51.100.60') });
      expect(res.status).toBe(200);
      bodies.push((await res.json()) as Health);
    }
    expect(bodies[0]).toMatchObject({ status: 'ok', depth: 'public', checks: { storage: { status: 'ok' }, database: { status: 'ok' }, queue: { status: 'ok' }, ffmpeg: { status: 'disabled' } } });
    // Each answer says when its checks ran: within 10 s, every answer is the same run.
    const runs = new Set(bodies.map((b) => b.checkedAt));
    expect(runs.size).toBeLessThanOrEqual(2);
  });

  it('with the API key: the deep checks, FFmpeg included', async () => {
    const res = await fetch(`${service.url}/health`, { headers: from('198.51.100.60', { 'x-api-key': API_KEY }) });
    expect(res.status).toBe(200);
    expect((await res.json()) as Health).toMatchObject({ status: 'ok', depth: 'deep', checks: { storage: { status: 'ok' }, ffmpeg: { status: 'ok' } } });
  });
});

describe('denied authentication audit', () => {
  it(`${DENIALS} denied requests from one address in one minute are one auth.denied event with count ${DENIALS}`, async () => {
    // The minute's event is written once it is over (and a 5 s grace for requests in flight).
    const due = (deniedMinute + 1) * 60_000 + 5_500;
    if (Date.now() < due) await sleep(due - Date.now());
    const res = await fetch(`${service.url}/api/v1/audit?action=auth.denied&limit=500`, { headers: from('198.51.100.70', { 'x-api-key': API_KEY }) });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: { outcome: string; details: { source: string; count: number; reasons: Record<string, number> } }[] };
    const ours = items.filter((event) => event.details.source === DENIED_SOURCE);
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatchObject({ outcome: 'denied', details: { count: DENIALS, reasons: { 'missing credentials': DENIALS / 2, ERR_JWT_MALFORMED: DENIALS / 2 } } });
  }, 90_000);
});
