/**
 * The audit log over real HTTP against `wrangler dev`: events of requests show in GET /audit
 * within 5 s, the public key is served without credentials, an on-demand checkpoint makes verify
 * ok, and scripts/verify-audit.mjs, given only the public key, accepts an untouched export and
 * names an edited, deleted, inserted or reordered event, a cut-off tail, removed checkpoints and
 * a checkpoint signed with another key.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSigner, signCheckpoint } from '../../src/compliance/audit-checkpoint.ts';
import { ROOT, startService, type Service } from '../e2e/service.ts';
import { TEST_SECRETS } from '../support/secrets.ts';

const run = promisify(execFile);
const NODE = existsSync(path.join(ROOT, 'node_modules/.bin/node')) ? path.join(ROOT, 'node_modules/.bin/node') : process.execPath;
const API_KEY = TEST_SECRETS.API_KEYS.split(',')[0]!;
const admin = { 'x-api-key': API_KEY };

let service: Service;
const retired = () => auditSigner(Buffer.from('retired-audit-signing-seed-32byt').toString('base64'));
let dir: string;
let keyFile: string;
let exportLines: string[];

interface Line {
  type: string;
  id?: string;
  shard?: number;
  seq?: number;
  actor?: string;
  jws?: unknown;
}

async function verifyWithScript(lines: string[], keys = keyFile): Promise<{ code: number; result: Record<string, unknown> }> {
  const file = path.join(dir, `export-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(file, lines.join('\n') + '\n');
  try {
    const { stdout } = await run(NODE, [path.join(ROOT, 'scripts/verify-audit.mjs'), '--public-key', keys, file], { cwd: ROOT });
    return { code: 0, result: JSON.parse(stdout) as Record<string, unknown> };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, result: JSON.parse(failed.stdout) as Record<string, unknown> };
  }
}

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Line);
/** Index of the `n`-th event line of the shard with the most events. */
function eventIndex(lines: string[], n: number): number {
  const events = parsed(lines).map((l, i) => ({ ...l, i })).filter((l) => l.type === 'event');
  const counts = new Map<number, number>();
  for (const e of events) counts.set(e.shard!, (counts.get(e.shard!) ?? 0) + 1);
  const busiest = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  const ofShard = events.filter((e) => e.shard === busiest);
  return ofShard.at(n)!.i;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'audit-e2e-'));
  // A retired signing key still listed, as after a rotation.
  service = await startService({ vars: { AUDIT_SIGNING_KEYS_PREVIOUS: (await retired()).publicJwk.x! } });
}, 240_000);

