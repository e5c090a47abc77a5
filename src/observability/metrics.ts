/**
 * Prometheus metrics. Counters and histograms live in this isolate's memory (each isolate is
 * one scrape target's worth, labelled `isolate`); gauges that must be global (recordings by
 * status and tier) are read from D1 at scrape time. For fleet-wide request metrics in production
 * use Workers Analytics; this endpoint is what a Prometheus-based operator expects to scrape.
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Random values are not allowed at global scope in Workers: the id is made on first render. */
let isolateId: string | undefined;

type Labels = Record<string, string>;
const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

class Counter {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels, by = 1) {
    const k = key(labels);
    const entry = this.values.get(k) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(k, entry);
  }
}

class Histogram {
  readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string) {}
  observe(labels: Labels, seconds: number) {
    const k = key(labels);
    const entry = this.values.get(k) ?? { labels, counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) entry.counts[i]!++;
    });
    entry.sum += seconds;
    entry.count++;
    this.values.set(k, entry);
  }
}

export const metrics = {
  requests: new Counter('http_requests_total', 'HTTP requests by route, method and status'),
  duration: new Histogram('http_request_duration_seconds', 'HTTP request duration by route, method and status'),
  uploadBytes: new Counter('recording_upload_bytes_total', 'Plaintext audio bytes accepted by uploads and live calls'),
  downloadBytes: new Counter('recording_download_bytes_total', 'Plaintext audio bytes served by downloads and streams'),
};

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const fmt = (labels: Labels) => {
  isolateId ??= crypto.randomUUID().slice(0, 8);
  const all = { ...labels, isolate: isolateId };
  return `{${Object.entries(all).map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
};

/** Gauges computed from the database at scrape time. */
export interface Gauge {
  name: string;
  help: string;
  samples: { labels: Labels; value: number }[];
}

/** Render everything in the Prometheus text exposition format (version 0.0.4). */
export function renderPrometheus(gauges: Gauge[]): string {
  const out: string[] = [];
  for (const c of [metrics.requests, metrics.uploadBytes, metrics.downloadBytes]) {
    out.push(`# HELP ${c.name} ${c.help}`, `# TYPE ${c.name} counter`);
    for (const { labels, value } of c.values.values()) out.push(`${c.name}${fmt(labels)} ${value}`);
  }
  const h = metrics.duration;
  out.push(`# HELP ${h.name} ${h.help}`, `# TYPE ${h.name} histogram`);
  for (const { labels, counts, sum, count } of h.values.values()) {
    BUCKETS.forEach((b, i) => out.push(`${h.name}_bucket${fmt({ ...labels, le: String(b) })} ${counts[i]}`));
    out.push(`${h.name}_bucket${fmt({ ...labels, le: '+Inf' })} ${count}`);
    out.push(`${h.name}_sum${fmt(labels)} ${sum}`, `${h.name}_count${fmt(labels)} ${count}`);
  }
  for (const g of gauges) {
    out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
    for (const { labels, value } of g.samples) out.push(`${g.name}${fmt(labels)} ${value}`);
  }
  return out.join('\n') + '\n';
}
