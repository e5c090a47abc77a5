/** `npm start`'s pre-start check refuses unsafe settings before `wrangler dev` starts, naming the variable. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../e2e/service.ts';

const NODE = path.join(ROOT, 'node_modules/.bin/node');
const dir = mkdtempSync(path.join(tmpdir(), 'prestart-'));
copyFileSync(path.join(ROOT, 'wrangler.toml'), path.join(dir, 'wrangler.toml'));
// wrangler.toml names the container's Dockerfile by a relative path.
symlinkSync(path.join(ROOT, 'containers'), path.join(dir, 'containers'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function prestart(devVars: Record<string, string>) {
  writeFileSync(path.join(dir, '.dev.vars'), Object.entries(devVars).map(([k, v]) => `${k}=${v}`).join('\n'));
  const result = spawnSync(NODE, [path.join(ROOT, 'scripts/prestart.mjs')], { cwd: dir, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('pre-start check', () => {
  const issuer = { JWT_ISSUER: 'https://issuer.example.com/', JWT_AUDIENCE: 'call-recorder' };

  it('accepts a JWKS over https with an issuer and an audience', () => {
    const { status, output } = prestart({ JWT_JWKS_URL: 'https://issuer.example.com/jwks.json', ...issuer });
    expect(output).not.toContain('Invalid configuration');
    expect(status).toBe(0);
  });

  it('refuses a JWKS without an audience, naming JWT_AUDIENCE', () => {
    const { status, output } = prestart({ JWT_JWKS_URL: 'https://issuer.example.com/jwks.json', JWT_ISSUER: issuer.JWT_ISSUER });
    expect(status).toBe(1);
    expect(output).toContain('Invalid configuration: JWT_AUDIENCE is required when JWT_JWKS_URL is set');
  });

  it('refuses a JWKS fetched over plain http, naming JWT_JWKS_URL', () => {
    const { status, output } = prestart({ JWT_JWKS_URL: 'http://issuer.example.com/jwks.json', ...issuer });
    expect(status).toBe(1);
    expect(output).toContain('Invalid configuration: JWT_JWKS_URL must be an https: URL');
  });
});
