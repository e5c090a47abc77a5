/** Secrets used by the test runtime only (never by a deployment). */
export const TEST_SECRETS = {
  MASTER_ENCRYPTION_KEY: 'dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMtISE=',
  JWT_SECRET: 'test-only-jwt-secret-0123456789abcdef',
  API_KEYS: 'test-api-key-0123456789abcdef,second-test-api-key-0123456789',
  WEBHOOK_SECRET: 'test-only-webhook-secret-0123',
  FFMPEG_SHARED_SECRET: 'test-only-ffmpeg-secret-0123',
  AUDIT_SIGNING_KEY: 'dGVzdC1vbmx5LWF1ZGl0LXNpZ25pbmctc2VlZC0zMmI=',
} as const;
