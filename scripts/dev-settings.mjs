/**
 * The settings `npm start` runs with: wrangler.toml [vars], overridden by .dev.vars, with
 * ENVIRONMENT=development. Parsed by the Worker's own src/config.ts (Node 22 strips its types),
 * so a bad value fails here, before wrangler starts, with the same message the Worker would give.
 */
import { existsSync, readFileSync } from 'node:fs';
import { unstable_readConfig } from 'wrangler';
import { parseConfig } from '../src/config.ts';

export function readDevVars(file = '.dev.vars') {
  if (!existsSync(file)) return {};
  const vars = {};
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trim().startsWith('#')) continue;
    vars[match[1]] = match[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return vars;
}

export function devSettings(overrides = {}) {
  const config = unstable_readConfig({ config: 'wrangler.toml' }, { hideWarnings: true });
  const raw = { ...config.vars, ...readDevVars(), ENVIRONMENT: 'development', ...overrides };
  return { raw, config: parseConfig(raw) };
}
