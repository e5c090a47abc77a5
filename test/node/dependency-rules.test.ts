/**
 * The direction of dependencies (.dependency-cruiser.cjs, explained in docs/architecture.md):
 * dependency-cruiser walks src/ (the browser app in src/web/ included) and durable-objects/,
 * type-only imports included, and every import against the layers, every cycle, every route
 * importing src/db/ and every drizzle-orm import outside src/db/ fails this test with its path.
 * Raw D1 use outside src/db/ is a call, not an import, so a scan of the sources finds it. The same
 * rule file and scan, run over test/fixtures/dependency-rules (a miniature src/ with at least one
 * violation per rule), must report exactly those: proof that the checks can fail.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cruise, type ICruiseResult, type IFlattenedRuleSet, type IViolation } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/dependency-rules');
const rules = createRequire(import.meta.url)(path.join(ROOT, '.dependency-cruiser.cjs')) as IFlattenedRuleSet & { options: Record<string, unknown> };


async function violationsIn(baseDir: string, paths: string[], overrides: Record<string, unknown> = {}): Promise<string[]> {
  const tsConfigFile = path.join(ROOT, 'tsconfig.json');
  const result = await cruise(
    paths,
    {
      ...rules.options,
      ruleSet: { forbidden: rules.forbidden },
      validate: true,
      baseDir,
      tsConfig: { fileName: tsConfigFile },
      ...overrides,
    },
    undefined,
    { tsConfig: extractTSConfig(tsConfigFile) },
  );
  const output = (typeof result.output === 'string' ? JSON.parse(result.output) : result.output) as ICruiseResult;
  return output.summary.violations.map(violationLine);
}

/** One line per violation: the rule, then the import (or the cycle) it forbids. */
function violationLine(v: IViolation): string {
  const to = v.to.replace(/^.*node_modules\/([^/]+)\/.*$/, '$1');
  const chain = v.cycle ? [v.from, ...v.cycle.map((step) => step.name)] : [v.from, to];
  return `${v.rule.name}: ${chain.join(' → ')}`;
}

/**
 * Durable Objects' own SQLite storage (`ctx.storage.sql.exec`), not D1: it stays with its object
 * (docs/architecture.md). Paths relative to the scanned root.
 */
const DURABLE_OBJECT_SQL = ['src/live/call-store.ts', 'src/live/registry.ts', 'src/compliance/audit-sequencer.ts', 'durable-objects/fleet-metrics.ts'];

/**
 * D1 used without src/db/: its statement API (`prepare`, `batch`), `exec` of SQL text (a regular
 * expression's `exec` is not SQL), or a raw `D1Database` handle. One line per use: `path:line: what`.
 */
const RAW_D1 = [
  { what: 'prepare', pattern: /\.prepare\(/g },
  { what: 'batch', pattern: /\.batch\(/g },
  { what: 'exec of SQL', pattern: /\.exec\(\s*[`'"]\s*(?:select|insert|update|delete|replace|create|drop|alter|pragma|with|begin)\b/gi },
  { what: 'D1Database', pattern: /\bD1Database\b/g },
];

function rawD1Uses(baseDir: string, roots: string[]): string[] {
  const found: string[] = [];
  for (const root of roots) {
    for (const entry of readdirSync(path.join(baseDir, root), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const file = path.relative(baseDir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
      if (file.startsWith('src/db/') || file.startsWith('src/web/') || DURABLE_OBJECT_SQL.includes(file)) continue;
      const text = readFileSync(path.join(baseDir, file), 'utf8');
      for (const { what, pattern } of RAW_D1) {
        for (const match of text.matchAll(pattern)) found.push(`${file}:${text.slice(0, match.index).split('\n').length}: ${what}`);
      }
    }
  }
  return found.sort();
}

describe('dependency direction', () => {
  it('src/ and durable-objects/ import only downwards, without cycles and without SQL outside src/db/', async () => {
    const found = await violationsIn(ROOT, ['src', 'durable-objects']);
    expect(found, 'imports against .dependency-cruiser.cjs').toEqual([]);
  });

  it('the same rules report every rule’s violation in the fixture, type-only imports and a cycle through one included', async () => {
    const found = await violationsIn(FIXTURE, ['src']);
    expect(found.sort()).toEqual(
      [
        'compliance-not-to-media: src/compliance/retention.ts → src/media/encode.ts',
        'http-only-from-entry: src/db/orders.ts → src/routes/order-request.ts',
        'infra-only-from-above: src/config.ts → src/db/orders.ts',
        'leaves-import-leaves: src/domain/shape.ts → src/misc.ts',
        'no-circular: src/media/decode.ts → src/media/encode.ts → src/media/decode.ts',
        'not-to-entry: src/live/entry-type.ts → src/index.ts',
        'not-to-unresolvable: src/recordings/missing.ts → ./does-not-exist',
        'routes-not-to-db: src/routes/order-list.ts → src/db/orders.ts',
        'services-only-from-above: src/storage/blob.ts → src/recordings/orders.ts',
        'sql-only-in-db: src/media/encode.ts → drizzle-orm',
        'web-apart: src/web/app.ts → src/domain/shape.ts',
        'worker-not-to-web: src/routes/page.ts → src/web/app.ts',
      ].sort(),
    );
    const rulesSeen = new Set(found.map((line) => line.split(':')[0]));
    expect([...rulesSeen].sort(), 'every rule of .dependency-cruiser.cjs has a case').toEqual((rules.forbidden ?? []).map((rule) => rule.name).sort());
  });

  it('sees type-only imports only because of tsPreCompilationDeps: without it the fixture’s type-only violations vanish', async () => {
    const found = await violationsIn(FIXTURE, ['src'], { tsPreCompilationDeps: false });
    expect(found.filter((line) => /^(no-circular|http-only-from-entry|not-to-entry):/.test(line))).toEqual([]);
    expect(found).toContain('compliance-not-to-media: src/compliance/retention.ts → src/media/encode.ts');
  });

  it('no module outside src/db/ uses D1 itself (Durable Objects keep their own SQLite)', () => {
    expect(rawD1Uses(ROOT, ['src', 'durable-objects']), 'raw D1 outside src/db/').toEqual([]);
  });

  it('the raw-D1 scan reports each use in the fixture, and neither a regular expression’s exec nor a Durable Object’s SQLite', () => {
    expect(rawD1Uses(FIXTURE, ['src'])).toEqual(
      [
        'src/media/raw-d1.ts:5: D1Database',
        'src/media/raw-d1.ts:7: prepare',
        'src/media/raw-d1.ts:8: batch',
        'src/media/raw-d1.ts:8: prepare',
        'src/media/raw-d1.ts:9: exec of SQL',
      ].sort(),
    );
  });
});
