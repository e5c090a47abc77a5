import { describe, expect, it } from 'vitest';
import { API_KEY, as, call } from './support/auth';

describe('error model', () => {
  it('answers unknown routes with 404 JSON and a request id', async () => {
    const res = await call('/no/such/route');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe('not_found');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('echoes a well-formed caller request id and replaces a malformed one', async () => {
    expect((await call('/health', { headers: { 'x-request-id': 'caller-chosen-id-1234' } })).headers.get('x-request-id')).toBe('caller-chosen-id-1234');
    expect((await call('/health', { headers: { 'x-request-id': 'bad id\n' } })).headers.get('x-request-id')).not.toContain(' ');
  });

  it('turns zod failures into 400 invalid_request naming the field', async () => {
    const res = await call('/api/v1/recordings?limit=500', { headers: await as('zod-user') });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(/^limit: /);
    const bad = await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { ...(await as('zod-user')), 'content-type': 'application/json' }, body: JSON.stringify({ recording: 'yes' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^recording: /);
  });

  it('answers a malformed JSON body with 400, not 500', async () => {
    const res = await call('/api/v1/gdpr/consent', { method: 'PUT', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: '{"recording": tru' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });
});
