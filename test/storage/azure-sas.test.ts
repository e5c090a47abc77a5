/**
 * The service SAS signer behind the Azure adapter (the connection-string parser is tested in
 * azure-config.test.ts).
 *
 * Microsoft's "Service SAS examples" page prints signatures without the account key that made
 * them (and reuses one signature for different strings), so they cannot serve as known answers.
 * Instead: the string-to-sign is checked field by field against the documented 2020-12-06+ format,
 * the signatures against Microsoft's own implementation (`generateBlobSASQueryParameters` of
 * @azure/storage-blob 12.34.0 under Node, with Azurite's published development key), and real
 * requests against Azurite, which verifies signatures and permissions as Azure does.
 */
import { describe, expect, inject, it } from 'vitest';
import { parseConnectionString } from '../../src/azure-connection';
import { canonicalPermissions, importAccountKey, SAS_VERSION, serviceSasStringToSign, signServiceSas } from '../../src/storage/azure-sas';

const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const EXPIRY = new Date('2030-01-02T03:04:05Z');

describe('service SAS string-to-sign', () => {
  it('follows the documented 2020-12-06 format: sixteen fields, empty ones keeping their newline', () => {
    const stringToSign = serviceSasStringToSign({
      accountName: 'myaccount',
      container: 'music',
      blob: 'intro.mp3',
      permissions: 'wr',
      startsOn: new Date('2030-01-01T00:00:00.000Z'),
      expiresOn: EXPIRY,
      protocol: 'https',
    });
    const documented = [
      'rw', // signedPermissions, in the documented order r-a-c-w-d
      '2030-01-01T00:00:00Z', // signedStart
      '2030-01-02T03:04:05Z', // signedExpiry
      '/blob/myaccount/music/intro.mp3', // canonicalizedResource, as in the documentation's blob example
      '', // signedIdentifier
      '', // signedIP
      'https', // signedProtocol
      SAS_VERSION, // signedVersion
      'b', // signedResource
      '', // signedSnapshotTime
      '', // signedEncryptionScope
      '', // rscc
      '', // rscd
      '', // rsce
      '', // rscl
      '', // rsct
    ].join('\n');
    expect(stringToSign).toBe(documented);
    expect(stringToSign.split('\n')).toHaveLength(16);
  });

  it('names a container as /blob/<account>/<container> without a trailing slash', () => {
    const fields = serviceSasStringToSign({ accountName: 'myaccount', container: 'music', permissions: 'l', expiresOn: EXPIRY, protocol: 'https' }).split('\n');
    expect(fields[3]).toBe('/blob/myaccount/music');
    expect(fields[8]).toBe('c');
  });

  it('orders permissions canonically and refuses unknown, repeated or container-only letters on a blob', () => {
    expect(canonicalPermissions('dwr', true)).toBe('rwd');
    expect(canonicalPermissions('lr', false)).toBe('rl');
    expect(() => canonicalPermissions('l', true)).toThrow();
    expect(() => canonicalPermissions('rr', true)).toThrow();
    expect(() => canonicalPermissions('x', false)).toThrow();
    expect(() => canonicalPermissions('', false)).toThrow();
  });
});

