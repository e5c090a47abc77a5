/**
 * JWT verification with jose. Each key source has its own algorithm allow-list: the shared
 * `JWT_SECRET` verifies HS256 only, the JWKS (when `JWT_JWKS_URL` is set) RS256/ES256 only, so a
 * token cannot pick a weaker path (HS/RS confusion, `alg: none`). Every failure, including the
 * plain TypeErrors jose throws on malformed input, is reported as `JwtRejected`.
 */
import { compactVerify, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

export const SYMMETRIC_ALGORITHMS = ['HS256'] as const;
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'] as const;

export class JwtRejected extends Error {
  override name = 'JwtRejected';
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`token rejected: ${reason}`, options);
  }
}

export interface JwtVerifierOptions {
  secret: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  clockToleranceSeconds: number;
}

export type KeySource = { kind: 'secret'; key: Uint8Array } | { kind: 'jwks'; getKey: JWTVerifyGetKey };

const jwksCache = new Map<string, JWTVerifyGetKey>();

/** The key sources configured, each with its own allow-list. */
function keySourcesFor(options: JwtVerifierOptions): { source: KeySource; algorithms: readonly string[] }[] {
  const sources: { source: KeySource; algorithms: readonly string[] }[] = [
    { source: { kind: 'secret', key: new TextEncoder().encode(options.secret) }, algorithms: SYMMETRIC_ALGORITHMS },
  ];
  if (options.jwksUrl) {
    let getKey = jwksCache.get(options.jwksUrl);
    if (!getKey) {
      getKey = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 });
      jwksCache.set(options.jwksUrl, getKey);
    }
    sources.push({ source: { kind: 'jwks', getKey }, algorithms: ASYMMETRIC_ALGORITHMS });
  }
  return sources;
}

function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  return 'ERR_JWT_MALFORMED';
}

/**
 * Verify a compact JWS signature against one key source with its allow-list; used by the JWT
 * path and directly by the Wycheproof vector tests. Returns the payload bytes.
 */
export async function verifyCompactJws(token: string, source: KeySource, algorithms: readonly string[]): Promise<Uint8Array> {
  try {
    const key = source.kind === 'secret' ? source.key : source.getKey;
    const { payload } = await compactVerify(token, key as Parameters<typeof compactVerify>[1], { algorithms: [...algorithms] });
    return payload;
  } catch (error) {
    throw new JwtRejected(describe(error), { cause: error });
  }
}

/** Verify a bearer token and return its claims; throws `JwtRejected` for any problem. */
export async function verifyJwt(token: string, options: JwtVerifierOptions): Promise<JWTPayload & { sub: string; exp: number }> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (error) {
    throw new JwtRejected('ERR_JWT_MALFORMED', { cause: error });
  }
  const match = keySourcesFor(options).find((s) => alg !== undefined && s.algorithms.includes(alg));
  if (!match) throw new JwtRejected('ERR_JOSE_ALG_NOT_ALLOWED');
  try {
    const key = match.source.kind === 'secret' ? match.source.key : match.source.getKey;
    const { payload } = await jwtVerify(token, key as Parameters<typeof jwtVerify>[1], {
      algorithms: [...match.algorithms],
      requiredClaims: ['exp', 'sub'],
      clockTolerance: options.clockToleranceSeconds,
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
    });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw new JwtRejected('ERR_JWT_CLAIM_VALIDATION_FAILED');
    return payload as JWTPayload & { sub: string; exp: number };
  } catch (error) {
    if (error instanceof JwtRejected) throw error;
    throw new JwtRejected(describe(error), { cause: error });
  }
}
