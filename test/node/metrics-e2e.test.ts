/**
 * `GET /metrics` over real HTTP against `wrangler dev`, parsed with a Prometheus text parser
 * (parse-prometheus-text-format), not string matching: requests show in `http_requests_total`,
 * the duration histogram has its buckets, counters only grow from scrape to scrape, and they
 * are the fleet's, not one isolate's: after the runtime is killed (SIGKILL) and started again, a
 * brand-new isolate renders every request counted before, because the totals live in the
 * `FleetMetrics` Durable Object's storage, not in isolate memory.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { expect, it } from 'vitest';
import { useWranglerDev } from '../live/use-wrangler-dev.ts';
import { TEST_SECRETS } from '../support/secrets.ts';

type Family = { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[] };

const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;
const dev = useWranglerDev({ vars: { RATE_LIMIT_DISABLED: 'true' } });

async function scrape(): Promise<Family[]> {
  const res = await fetch(`${dev.url}/metrics`, { headers: { 'x-api-key': API_KEY } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheusTextFormat(await res.text()) as Family[];
}

const family = (families: Family[], name: string) => families.find((f) => f.name === name);

/** `GET /health` requests counted, whatever they answered (503 here: nothing listens at FFMPEG_URL). */
function healthCounts(families: Family[]): { requests: number } {
  const ofHealth = (m: { labels?: Record<string, string> }) => m.labels?.route === '/health' && m.labels?.method === 'GET';
  return { requests: family(families, 'http_requests_total')?.metrics.filter(ofHealth).reduce((n, m) => n + Number(m.value), 0) ?? 0 };
}

/** Every counter series as `name{labels}` → value. */
function counterSeries(families: Family[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of families.filter((f) => f.type === 'COUNTER')) {
    for (const m of f.metrics) out.set(`${f.name}${JSON.stringify(Object.entries(m.labels ?? {}).sort())}`, Number(m.value));
  }
  return out;
}

/** Scrape until `done` holds (the increments reach the fleet store just after each response). */
async function scrapeUntil(done: (families: Family[]) => boolean, what: string): Promise<Family[]> {
  const started = Date.now();
  for (;;) {
    const families = await scrape();
    if (done(families)) return families;
    if (Date.now() - started > 10_000) throw new Error(`metrics never showed ${what}: ${JSON.stringify(healthCounts(families))}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

it('counts requests fleet-wide: parsed counters count each request once, only grow, and survive a restart of the runtime', async () => {
  const before = healthCounts(await scrape());
  const N = 40;
  // Ten connections at a time, each request on a connection of its own.
  for (let i = 0; i < N; i += 10) {
    const statuses = await Promise.all(Array.from({ length: 10 }, async () => (await fetch(`${dev.url}/health`, { headers: { connection: 'close' } })).status));
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
  }
  // Exactly the N requests are added (scrapes count under /metrics).
  const grown = await scrapeUntil((f) => healthCounts(f).requests >= before.requests + N, `${N} more /health requests`);
  expect(healthCounts(grown)).toEqual({ requests: before.requests + N });
  // The parser folds a labelled histogram's series into one (it keeps the buckets, drops labels,
  // _sum and _count), so only its type and buckets are checked here; the counters carry the labels.
  const duration = family(grown, 'http_request_duration_seconds')!;
  expect(duration.type).toBe('HISTOGRAM');
  expect(Object.keys(duration.metrics[0]?.buckets ?? {})).toEqual(expect.arrayContaining(['0.005', '1', '30', '+Inf']));

  // Monotonic: between scrapes with more traffic in between, no counter series goes down.
  let previous = counterSeries(grown);
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${dev.url}/health`).then((r) => r.arrayBuffer())));
    const now = counterSeries(await scrape());
    for (const [series, value] of previous) expect(now.get(series), series).toBeGreaterThanOrEqual(value);
    previous = now;
  }

  // A new isolate (the runtime killed and started again) renders what the old one counted.
  const settled = await scrapeUntil(() => true, 'anything');
  const beforeRestart = counterSeries(settled);
  await dev.restart();
  const after = counterSeries(await scrape());
  for (const [series, value] of beforeRestart) expect(after.get(series), `${series} after the restart`).toBeGreaterThanOrEqual(value);
  expect(healthCounts(await scrape()).requests).toBeGreaterThanOrEqual(healthCounts(settled).requests);
}, 180_000);
