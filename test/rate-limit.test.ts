import { describe, expect, it } from 'vitest';
import { as, call } from './support/auth';

describe('rate limiting', () => {
  it('answers 429 rate_limited once a principal exceeds its budget, and not for another principal', async () => {
    const headers = await as('busy-caller');
    let limited: Response | undefined;
    // The limiter counts in fixed 60 s windows (600 each). The loop can straddle one window boundary,
    // so 1,201 requests are needed to be sure that one window sees more than 600.
    for (let i = 0; i < 1201 && !limited; i++) {
      const res = await call('/api/v1/not-a-route', { headers });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(404);
    }
    expect(limited).toBeDefined();
    expect(((await limited!.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    expect(limited!.headers.get('retry-after')).toBeTruthy();
    expect((await call('/api/v1/not-a-route', { headers: await as('calm-caller') })).status).toBe(404);
  });
});
