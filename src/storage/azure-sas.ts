/**
 * Azure Blob service SAS signing with Web Crypto. The SDK's browser build (the one workerd loads)
 * will not sign with an account key, so the adapter signs a short-lived SAS per operation instead:
 * scoped to one blob (or, for listing, the container), with only the permission that operation
 * needs, valid for a few minutes. The account key never leaves the Worker and no SAS made here is
 * handed to a client. Also parses and validates AZURE_STORAGE_CONNECTION_STRING.
 *
 * Format: "Create a service SAS", version 2020-12-06 and later (learn.microsoft.com/rest/api/
 * storageservices/create-service-sas): sixteen fields joined by "\n", every absent optional field
 * an empty string that keeps its newline, HMAC-SHA256 with the base64-decoded account key.
 */
import { ConfigError } from '../config';

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
  const raw = Uint8Array.from(atob(base64Key), (c) => c.charCodeAt(0));
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

function toBase64(bytes: ArrayBuffer): string {
  let binary = '';
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The SAS query string (without `?`) for `request`, signed with `key`. */
export async function signServiceSas(key: CryptoKey, request: ServiceSasRequest): Promise<string> {
  const stringToSign = serviceSasStringToSign(request);
  const signature = toBase64(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(stringToSign)));
  const forBlob = request.blob !== undefined;
  const query = new URLSearchParams({ sv: request.version ?? SAS_VERSION, spr: request.protocol });
  if (request.startsOn) query.set('st', sasTime(request.startsOn));
  query.set('se', sasTime(request.expiresOn));
  query.set('sr', forBlob ? 'b' : 'c');
  query.set('sp', canonicalPermissions(request.permissions, forBlob));
  query.set('sig', signature);
  return query.toString();
}

export interface AzureConnection {
  accountName: string;
  accountKey: string;
  /** Blob service endpoint without a trailing slash, e.g. `https://acct.blob.core.windows.net`. */
  blobEndpoint: string;
}

/** Azurite's well-known development account (public in Microsoft's documentation). */
const DEVELOPMENT_STORAGE: AzureConnection = {
  accountName: 'devstoreaccount1',
  accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
};

const VARIABLE = 'AZURE_STORAGE_CONNECTION_STRING';

/**
 * Parses an account-key connection string: `AccountName` and `AccountKey` (base64 of at least 32
 * bytes), and either `BlobEndpoint` or `DefaultEndpointsProtocol` + `EndpointSuffix` (default
 * `core.windows.net`); `UseDevelopmentStorage=true` means Azurite on its default port. SAS-only
 * connection strings are refused: the adapter needs the key to sign per-operation SAS itself.
 * Errors are `ConfigError`s naming the variable and never echo its value.
 */
export function parseConnectionString(connectionString: string): AzureConnection {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    if (part.trim() === '') continue;
    const at = part.indexOf('=');
    if (at <= 0) throw new ConfigError(VARIABLE, 'must be a list of Name=value pairs separated by ";"');
    fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    const proxy = fields.get('developmentstorageproxyuri');
    return proxy ? { ...DEVELOPMENT_STORAGE, blobEndpoint: `${proxy.replace(/\/+$/, '')}/devstoreaccount1` } : DEVELOPMENT_STORAGE;
  }
  const accountName = fields.get('accountname');
  const accountKey = fields.get('accountkey');
  if (!accountName) throw new ConfigError(VARIABLE, 'has no AccountName');
  if (!/^[a-z0-9]{3,24}$/.test(accountName)) throw new ConfigError(VARIABLE, 'has an AccountName that is not 3-24 lowercase letters and digits');
  if (!accountKey) {
    throw new ConfigError(VARIABLE, fields.has('sharedaccesssignature') ? 'must hold an AccountKey, not a SharedAccessSignature' : 'has no AccountKey');
  }
  let keyLength = 0;
  try {
    keyLength = atob(accountKey).length;
  } catch {
    throw new ConfigError(VARIABLE, 'has an AccountKey that is not base64');
  }
  if (keyLength < 32) throw new ConfigError(VARIABLE, 'has an AccountKey shorter than 32 bytes');

  let blobEndpoint = fields.get('blobendpoint');
  if (!blobEndpoint) {
    const protocol = (fields.get('defaultendpointsprotocol') ?? 'https').toLowerCase();
    if (protocol !== 'https' && protocol !== 'http') throw new ConfigError(VARIABLE, 'has a DefaultEndpointsProtocol other than https or http');
    blobEndpoint = `${protocol}://${accountName}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
  }
  let url: URL;
  try {
    url = new URL(blobEndpoint);
  } catch {
    throw new ConfigError(VARIABLE, 'has a BlobEndpoint that is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(VARIABLE, 'has a BlobEndpoint that is not http(s)');
  if (url.search || url.hash) throw new ConfigError(VARIABLE, 'has a BlobEndpoint with a query or fragment');
  return { accountName, accountKey, blobEndpoint: url.href.replace(/\/+$/, '') };
}
