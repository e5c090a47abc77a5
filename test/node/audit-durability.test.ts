/**
 * Issue #16: nothing audited is lost when the runtime dies right after answering. 100 audited
 * requests run at once against `wrangler dev`; the moment the last response is in, the runtime is
 * killed with SIGKILL (no graceful shutdown, no `waitUntil` finishing) and started again on the
 * same storage. Every request's event is then in `GET /api/v1/audit`: a request answers only once
 * its event is durable in its shard's sequencer, which chains and writes it after the restart.
 * Locally the window this closes is a few milliseconds (the old `waitUntil` hand-over usually beat
 * the kill too), so this test shows the guarantee end to end rather than reliably catching its loss;
 * the deterministic one, a sequencer that cannot store the event → 503, is in
 * test/compliance/audit-chain.test.ts.
 */
import { expect, it } from 'vitest';
import { useWranglerDev } from '../live/use-wrangler-dev.ts';
import { tokenFor } from '../live/wrangler-dev.ts';

const REQUESTS = 100;
const dev = useWranglerDev({ vars: { RATE_LIMIT_DISABLED: 'true' } });

it('every event of requests answered just before a SIGKILL of the runtime is in the log after the restart', async () => {
  const tokens = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => tokenFor(`kill-user-${i}`)));
  const statuses = await Promise.all(
    tokens.map(async (token) => {
      const res = await fetch(`${dev.url}/api/v1/gdpr/consent`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  await dev.restart();
  expect(statuses).toEqual(Array(REQUESTS).fill(200));

  const auditor = { authorization: `Bearer ${await tokenFor('kill-auditor', 'auditor')}` };
  const started = Date.now();
  let actors: string[] = [];
  while (Date.now() - started < 15_000) {
    const res = await fetch(`${dev.url}/api/v1/audit?action=gdpr.consent.read&limit=500`, { headers: auditor });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: { actor: string }[] };
    actors = body.items.map((e) => e.actor).filter((a) => a.startsWith('kill-user-'));
    if (actors.length >= REQUESTS) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  // Each once: at least once in, exactly once in the chain.
  expect(actors.sort()).toEqual(tokens.map((_, i) => `kill-user-${i}`).sort());
}, 180_000);
