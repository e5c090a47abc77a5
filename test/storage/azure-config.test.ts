/**
 * AZURE_STORAGE_CONNECTION_STRING and AZURE_CONTAINER_NAME: the parser in
 * src/azure-connection.ts, and parseConfig refusing a bad value at start, before any
 * request, with a ConfigError that names the variable and never echoes the value (it holds the key).
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app';
import { ConfigError, parseConfig } from '../../src/config';
import { InvalidConnectionString, parseConnectionString } from '../../src/azure-connection';
import { AzureBlobStore } from '../../src/storage/azure';
import { TEST_SECRETS } from '../support/secrets';

const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
/** A key that is valid base64 of 32+ bytes but not Azurite's: the messages must not echo it either. */
const OTHER_KEY = btoa('a-production-looking-account-key-0123456789');

const invalid = [
  ['no AccountKey', 'AccountName=recorder', /has no AccountKey/],
  ['a SAS instead of a key', 'BlobEndpoint=https://recorder.blob.core.windows.net;SharedAccessSignature=sv=2022-11-02&sig=abc', /has no AccountName/],
  ['a SAS with an account name', 'AccountName=recorder;SharedAccessSignature=sv=2022-11-02&sig=abc', /must hold an AccountKey, not a SharedAccessSignature/],
  ['a key that is not base64', 'AccountName=recorder;AccountKey=not*base64!', /not base64/],
  ['a key that is too short', 'AccountName=recorder;AccountKey=c2hvcnQ=', /shorter than 32 bytes/],
  ['an invalid account name', `AccountName=Bad_Name;AccountKey=${OTHER_KEY}`, /AccountName that is not/],
  ['a pair without =', `AccountName=recorder;AccountKey=${OTHER_KEY};oops`, /Name=value/],
  ['an endpoint that is not a URL', `AccountName=recorder;AccountKey=${OTHER_KEY};BlobEndpoint=not a url`, /not an absolute URL/],
  ['an endpoint that is not http(s)', `AccountName=recorder;AccountKey=${OTHER_KEY};BlobEndpoint=ftp://recorder.example`, /not http\(s\)/],
  ['an endpoint with a query', `AccountName=recorder;AccountKey=${OTHER_KEY};BlobEndpoint=https://recorder.example/?sig=abc`, /query or fragment/],
  ['an unknown protocol', `DefaultEndpointsProtocol=gopher;AccountName=recorder;AccountKey=${OTHER_KEY}`, /DefaultEndpointsProtocol/],
] as const;

/** The secret parts of a value: none may appear in an error message. */
const secretsIn = (value: string) => [DEV_KEY, OTHER_KEY, 'sig=abc', 'not*base64!', 'c2hvcnQ='].filter((s) => value.includes(s));

function azureSettings(connectionString: string, container = 'recordings'): Record<string, string> {
  return { ...TEST_SECRETS, ENVIRONMENT: 'production', STORAGE_PROVIDER: 'azure', AZURE_STORAGE_CONNECTION_STRING: connectionString, AZURE_CONTAINER_NAME: container };
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('parseConnectionString', () => {
  it('takes AccountName, AccountKey and BlobEndpoint', () => {
    expect(parseConnectionString(`DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;`)).toEqual({
      accountName: 'devstoreaccount1',
      accountKey: DEV_KEY,
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
    });
  });

  it('builds the endpoint from DefaultEndpointsProtocol and EndpointSuffix', () => {
    expect(parseConnectionString(`DefaultEndpointsProtocol=https;AccountName=recorder;AccountKey=${DEV_KEY};EndpointSuffix=core.usgovcloudapi.net`).blobEndpoint).toBe(
      'https://recorder.blob.core.usgovcloudapi.net',
    );
    expect(parseConnectionString(`AccountName=recorder;AccountKey=${DEV_KEY}`).blobEndpoint).toBe('https://recorder.blob.core.windows.net');
  });

  it('understands UseDevelopmentStorage=true as Azurite on its default port', () => {
    expect(parseConnectionString('UseDevelopmentStorage=true')).toEqual({
      accountName: 'devstoreaccount1',
      accountKey: DEV_KEY,
      blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
    });
  });

  for (const [what, value, message] of invalid) {
    it(`refuses ${what}, saying what is wrong without echoing the value`, () => {
      const error = thrownBy(() => parseConnectionString(value));
      expect(error).toBeInstanceOf(InvalidConnectionString);
      expect((error as Error).message).toMatch(message);
      for (const secret of secretsIn(value)) expect((error as Error).message).not.toContain(secret);
    });
  }
});

describe('AZURE_STORAGE_CONNECTION_STRING at configuration parse time', () => {
  it('accepts a well-formed account-key connection string and the development shorthand', () => {
    expect(parseConfig(azureSettings(`DefaultEndpointsProtocol=https;AccountName=recorder;AccountKey=${OTHER_KEY};EndpointSuffix=core.windows.net`)).STORAGE_PROVIDER).toBe('azure');
    expect(parseConfig(azureSettings('UseDevelopmentStorage=true')).AZURE_CONTAINER_NAME).toBe('recordings');
  });

  for (const [what, value, message] of invalid) {
    it(`refuses ${what} with a ConfigError naming the variable, not echoing the value`, () => {
      const error = thrownBy(() => parseConfig(azureSettings(value)));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('AZURE_STORAGE_CONNECTION_STRING');
      expect((error as ConfigError).message).toMatch(/^Invalid configuration: AZURE_STORAGE_CONNECTION_STRING /);
      expect((error as ConfigError).message).toMatch(message);
      for (const secret of secretsIn(value)) expect((error as ConfigError).message).not.toContain(secret);
    });
  }

  it('refuses a container name Azure would refuse, naming AZURE_CONTAINER_NAME', () => {
    for (const name of ['Bad_Name', 'ab', 'double--hyphen', '-leading', 'trailing-', 'x'.repeat(64)]) {
      const error = thrownBy(() => parseConfig(azureSettings('UseDevelopmentStorage=true', name)));
      expect(error, name).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable, name).toBe('AZURE_CONTAINER_NAME');
    }
  });

  it('checks the Azure settings only when Azure is the provider', () => {
    expect(parseConfig({ ...TEST_SECRETS, STORAGE_PROVIDER: 'r2', AZURE_STORAGE_CONNECTION_STRING: 'AccountName=recorder' }).STORAGE_PROVIDER).toBe('r2');
  });

  it('an adapter built directly applies the same checks', () => {
    const error = thrownBy(() => new AzureBlobStore({ connectionString: `AccountName=recorder;AccountKey=${OTHER_KEY};oops`, container: 'recordings' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('AZURE_STORAGE_CONNECTION_STRING');
    expect((error as ConfigError).message).not.toContain(OTHER_KEY);
    expect(() => new AzureBlobStore({ connectionString: 'UseDevelopmentStorage=true', container: 'Bad_Name' })).toThrow(/AZURE_CONTAINER_NAME/);
  });

  it('a Worker configured with a bad connection string answers 500 internal, logging the variable and never the key', async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(' '));
    try {
      const settings = azureSettings(`AccountName=recorder;AccountKey=${OTHER_KEY};BlobEndpoint=not a url`);
      const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
      const res = await createApp().fetch(new Request('http://recorder.test/health'), { ...env, ...settings }, ctx);
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'Internal error' } });
      expect(text).not.toContain(OTHER_KEY);
    } finally {
      console.error = original;
    }
    expect(logged.join('\n')).toContain('AZURE_STORAGE_CONNECTION_STRING');
    expect(logged.join('\n')).not.toContain(OTHER_KEY);
  });
});
