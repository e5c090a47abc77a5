import { describe, expect, it } from 'vitest';
import { call } from './support/auth';

/** Every route of ../shared/CONTRACT.md, as OpenAPI paths. */
const CONTRACT_ROUTES: [string, string][] = [
  ['post', '/api/v1/recordings'],
  ['get', '/api/v1/recordings'],
  ['get', '/api/v1/recordings/{id}'],
  ['delete', '/api/v1/recordings/{id}'],
  ['get', '/api/v1/recordings/{id}/download'],
  ['get', '/api/v1/recordings/{id}/stream'],
  ['get', '/api/v1/recordings/{id}/playback-url'],
  ['get', '/api/v1/recordings/{id}/transcript'],
  ['put', '/api/v1/recordings/{id}/transcript'],
  ['post', '/api/v1/recordings/{id}/redactions'],
  ['post', '/api/v1/recordings/{id}/permissions'],
  ['delete', '/api/v1/recordings/{id}/permissions'],
  ['post', '/api/v1/lifecycle/{id}/archive'],
  ['post', '/api/v1/lifecycle/{id}/restore'],
  ['post', '/api/v1/lifecycle/{id}/legal-hold'],
  ['delete', '/api/v1/lifecycle/{id}/legal-hold'],
  ['get', '/api/v1/gdpr/export'],
  ['delete', '/api/v1/gdpr/data'],
  ['get', '/api/v1/gdpr/consent'],
  ['put', '/api/v1/gdpr/consent'],
  ['get', '/api/v1/audit'],
  ['get', '/api/v1/audit/verify'],
  ['get', '/api/v1/recordings/live'],
  ['get', '/health'],
  ['get', '/metrics'],
];

describe('OpenAPI document', () => {
  it('declares every route of the contract', async () => {
    const res = await call('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const missing = CONTRACT_ROUTES.filter(([method, path]) => !doc.paths[path]?.[method]);
    expect(missing).toEqual([]);
  });

  it('serves an interactive page at /docs', async () => {
    const res = await call('/docs');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('/api/v1/openapi.json');
    // Swagger UI comes from this origin (the build copies swagger-ui-dist), and the page may run nothing else.
    expect(html).toContain('<script src="/docs/swagger-ui-bundle.js"></script>');
    expect(html).not.toMatch(/https?:\/\/|<script>/);
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self'; /);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
