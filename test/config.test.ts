import { env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app';
import { ConfigError, parseConfig } from '../src/config';
import { TEST_SECRETS } from './support/secrets';

describe('configuration', () => {
  it('applies the contract defaults', () => {
    const config = parseConfig({ ...TEST_SECRETS, ENVIRONMENT: 'production' });
    expect(config.MAX_FILE_SIZE).toBe(104857600);
    expect(config.RETENTION_DAYS_RECORDING).toBe(30);
    expect(config.RETENTION_DAYS_TRANSCRIPT).toBe(365);
    expect(config.ARCHIVAL_ENABLED).toBe(true);
    expect(config.ARCHIVAL_AFTER_DAYS).toBe(7);
    expect(config.STORAGE_PROVIDER).toBe('r2');
    expect(config.API_KEYS).toHaveLength(2);
    expect(config.usingDevDefaults).toEqual([]);
  });

  it('maps the provider aliases local → r2 and aws → s3', () => {
    expect(parseConfig({ ...TEST_SECRETS, STORAGE_PROVIDER: 'local' }).STORAGE_PROVIDER).toBe('r2');
    const s3 = { AWS_REGION: 'us-east-1', AWS_BUCKET_NAME: 'rec', AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' };
    expect(parseConfig({ ...TEST_SECRETS, ...s3, STORAGE_PROVIDER: 'aws' }).STORAGE_PROVIDER).toBe('s3');
  });

  it.each([
    ['MAX_FILE_SIZE', 'lots'],
    ['ARCHIVAL_ENABLED', 'maybe'],
    ['MASTER_ENCRYPTION_KEY', 'c2hvcnQ='],
    ['JWT_SECRET', 'short'],
    ['STORAGE_PROVIDER', 'floppy'],
    ['JWT_JWKS_URL', 'not a url'],
    ['LIVE_MAX_DURATION_HOURS', '200'],
  ])('names the variable when %s is invalid, without echoing the value', (name, value) => {
    expect(() => parseConfig({ ...TEST_SECRETS, [name]: value })).toThrowError(ConfigError);
    try {
      parseConfig({ ...TEST_SECRETS, [name]: value });
    } catch (error) {
      expect((error as ConfigError).variable).toBe(name);
      expect((error as Error).message).toContain(name);
      expect((error as Error).message).not.toContain(value);
    }
  });

  it('requires every secret in production and falls back to announced dev defaults elsewhere', () => {
    expect(() => parseConfig({ ENVIRONMENT: 'production' })).toThrowError(/MASTER_ENCRYPTION_KEY is required in production/);
    const dev = parseConfig({ ENVIRONMENT: 'development' });
    expect(dev.usingDevDefaults).toContain('MASTER_ENCRYPTION_KEY');
    expect(dev.usingDevDefaults).toContain('JWT_SECRET');
  });

  it('requires the provider settings of the chosen provider', () => {
    expect(() => parseConfig({ ...TEST_SECRETS, STORAGE_PROVIDER: 's3' })).toThrowError(/AWS_REGION/);
    expect(() => parseConfig({ ...TEST_SECRETS, STORAGE_PROVIDER: 'azure' })).toThrowError(/AZURE_STORAGE_CONNECTION_STRING/);
  });

  describe('a JWKS issuer', () => {
    const jwks = { JWT_JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json', JWT_ISSUER: 'https://issuer.example.com/', JWT_AUDIENCE: 'call-recorder' };

    it('is accepted over https with both an issuer and an audience', () => {
      const config = parseConfig({ ...TEST_SECRETS, ...jwks });
      expect(config.JWT_AUDIENCE).toBe('call-recorder');
      expect(config.JWT_ISSUER).toBe('https://issuer.example.com/');
    });

    it.each([
      ['JWT_AUDIENCE', { ...jwks, JWT_AUDIENCE: undefined }, /JWT_AUDIENCE is required when JWT_JWKS_URL is set/],
      ['JWT_ISSUER', { ...jwks, JWT_ISSUER: undefined }, /JWT_ISSUER is required when JWT_JWKS_URL is set/],
      ['JWT_JWKS_URL', { ...jwks, JWT_JWKS_URL: 'http://issuer.example.com/.well-known/jwks.json' }, /JWT_JWKS_URL must be an https: URL/],
    ])('refuses to start without %s being safe', (variable, settings, message) => {
      let thrown: unknown;
      try {
        parseConfig({ ...TEST_SECRETS, ...settings });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).variable).toBe(variable);
      expect((thrown as Error).message).toMatch(message);
    });
  });

  it('answers a request under bad configuration with a logged 500 internal that names nothing secret', async () => {
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    const res = await createApp().fetch(new Request('http://recorder.test/health'), { ...env, MAX_FILE_SIZE: '-5' }, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);
    spy.mockRestore();
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'internal', message: 'Internal error' } });
    expect(errors.join('\n')).toContain('MAX_FILE_SIZE');
    expect(errors.join('\n')).not.toContain(TEST_SECRETS.MASTER_ENCRYPTION_KEY);
  });
});
