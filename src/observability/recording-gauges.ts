/** The `recordings` gauge of `GET /metrics`: live recordings by status and storage tier, counted in D1 at scrape time. */
import type { Database } from '../db/client';
import { countRecordingsByStatusAndTier } from '../db/recordings';
import type { Gauge } from './metrics';

export async function recordingGauges(db: Database): Promise<Gauge[]> {
  const rows = await countRecordingsByStatusAndTier(db);
  return [
    {
      name: 'recordings',
      help: 'Recordings by status and storage tier',
      samples: rows.map((r) => ({ labels: { status: r.status, tier: r.tier }, value: Number(r.n) })),
    },
  ];
}
