/**
 * Signed audit checkpoints: every shard's head and their RFC 6962 Merkle root, as a flattened JWS
 * (RFC 7515, EdDSA over Ed25519) under AUDIT_SIGNING_KEY, a key of its own, never derived from the
 * master key. Each checkpoint names its key (`kid`, the RFC 7638 thumbprint of the public JWK) in
 * its protected header; after a rotation the retired public keys stay listed
 * (AUDIT_SIGNING_KEYS_PREVIOUS), so old checkpoints still open with the key they name. Anyone with
 * the public keys (GET /api/v1/audit/public-key) can open one; this file imports only jose and the
 * audit format, so scripts/verify-audit.mjs uses it as it is.
 */
import { calculateJwkThumbprint, decodeProtectedHeader, FlattenedSign, flattenedVerify, importJWK, type FlattenedJWS, type JWK } from 'jose';
import { base64ToBytes } from '../encoding.ts';
import { merkleRoot, type ShardHead } from './audit-format.ts';

export const CHECKPOINT_ALGORITHM = 'EdDSA';

export interface CheckpointPayload {
  version: 1;
  id: string;
  writtenAt: string;
  treeSize: number;
  /** RFC 6962 Merkle Tree Hash over `heads` in shard order, hex. */
  root: string;
  heads: ShardHead[];
}

export interface AuditSigner {
  privateKey: CryptoKey;
  publicJwk: JWK & { kid: string };
}

/** PKCS #8 wrapping of a raw Ed25519 seed (RFC 8410): a fixed 16-byte prefix, then the 32 bytes. */
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
const signers = new Map<string, Promise<AuditSigner>>();

/** The signer for AUDIT_SIGNING_KEY (base64 of a 32-byte Ed25519 seed), imported once per isolate. */
export function auditSigner(seedBase64: string): Promise<AuditSigner> {
  let signer = signers.get(seedBase64);
  if (!signer) {
    signer = (async () => {
      const seed = base64ToBytes(seedBase64);
      const der = new Uint8Array([...PKCS8_ED25519_PREFIX, ...seed]);
      const extractable = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign']);
      const { kty, crv, x } = (await crypto.subtle.exportKey('jwk', extractable)) as JsonWebKey;
      const publicJwk = { kty: kty!, crv: crv!, x: x! };
      const kid = await calculateJwkThumbprint(publicJwk);
      const privateKey = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
      return { privateKey, publicJwk: { ...publicJwk, alg: CHECKPOINT_ALGORITHM, use: 'sig', kid } };
    })();
    signers.set(seedBase64, signer);
  }
  return signer;
}

export type PublicSigningKey = JWK & { kid: string };

/** The public JWK of a retired key, from the base64url of its 32 raw bytes (the JWK's `x`). */
export async function retiredPublicKey(x: string): Promise<PublicSigningKey> {
  const publicJwk = { kty: 'OKP', crv: 'Ed25519', x };
  return { ...publicJwk, alg: CHECKPOINT_ALGORITHM, use: 'sig', kid: await calculateJwkThumbprint(publicJwk) };
}

/** Every key a checkpoint may name: the current one first, then the retired ones (no duplicates). */
export async function auditPublicKeys(seedBase64: string, previous: readonly string[] = []): Promise<PublicSigningKey[]> {
  const keys = [(await auditSigner(seedBase64)).publicJwk];
  for (const x of previous) {
    const key = await retiredPublicKey(x);
    if (!keys.some((k) => k.kid === key.kid)) keys.push(key);
  }
  return keys;
}

/** Sign the heads as a checkpoint. */
export async function signCheckpoint(signer: AuditSigner, heads: ShardHead[], id: string, writtenAt: string): Promise<{ payload: CheckpointPayload; jws: FlattenedJWS }> {
  const sorted = [...heads].sort((a, b) => a.shard - b.shard);
  const payload: CheckpointPayload = { version: 1, id, writtenAt, treeSize: sorted.length, root: await merkleRoot(sorted), heads: sorted };
  const jws = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: CHECKPOINT_ALGORITHM, kid: signer.publicJwk.kid, typ: 'audit-checkpoint+json' })
    .sign(signer.privateKey);
  return { payload, jws };
}

/** Why a checkpoint cannot be trusted. */
export type CheckpointDefect = 'malformed' | 'signature' | 'root';

/**
 * Open a checkpoint with the key it names: the `kid` of its protected header picks one of `keys`
 * (a checkpoint naming no listed key, or none, is a `signature` defect); the signature must verify
 * under EdDSA only, and the root must be the Merkle root of the heads it lists. Returns the payload
 * or the defect.
 */
export async function openCheckpoint(jws: unknown, keys: JWK | readonly JWK[]): Promise<{ payload: CheckpointPayload } | { defect: CheckpointDefect }> {
  if (!jws || typeof jws !== 'object') return { defect: 'malformed' };
  const list = Array.isArray(keys) ? (keys as readonly JWK[]) : [keys as JWK];
  let text: string;
  try {
    const { kid } = decodeProtectedHeader(jws as FlattenedJWS);
    // A key listed without a kid (one JWK given by hand) is tried for any checkpoint.
    const named = list.find((k) => k.kid !== undefined && k.kid === kid) ?? (list.length === 1 && list[0]!.kid === undefined ? list[0] : undefined);
    if (!named) return { defect: 'signature' };
    const key = await importJWK({ ...named, alg: CHECKPOINT_ALGORITHM }, CHECKPOINT_ALGORITHM);
    const opened = await flattenedVerify(jws as FlattenedJWS, key, { algorithms: [CHECKPOINT_ALGORITHM] });
    text = new TextDecoder().decode(opened.payload);
  } catch {
    return { defect: 'signature' };
  }
  let payload: CheckpointPayload;
  try {
    payload = JSON.parse(text) as CheckpointPayload;
  } catch {
    return { defect: 'malformed' };
  }
  if (payload.version !== 1 || !Array.isArray(payload.heads) || typeof payload.id !== 'string') return { defect: 'malformed' };
  if (payload.treeSize !== payload.heads.length || payload.root !== (await merkleRoot(payload.heads))) return { defect: 'root' };
  return { payload };
}