afterAll(async () => {
  await service?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the audit log over HTTP', () => {
  it("shows each request's event in GET /audit within 5 s", async () => {
    const users = Array.from({ length: 30 }, (_, i) => `e2e-audit-user-${i}`);
    const responses = await Promise.all(users.map((u) => fetch(`${service.url}/api/v1/gdpr/consent?userId=${u}`, { headers: admin })));
    expect(responses.map((r) => r.status)).toEqual(users.map(() => 200));
    const answered = Date.now();
    for (;;) {
      const page = (await (await fetch(`${service.url}/api/v1/audit?action=gdpr.consent.read&limit=500`, { headers: admin })).json()) as { items: { subjectUserId: string }[] };
      if (users.every((u) => page.items.some((e) => e.subjectUserId === u))) break;
      expect(Date.now() - answered).toBeLessThan(5000);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('serves the Ed25519 public key without credentials', async () => {
    const res = await fetch(`${service.url}/api/v1/audit/public-key`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { keys: { kty: string; crv: string; x: string; alg: string }[] };
    expect(body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(body.keys[0]!.x).toBe((await auditSigner(TEST_SECRETS.AUDIT_SIGNING_KEY)).publicJwk.x);
    // The retired key follows the signing key, each with its kid.
    expect(body.keys.map((k) => (k as { kid?: string }).kid)).toEqual([(await auditSigner(TEST_SECRETS.AUDIT_SIGNING_KEY)).publicJwk.kid, (await retired()).publicJwk.kid]);
    keyFile = path.join(dir, 'audit-key.json');
    writeFileSync(keyFile, JSON.stringify(body));
  });

  it('verify is ok: false while events are uncovered, ok once an admin writes a checkpoint', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = (await (await fetch(`${service.url}/api/v1/audit/verify`, { headers: admin })).json()) as { ok: boolean; reason: string };
    expect(before).toMatchObject({ ok: false, reason: 'uncovered' });
    // The verify request's own event is handed over after its answer.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const written = await fetch(`${service.url}/api/v1/audit/checkpoints`, { method: 'POST', headers: admin });
    expect(written.status).toBe(201);
    expect(((await written.json()) as { heads: unknown[] }).heads).toHaveLength(16);
    const after = (await (await fetch(`${service.url}/api/v1/audit/verify`, { headers: admin })).json()) as { ok: boolean; checked: number; firstBadId: string | null };
    expect(after).toMatchObject({ ok: true, firstBadId: null });
    expect(after.checked).toBeGreaterThan(30);
    expect((await fetch(`${service.url}/api/v1/audit/checkpoints`, { method: 'POST' })).status).toBe(401);
  });

  it('exports events and checkpoints as NDJSON, and the script verifies the export with the public key alone', async () => {
    const res = await fetch(`${service.url}/api/v1/audit/export?through=checkpoint`, { headers: admin });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    exportLines = (await res.text()).trim().split('\n');
    expect(parsed(exportLines)[0]).toMatchObject({ type: 'header', format: 'call-recorder-audit-export/1' });
    expect(parsed(exportLines).filter((l) => l.type === 'event').length).toBeGreaterThan(30);
    const { code, result } = await verifyWithScript(exportLines);
    expect(result).toMatchObject({ ok: true, firstBadId: null });
    expect(code).toBe(0);
  });
});

describe('scripts/verify-audit.mjs names each kind of tampering in an export', () => {
  it('an edited event', async () => {
    const lines = [...exportLines];
    const at = eventIndex(lines, 2);
    const event = JSON.parse(lines[at]!) as Line;
    lines[at] = JSON.stringify({ ...event, actor: 'someone-else' });
    expect(await verifyWithScript(lines)).toMatchObject({ code: 1, result: { ok: false, reason: 'hash', firstBadId: event.id } });
  });

  it('a deleted event', async () => {
    const lines = [...exportLines];
    const at = eventIndex(lines, 1);
    const next = JSON.parse(lines[at + 1]!) as Line;
    lines.splice(at, 1);
    expect(await verifyWithScript(lines)).toMatchObject({ code: 1, result: { ok: false, reason: 'sequence', firstBadId: next.id } });
  });

  it('an inserted event', async () => {
    const lines = [...exportLines];
    const at = eventIndex(lines, 1);
    const forged = { ...(JSON.parse(lines[at]!) as Line), id: 'forged-event', actor: 'intruder' };
    lines.splice(at + 1, 0, JSON.stringify(forged));
    const { code, result } = await verifyWithScript(lines);
    expect(code).toBe(1);
    expect(result).toMatchObject({ ok: false, firstBadId: 'forged-event' });
  });

  it('two reordered events', async () => {
    const lines = [...exportLines];
    const at = eventIndex(lines, 1);
    const moved = JSON.parse(lines[at + 1]!) as Line;
    [lines[at], lines[at + 1]] = [lines[at + 1]!, lines[at]!];
    expect(await verifyWithScript(lines)).toMatchObject({ code: 1, result: { ok: false, reason: 'sequence', firstBadId: moved.id } });
  });

  it('a cut-off tail', async () => {
    const lines = [...exportLines];
    const last = eventIndex(lines, -1);
    const gone = JSON.parse(lines[last]!) as Line;
    lines.splice(last, 1);
    expect(await verifyWithScript(lines)).toMatchObject({ code: 1, result: { ok: false, reason: 'truncated', firstBadId: gone.id } });
  });

  it('every checkpoint removed', async () => {
    const lines = exportLines.filter((l) => (JSON.parse(l) as Line).type !== 'checkpoint');
    expect(await verifyWithScript(lines)).toMatchObject({ code: 1, result: { ok: false, reason: 'uncovered', checkpoints: 0 } });
  });

  it('a checkpoint signed by a retired key verifies with the key set that lists it, and is forged for a set without it', async () => {
    const lines = [...exportLines];
    const heads = parsed(lines)
      .filter((l) => l.type === 'event')
      .reduce((m, e) => m.set(e.shard!, e), new Map<number, Line>());
    const { jws } = await signCheckpoint(await retired(), [...heads.values()].map((e) => ({ shard: e.shard!, seq: e.seq!, hash: (e as { hash?: string }).hash!, id: e.id! })), 'before-rotation', new Date(Date.now() - 86_400_000).toISOString());
    lines.splice(1, 0, JSON.stringify({ type: 'checkpoint', key: 'audit-checkpoints/9999999999999999-before-rotation.json', jws }));
    expect(await verifyWithScript(lines)).toMatchObject({ code: 0, result: { ok: true, checkpoints: 2 } });
    const currentOnly = path.join(dir, 'current-key.json');
    writeFileSync(currentOnly, JSON.stringify({ keys: [(await auditSigner(TEST_SECRETS.AUDIT_SIGNING_KEY)).publicJwk] }));
    expect(await verifyWithScript(lines, currentOnly)).toMatchObject({ code: 1, result: { ok: false, reason: 'forged_checkpoint', badCheckpoint: 'audit-checkpoints/9999999999999999-before-rotation.json' } });
  });

  it('a checkpoint signed with another key, even over the true heads', async () => {
    const lines = [...exportLines];
    const other = await auditSigner(Buffer.from('another-audit-signing-seed-32byt').toString('base64'));
    const heads = parsed(lines)
      .filter((l) => l.type === 'event')
      .reduce((m, e) => m.set(e.shard!, e), new Map<number, Line>());
    const { jws } = await signCheckpoint(other, [...heads.values()].map((e) => ({ shard: e.shard!, seq: e.seq!, hash: (e as { hash?: string }).hash!, id: e.id! })), 'forged', new Date().toISOString());
    lines.splice(1, 0, JSON.stringify({ type: 'checkpoint', key: 'audit-checkpoints/0000000000000000-forged.json', jws }));
    expect(await verifyWithScript(lines)).toMatchObject({ code: 1, result: { ok: false, reason: 'forged_checkpoint', badCheckpoint: 'audit-checkpoints/0000000000000000-forged.json' } });
  });
});
