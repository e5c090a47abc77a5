import { describe, expect, it } from 'vitest';
import { API_KEY, as, call } from './support/auth';

describe('health and metrics', () => {
  it('answers /health without credentials, with real storage and database checks', async () => {
    const res = await call('/health');
    const body = (await res.json()) as { status: string; checks: Record<'storage' | 'database' | 'queue' | 'ffmpeg', { status: string }> };
    expect(res.status).toBe(200);
    expect(body.checks.storage.status).toBe('ok');
    expect(body.checks.database.status).toBe('ok');
    expect(body.checks.queue.status).toBe('ok');
    expect(['ok', 'down']).toContain(body.checks.ffmpeg.status);
    expect(res.headers.get('x-request-id')).toMatch(/.{8,}/);
  });

  it('serves Prometheus text to an API key and refuses anonymous and plain users', async () => {
    await call('/health');
    const anonymous = await call('/metrics');
    expect(anonymous.status).toBe(401);
    const user = await call('/metrics', { headers: await as('metrics-user') });
    expect(user.status).toBe(403);
    const res = await call('/metrics', { headers: { 'x-api-key': API_KEY } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toMatch(/http_requests_total\{[^}]*route="\/health"[^}]*status="200"/);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
  });
});