describe('service SAS signature', () => {
  // Expected values: generateBlobSASQueryParameters of @azure/storage-blob 12.34.0 (Node build) with
  // StorageSharedKeyCredential('myaccount', DEV_KEY) and the same inputs, sv=2022-11-02.
  const cases = [
    {
      name: 'a read-write SAS for one blob',
      request: { container: 'music', blob: 'intro.mp3', permissions: 'rw', protocol: 'https' as const },
      query: 'sv=2022-11-02&spr=https&se=2030-01-02T03%3A04%3A05Z&sr=b&sp=rw&sig=qDGbFOoW%2FWDMsVboyIJKQR56NluZRX1Nve9AD9pjnuk%3D',
    },
    {
      name: 'a list SAS for a container, with a start time and plain HTTP allowed',
      request: { container: 'music', permissions: 'l', protocol: 'https,http' as const, startsOn: new Date('2030-01-01T00:00:00Z') },
      query:
        'sv=2022-11-02&spr=https%2Chttp&st=2030-01-01T00%3A00%3A00Z&se=2030-01-02T03%3A04%3A05Z&sr=c&sp=l&sig=TOz8uiYeVc%2BHTPwfNHHg5su35BS3FFW6GZBXGbys0Wc%3D',
    },
    {
      name: 'a delete SAS for a blob whose name has a path, spaces and non-ASCII letters',
      request: { container: 'recordings', blob: 'calls/2030/ünïcode name.webm', permissions: 'd', protocol: 'https' as const },
      query: 'sv=2022-11-02&spr=https&se=2030-01-02T03%3A04%3A05Z&sr=b&sp=d&sig=lsNEXUAbxPLsSnRN5ySzZN3jsrighoyFs3vWo%2B2dVW0%3D',
    },
  ];

  for (const { name, request, query } of cases) {
    it(`matches Microsoft's implementation for ${name}`, async () => {
      const key = await importAccountKey(DEV_KEY);
      const signed = new URLSearchParams(await signServiceSas(key, { accountName: 'myaccount', expiresOn: EXPIRY, ...request }));
      const expected = new URLSearchParams(query);
      expect(Object.fromEntries(signed)).toEqual(Object.fromEntries(expected));
    });
  }
});

describe('service SAS against Azurite', () => {
  const { connectionString, container } = inject('azure');
  const connection = parseConnectionString(connectionString);

  async function blobRequest(blob: string, permissions: string, init: RequestInit, tamper?: (query: URLSearchParams) => void, expiresOn = new Date(Date.now() + 60_000)) {
    const key = await importAccountKey(connection.accountKey);
    const query = new URLSearchParams(await signServiceSas(key, { accountName: connection.accountName, container, blob, permissions, expiresOn, protocol: 'https,http' }));
    tamper?.(query);
    return fetch(`${connection.blobEndpoint}/${container}/${blob}?${query}`, { ...init, headers: { 'x-ms-version': SAS_VERSION, ...init.headers } });
  }

  const put = (body: string): RequestInit => ({ method: 'PUT', body, headers: { 'x-ms-blob-type': 'BlockBlob' } });

  it('a write SAS for the blob lets it be written, and a read SAS lets it be read', async () => {
    expect((await blobRequest('sas/ok.txt', 'w', put('signed'))).status).toBe(201);
    const read = await blobRequest('sas/ok.txt', 'r', { method: 'GET' });
    expect(read.status).toBe(200);
    expect(await read.text()).toBe('signed');
  });

  it('a read-only SAS cannot write, and a SAS for one blob cannot touch another', async () => {
    const readOnly = await blobRequest('sas/denied.txt', 'r', put('nope'));
    expect(readOnly.status).toBe(403);
    await readOnly.body?.cancel();
    const key = await importAccountKey(connection.accountKey);
    const forA = await signServiceSas(key, { accountName: connection.accountName, container, blob: 'sas/a.txt', permissions: 'w', expiresOn: new Date(Date.now() + 60_000), protocol: 'https,http' });
    const onB = await fetch(`${connection.blobEndpoint}/${container}/sas/b.txt?${forA}`, { ...put('nope'), headers: { 'x-ms-version': SAS_VERSION, 'x-ms-blob-type': 'BlockBlob' } });
    expect(onB.status).toBe(403);
    await onB.body?.cancel();
  });

  it('a tampered or expired SAS is refused', async () => {
    const tampered = await blobRequest('sas/ok.txt', 'r', { method: 'GET' }, (q) => q.set('sp', 'rw'));
    expect(tampered.status).toBe(403);
    await tampered.body?.cancel();
    const expired = await blobRequest('sas/ok.txt', 'r', { method: 'GET' }, undefined, new Date(Date.now() - 60_000));
    expect(expired.status).toBe(403);
    await expired.body?.cancel();
  });
});
