/**
 * Azure Blob service SAS signing with Web Crypto. The SDK's browser build (the one workerd loads)
 * will not sign with an account key, so the adapter signs a short-lived SAS per operation instead:
 * scoped to one blob (or, for listing, the container), with only the permission that operation
 * needs, valid for a few minutes. The account key never leaves the Worker and no SAS made here is
 * handed to a client. The connection string it signs for is parsed in src/azure-connection.ts.
 *
 * Format: "Create a service SAS", version 2020-12-06 and later (learn.microsoft.com/rest/api/
 * storageservices/create-service-sas): sixteen fields joined by "\n", every absent optional field
 * an empty string that keeps its newline, HMAC-SHA256 with the base64-decoded account key.
 */
import { base64ToBytes, bytesToBase64 } from '../encoding';

/** Signed version (`sv`): the string-to-sign below is the one defined for 2020-12-06 and later. */
export const SAS_VERSION = '2022-11-02';

/** Letters in the order the service requires for a container (a blob uses the same order, without `l`). */
const PERMISSION_ORDER = 'racwdl';

export interface ServiceSasRequest {
  accountName: string;
  container: string;
  /** The blob the SAS is for (`sr=b`); absent for a container SAS (`sr=c`). */
  blob?: string;
  /** Any of r (read), a (add), c (create), w (write), d (delete), l (list, container only). */
  permissions: string;
  startsOn?: Date;
  expiresOn: Date;
  /** `https` in production; `https,http` for an emulator on plain HTTP. */
  protocol: 'https' | 'https,http';
  version?: string;
}

/** `permissions` in the service's canonical order; throws on unknown or repeated letters. */
export function canonicalPermissions(permissions: string, forBlob: boolean): string {
  const allowed = forBlob ? PERMISSION_ORDER.replace('l', '') : PERMISSION_ORDER;
  const letters = new Set(permissions);
  if (letters.size !== permissions.length || [...letters].some((p) => !allowed.includes(p)) || letters.size === 0) {
    throw new Error(`invalid SAS permissions "${permissions}" for a ${forBlob ? 'blob' : 'container'}`);
  }
  return [...allowed].filter((p) => letters.has(p)).join('');
}

/** ISO 8601 UTC to the second, the form the service echoes (`2026-01-01T00:00:00Z`). */
export function sasTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The exact string the signature covers (exported for tests against the documented format). */
export function serviceSasStringToSign(request: ServiceSasRequest): string {
  const forBlob = request.blob !== undefined;
  const resource = `/blob/${request.accountName}/${request.container}${forBlob ? `/${request.blob}` : ''}`;
  return [
    canonicalPermissions(request.permissions, forBlob),
    request.startsOn ? sasTime(request.startsOn) : '',
    sasTime(request.expiresOn),
    resource, // canonicalizedResource: URL-decoded names
    '', // signedIdentifier (no stored access policy)
    '', // signedIP
    request.protocol,
    request.version ?? SAS_VERSION,
    forBlob ? 'b' : 'c', // signedResource
    '', // signedSnapshotTime
    '', // signedEncryptionScope
    '', // rscc
    '', // rscd
    '', // rsce
    '', // rscl
    '', // rsct
  ].join('\n');
}

/** Imports a base64 account key for HMAC-SHA256 signing; the key cannot be exported again. */
export async function importAccountKey(base64Key: string): Promise<CryptoKey> {
  const raw = base64ToBytes(base64Key);
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/** The SAS query string (without `?`) for `request`, signed with `key`. */
export async function signServiceSas(key: CryptoKey, request: ServiceSasRequest): Promise<string> {
  const stringToSign = serviceSasStringToSign(request);
  const signature = bytesToBase64(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(stringToSign))));
  const forBlob = request.blob !== undefined;
  const query = new URLSearchParams({ sv: request.version ?? SAS_VERSION, spr: request.protocol });
  if (request.startsOn) query.set('st', sasTime(request.startsOn));
  query.set('se', sasTime(request.expiresOn));
  query.set('sr', forBlob ? 'b' : 'c');
  query.set('sp', canonicalPermissions(request.permissions, forBlob));
  query.set('sig', signature);
  return query.toString();
}
