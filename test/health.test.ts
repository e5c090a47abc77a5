import { env } from 'cloudflare:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/app';
import { requestDataPoint, type FleetMetricsNamespace } from '../src/observability/metrics';
import { API_KEY, as, call } from './support/auth';

type Health = { status: string; checkedAt: string; depth: string; checks: Record<'storage' | 'database' | 'queue' | 'ffmpeg', { status: string }> };

/** The real R2 binding, with every call to it counted by method. */
function countedBucket(bucket: R2Bucket) {
  const calls: string[] = [];
  const counted = new Proxy(bucket, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { counted, calls };
}

const context = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;

type Family = { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[] };
const scrape = async (): Promise<Family[]> => parsePrometheusTextFormat(await (await call('/metrics', { headers: { 'x-api-key': API_KEY } })).text()) as Family[];
const requestsOf = (families: Family[], route: string) =>
  families.find((f) => f.name === 'http_requests_total')!.metrics.filter((m) => m.labels?.route === route && m.labels?.status === '200').reduce((n, m) => n + Number(m.value), 0);

describe('health and metrics', () => {
  it('answers /health without credentials, with real storage and database checks', async () => {
    const res = await call('/health');
    const body = (await res.json()) as Health;
    expect(res.status).toBe(200);
    expect(body.checks.storage.status).toBe('ok');
    expect(body.checks.database.status).toBe('ok');
    expect(body.checks.queue.status).toBe('ok');
    expect(body.checks.ffmpeg.status).toBe('disabled');
    expect(body.depth).toBe('public');
    expect(res.headers.get('x-request-id')).toMatch(/.{8,}/);
  });

  it('an unauthenticated /health flood touches storage once per 10 s, never with a write; the API key gets the deep checks', async () => {
    const { counted, calls } = countedBucket(env.RECORDINGS);
    const app = createApp();
    const workerEnv = { ...env, RECORDINGS: counted };
    const bodies: Health[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await app.fetch(new Request('http://recorder.test/health'), workerEnv, context);
      expect(res.status).toBe(200);
      bodies.push((await res.json()) as Health);
    }
    expect(calls).toEqual(['head']);
    expect(new Set(bodies.map((b) => b.checkedAt)).size).toBe(1);

    const deep = await app.fetch(new Request('http://recorder.test/health', { headers: { 'x-api-key': API_KEY } }), workerEnv, context);
    const body = (await deep.json()) as Health;
    expect(body.depth).toBe('deep');
    expect(body.checks.storage.status).toBe('ok');
    expect(['ok', 'down']).toContain(body.checks.ffmpeg.status);
    expect(calls).toContain('put');
    expect(calls).toContain('delete');
    const afterDeep = calls.length;
    await app.fetch(new Request('http://recorder.test/health', { headers: { 'x-api-key': API_KEY } }), workerEnv, context);
    expect(calls.length).toBe(afterDeep);
  });

  it('answers 401 to /health with bad credentials, and the public checks to a plain user', async () => {
    expect((await call('/health', { headers: { 'x-api-key': 'not-a-key-0123456789abcdef' } })).status).toBe(401);
    const user = await call('/health', { headers: await as('health-user') });
    expect(((await user.json()) as Health).depth).toBe('public');
  });

  it('serves Prometheus text to an API key and refuses anonymous and plain users', async () => {
    await call('/health');
    const anonymous = await call('/metrics');
    expect(anonymous.status).toBe(401);
    const user = await call('/metrics', { headers: await as('metrics-user') });
    expect(user.status).toBe(403);
    const res = await call('/metrics', { headers: { 'x-api-key': API_KEY } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toMatch(/http_requests_total\{[^}]*route="\/health"[^}]*status="200"/);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
  });

  it('renders the fleet: increments handed over by another isolate add up, a hand-over sent twice counts once, and the text parses', async () => {
    await call('/health');
    const before = requestsOf(await scrape(), '/health');
    expect(before).toBeGreaterThan(0);
    const store = (env.FLEET_METRICS as unknown as FleetMetricsNamespace).getByName('fleet');
    const otherIsolate = [{ name: 'http_requests_total', labels: { route: '/health', method: 'GET', status: '200' }, value: 5 }];
    expect(await store.add('batch-from-another-isolate', otherIsolate), 'first hand-over').toBe(true);
    expect(await store.add('batch-from-another-isolate', otherIsolate), 'repeated hand-over').toBe(false);
    const families = await scrape();
    expect(requestsOf(families, '/health')).toBe(before + 5);
    const duration = families.find((f) => f.name === 'http_request_duration_seconds')!;
    expect(duration.type).toBe('HISTOGRAM');
    expect(duration.metrics.some((m) => m.buckets !== undefined && Object.keys(m.buckets).length >= 12), JSON.stringify(duration.metrics[0])).toBe(true);
    expect(families.find((f) => f.name === 'recordings')?.type).toBe('GAUGE');
  });

  it('writes one Analytics Engine data point per request, through the real binding', async () => {
    // Miniflare's local dataset accepts data points and discards them (it forwards only to a remote
    // dataset), so nothing can be read back locally: the binding is wrapped to record what the
    // Worker writes, and each call still goes through to it.
    const written: AnalyticsEngineDataPoint[] = [];
    const dataset = env.METRICS_EVENTS;
    expect(typeof dataset.writeDataPoint).toBe('function');
    const recorded = { writeDataPoint: (point?: AnalyticsEngineDataPoint) => (point && written.push(point), dataset.writeDataPoint(point)) } as AnalyticsEngineDataset;
    const app = createApp();
    const workerEnv = { ...env, METRICS_EVENTS: recorded };
    await app.fetch(new Request('http://recorder.test/health'), workerEnv, context);
    await app.fetch(new Request('http://recorder.test/api/v1/recordings/rec_nope'), workerEnv, context);
    await app.fetch(new Request('http://recorder.test/no/such/path', { method: 'POST' }), workerEnv, context);
    expect(written).toHaveLength(3);
    expect(written[0]).toMatchObject({ indexes: ['/health'], blobs: ['/health', 'GET', '200'] });
    // Refused by the authentication middleware, so labelled with its pattern.
    expect(written[1]).toMatchObject({ indexes: ['/api/v1/*'], blobs: ['/api/v1/*', 'GET', '401'] });
    expect(written[2]!.blobs!.slice(1)).toEqual(['POST', '404']);
    for (const point of written) {
      expect(point.doubles).toHaveLength(1);
      expect(point.doubles![0]).toBeGreaterThanOrEqual(0);
      expect(point.doubles![0]).toBeLessThan(30);
    }
  });

  it('builds data points within Analytics Engine limits: the index is cut to 96 bytes, the blob keeps the route', () => {
    const long = `/api/v1/${'é'.repeat(80)}`;
    const point = requestDataPoint({ route: long, method: 'GET', status: '200' }, 0.25);
    expect(new TextEncoder().encode(String(point.indexes![0])).length).toBeLessThanOrEqual(96);
    expect(long.startsWith(String(point.indexes![0]))).toBe(true);
    expect(point).toMatchObject({ blobs: [long, 'GET', '200'], doubles: [0.25] });
  });
});
