/**
 * AZURE_STORAGE_CONNECTION_STRING and AZURE_CONTAINER_NAME, checked without touching the network.
 * Part of the configuration layer beside config.ts (src/storage/azure.ts imports it from here, so
 * config never imports storage). src/config.ts runs these checks when the settings are parsed (so a bad value stops the Worker,
 * and `npm start` under Node, before the first request) and the Azure adapter runs them again when
 * it is built directly. This module imports nothing but src/encoding.ts: config.ts imports it, and Node loads it with
 * type stripping, so it must stay erasable TypeScript without dependencies.
 */
import { base64ToBytes } from './encoding.ts';

export interface AzureConnection {
  accountName: string;
  accountKey: string;
  /** Blob service endpoint without a trailing slash, e.g. `https://acct.blob.core.windows.net`. */
  blobEndpoint: string;
}

/**
 * A malformed connection string. `reason` completes the sentence "AZURE_STORAGE_CONNECTION_STRING
 * <reason>" and never contains any part of the value (it holds the account key).
 */
export class InvalidConnectionString extends Error {
  override name = 'InvalidConnectionString';
  readonly reason: string;
  constructor(reason: string) {
    super(`AZURE_STORAGE_CONNECTION_STRING ${reason}`);
    this.reason = reason;
  }
}

/** Azurite's well-known development account (public in Microsoft's documentation). */
const DEVELOPMENT_STORAGE: AzureConnection = {
  accountName: 'devstoreaccount1',
  accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  blobEndpoint: 'http://127.0.0.1:10000/devstoreaccount1',
};

/**
 * Parses an account-key connection string: `AccountName` and `AccountKey` (base64 of at least 32
 * bytes), and either `BlobEndpoint` or `DefaultEndpointsProtocol` + `EndpointSuffix` (default
 * `core.windows.net`); `UseDevelopmentStorage=true` means Azurite on its default port. SAS-only
 * connection strings are refused: the adapter needs the key to sign per-operation SAS itself.
 * Throws InvalidConnectionString.
 */
export function parseConnectionString(connectionString: string): AzureConnection {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    if (part.trim() === '') continue;
    const at = part.indexOf('=');
    if (at <= 0) throw new InvalidConnectionString('must be a list of Name=value pairs separated by ";"');
    fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    const proxy = fields.get('developmentstorageproxyuri');
    return proxy ? { ...DEVELOPMENT_STORAGE, blobEndpoint: `${proxy.replace(/\/+$/, '')}/devstoreaccount1` } : DEVELOPMENT_STORAGE;
  }
  const accountName = fields.get('accountname');
  const accountKey = fields.get('accountkey');
  if (!accountName) throw new InvalidConnectionString('has no AccountName');
  if (!/^[a-z0-9]{3,24}$/.test(accountName)) throw new InvalidConnectionString('has an AccountName that is not 3-24 lowercase letters and digits');
  if (!accountKey) {
    throw new InvalidConnectionString(fields.has('sharedaccesssignature') ? 'must hold an AccountKey, not a SharedAccessSignature' : 'has no AccountKey');
  }
  let keyLength = 0;
  try {
    keyLength = base64ToBytes(accountKey).length;
  } catch {
    throw new InvalidConnectionString('has an AccountKey that is not base64');
  }
  if (keyLength < 32) throw new InvalidConnectionString('has an AccountKey shorter than 32 bytes');

  let blobEndpoint = fields.get('blobendpoint');
  if (!blobEndpoint) {
    const protocol = (fields.get('defaultendpointsprotocol') ?? 'https').toLowerCase();
    if (protocol !== 'https' && protocol !== 'http') throw new InvalidConnectionString('has a DefaultEndpointsProtocol other than https or http');
    blobEndpoint = `${protocol}://${accountName}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
  }
  let url: URL;
  try {
    url = new URL(blobEndpoint);
  } catch {
    throw new InvalidConnectionString('has a BlobEndpoint that is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidConnectionString('has a BlobEndpoint that is not http(s)');
  if (url.search || url.hash) throw new InvalidConnectionString('has a BlobEndpoint with a query or fragment');
  return { accountName, accountKey, blobEndpoint: url.href.replace(/\/+$/, '') };
}

/** Azure's container naming rule: 3-63 lowercase letters, digits and single hyphens, not at either end. */
export function isValidContainerName(name: string): boolean {
  return /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name);
}

/** What is wrong with AZURE_CONTAINER_NAME, completing "AZURE_CONTAINER_NAME <reason>". */
export const CONTAINER_NAME_RULE = 'must be 3-63 lowercase letters, digits and single hyphens';
