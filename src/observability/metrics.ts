/**
 * Prometheus metrics that are the same whichever isolate is scraped. Each isolate counts in memory
 * and hands its increments, after a response (`waitUntil`), to the one `FleetMetrics` Durable
 * Object, which adds them up (each hand-over has an id, so a retried one counts once); `/metrics`
 * renders those totals plus gauges read from D1 at scrape time. In production every request is also
 * a data point in Workers Analytics Engine (`METRICS_EVENTS`), for dashboards and SQL over the fleet.
 */

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

/** One counter increment: histograms send their buckets, `_sum` and `_count` as such. */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

const FAMILIES = {
  http_requests_total: { type: 'counter', help: 'HTTP requests by route, method and status' },
  http_request_duration_seconds: { type: 'histogram', help: 'HTTP request duration by route, method and status' },
  recording_upload_bytes_total: { type: 'counter', help: 'Plaintext audio bytes accepted by uploads and live calls' },
  recording_download_bytes_total: { type: 'counter', help: 'Plaintext audio bytes served by downloads and streams' },
} as const;

type CounterName = 'http_requests_total' | 'recording_upload_bytes_total' | 'recording_download_bytes_total';

const key = (name: string, labels: Labels) => `${name}\u0000${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
/** Increments not yet handed to the fleet store, by sample key. */
const pending = new Map<string, Sample>();

function add(name: string, labels: Labels, by: number) {
  const k = key(name, labels);
  const sample = pending.get(k) ?? { name, labels, value: 0 };
  sample.value += by;
  pending.set(k, sample);
}

class Counter {
  constructor(private readonly name: CounterName) {}
  inc(labels: Labels, by = 1) {
    add(this.name, labels, by);
  }
}

export const metrics = {
  requests: new Counter('http_requests_total'),
  duration: {
    observe(labels: Labels, seconds: number) {
      for (const bucket of BUCKETS) if (seconds <= bucket) add('http_request_duration_seconds_bucket', { ...labels, le: String(bucket) }, 1);
      add('http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }, 1);
      add('http_request_duration_seconds_sum', labels, seconds);
      add('http_request_duration_seconds_count', labels, 1);
    },
  },
  uploadBytes: new Counter('recording_upload_bytes_total'),
  downloadBytes: new Counter('recording_download_bytes_total'),
};

/** What durable-objects/fleet-metrics.ts answers over RPC (the class implements it). */
export interface FleetMetricsRpc extends Rpc.DurableObjectBranded {
  /** Add one isolate's increments; false when this hand-over was already counted. */
  add(batchId: string, samples: Sample[]): boolean;
  totals(): Sample[];
}

export type FleetMetricsNamespace = DurableObjectNamespace<FleetMetricsRpc>;
const fleetStore = (namespace: DurableObjectNamespace) => (namespace as unknown as FleetMetricsNamespace).getByName('fleet');
let handing = false;
/**
 * The hand-over in flight or whose answer never came, kept with its id: it is sent again exactly as
 * it was, so that the store, which may have counted it already (only its answer was lost), knows it
 * and counts it once. Increments made meanwhile wait in `pending` for the next hand-over.
 */
let unanswered: { id: string; samples: Sample[] } | null = null;

function takePending(): { id: string; samples: Sample[] } | null {
  if (pending.size === 0) return null;
  const samples = [...pending.values()];
  pending.clear();
  return { id: crypto.randomUUID(), samples };
}

/**
 * Hand this isolate's increments to the fleet store. One hand-over at a time per isolate; what is
 * counted meanwhile goes with the next. A hand-over that fails is retried, first thing on the next
 * call, under the same id.
 */
export async function flushMetrics(namespace: DurableObjectNamespace): Promise<void> {
  if (handing) return;
  handing = true;
  try {
    for (;;) {
      unanswered ??= takePending();
      if (!unanswered) return;
      await fleetStore(namespace).add(unanswered.id, unanswered.samples);
      unanswered = null;
    }
  } finally {
    handing = false;
  }
}

/** Analytics Engine's limit on an index, in bytes. */
const INDEX_MAX_BYTES = 96;

/**
 * The Workers Analytics Engine data point of one request (dataset `call_recorder_requests`):
 * index 1 and blob 1 the route pattern (the index cut to Analytics Engine's 96 bytes), blob 2 the
 * method, blob 3 the status, double 1 the duration in seconds. Queried with SQL, e.g.
 * `SELECT blob1, count() FROM call_recorder_requests GROUP BY blob1`.
 */
export function requestDataPoint(labels: { route: string; method: string; status: string }, seconds: number): AnalyticsEngineDataPoint {
  const encoder = new TextEncoder();
  let index = labels.route;
  while (encoder.encode(index).length > INDEX_MAX_BYTES) index = index.slice(0, -1);
  return { indexes: [index], blobs: [labels.route, labels.method, labels.status], doubles: [seconds] };
}

/** The fleet's totals. */
export function fleetTotals(namespace: DurableObjectNamespace): Promise<Sample[]> {
  return fleetStore(namespace).totals();
}

/** Gauges computed from the database at scrape time. */
export interface Gauge {
  name: string;
  help: string;
  samples: { labels: Labels; value: number }[];
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const fmt = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}` : '';
};

/** Render totals and gauges in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(totals: Sample[], gauges: Gauge[]): string {
  const out: string[] = [];
  for (const [family, { type, help }] of Object.entries(FAMILIES)) {
    out.push(`# HELP ${family} ${help}`, `# TYPE ${family} ${type}`);
    const own = totals.filter((s) => (type === 'histogram' ? s.name.startsWith(`${family}_`) : s.name === family));
    // A histogram's series in the order the format wants: buckets by le, then sum and count.
    own.sort((a, b) => (a.name === b.name ? Number(a.labels.le === '+Inf' ? Infinity : a.labels.le) - Number(b.labels.le === '+Inf' ? Infinity : b.labels.le) : a.name < b.name ? -1 : 1));
    for (const s of own) out.push(`${s.name}${fmt(s.labels)} ${s.value}`);
  }
  for (const g of gauges) {
    out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
    for (const { labels, value } of g.samples) out.push(`${g.name}${fmt(labels)} ${value}`);
  }
  return out.join('\n') + '\n';
}
