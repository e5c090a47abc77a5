/**
 * The isolate side of fleet metrics (src/observability/metrics.ts) against the real `FleetMetrics`
 * Durable Object: a hand-over whose answer is lost is sent again under its id, so the store, which
 * had already counted it, counts it once.
 */
import { env } from 'cloudflare:test';
import { expect, it } from 'vitest';
import { flushMetrics, metrics, type FleetMetricsNamespace, type Sample } from '../../src/observability/metrics';

const fleet = env.FLEET_METRICS as unknown as FleetMetricsNamespace;

/** The real namespace, but the first `add` loses its answer after the store has taken it. */
function losingFirstAnswer(namespace: FleetMetricsNamespace) {
  const sent: string[] = [];
  let lost = false;
  const lossy = {
    getByName(name: string) {
      const store = namespace.getByName(name);
      return {
        async add(batchId: string, samples: Sample[]) {
          sent.push(batchId);
          const counted = await store.add(batchId, samples);
          if (!lost) {
            lost = true;
            throw new Error('network connection lost');
          }
          return counted;
        },
      };
    },
  };
  return { namespace: lossy as unknown as DurableObjectNamespace, sent };
}

const count = async (route: string) => (await fleet.getByName('fleet').totals()).filter((s) => s.name === 'http_requests_total' && s.labels.route === route).reduce((n, s) => n + s.value, 0);

it('a hand-over whose answer is lost is sent again under the same id and counted once', async () => {
  const route = `/lost-answer-${crypto.randomUUID()}`;
  const labels = { route, method: 'GET', status: '200' };
  metrics.requests.inc(labels, 3);
  const { namespace, sent } = losingFirstAnswer(fleet);
  await expect(flushMetrics(namespace)).rejects.toThrow('network connection lost');
  // The store took it although the isolate never heard back.
  expect(await count(route)).toBe(3);

  // Counted while the answer was outstanding: goes in a hand-over of its own, after the retry.
  metrics.requests.inc(labels, 2);
  await flushMetrics(namespace);
  expect(sent).toHaveLength(3);
  expect(sent[1], 'the retry keeps the id').toBe(sent[0]);
  expect(sent[2], 'new increments get a new id').not.toBe(sent[0]);
  expect(await count(route)).toBe(5);

  // Nothing left over: another flush sends nothing.
  await flushMetrics(namespace);
  expect(sent).toHaveLength(3);
  expect(await count(route)).toBe(5);
});
