/**
 * The one place every setting is read. `env` is parsed with zod once per isolate; a bad value
 * fails with a message naming the variable. This file imports nothing but zod and the
 * dependency-free Azure connection-string parser (with its `.ts` extension, as Node requires), so
 * that `scripts/prestart.mjs` can run the very same checks under Node before `wrangler dev` starts.
 */
import { z } from 'zod';
import { CONTAINER_NAME_RULE, InvalidConnectionString, isValidContainerName, parseConnectionString } from './azure-connection.ts';
import { base64ToBytes } from './encoding.ts';

/** The Worker's bindings (from `wrangler types`) together with its secrets. */
export type Bindings = Env & Secrets;

/** Secrets and optional settings that `wrangler types` cannot see (they live in .dev.vars or `wrangler secret`). */
export interface Secrets {
  MASTER_ENCRYPTION_KEY?: string;
  JWT_SECRET?: string;
  JWT_JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  API_KEYS?: string;
  WEBHOOK_URL?: string;
  WEBHOOK_SECRET?: string;
  WEBHOOK_RETRY_HOURS?: string;
  WEBHOOK_RETRY_BASE_SECONDS?: string;
  WEBHOOK_RETRY_MAX_DELAY_SECONDS?: string;
  FFMPEG_URL?: string;
  FFMPEG_SHARED_SECRET?: string;
  PUBLIC_BASE_URL?: string;
  AWS_REGION?: string;
  AWS_BUCKET_NAME?: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_ENDPOINT?: string;
  AWS_CLOUDFRONT_DOMAIN?: string;
  AZURE_STORAGE_CONNECTION_STRING?: string;
  AZURE_CONTAINER_NAME?: string;
  AZURE_CDN_ENDPOINT?: string;
  RATE_LIMIT_DISABLED?: string;
  AUDIT_SIGNING_KEY?: string;
  AUDIT_SIGNING_KEYS_PREVIOUS?: string;
  AUDIT_SHARDS?: string;
  AUDIT_DISABLED?: string;
  TRANSCRIPTION_ENGINE?: string;
}

/**
 * Development defaults: used only when ENVIRONMENT is not "production", and announced with a
 * warning at start. Printed in the README; never use them for real recordings.
 */
export const DEV_DEFAULTS = {
  MASTER_ENCRYPTION_KEY: 'ZGV2LW9ubHktbWFzdGVyLWtleS0zMi1ieXRlcy0hISE=',
  JWT_SECRET: 'dev-only-jwt-secret-change-me-0123456789',
  API_KEYS: 'dev-only-api-key-0123456789abcdef',
  WEBHOOK_SECRET: 'dev-only-webhook-secret-0123456789',
  FFMPEG_SHARED_SECRET: 'dev-only-ffmpeg-secret-0123456789',
  AUDIT_SIGNING_KEY: 'ZGV2LW9ubHktYXVkaXQtc2lnbmluZy1zZWVkLTMyYnk=',
} as const;

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const positiveInt = z.coerce.number({ message: 'must be a number' }).int('must be a whole number').positive('must be positive');
const nonNegativeInt = z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more');
const optionalUrl = z.url({ message: 'must be an absolute URL' }).optional();
const base64Key32 = z.string().refine((v) => {
  try {
    return base64ToBytes(v).length === 32;
  } catch {
    return false;
  }
}, 'must be the base64 encoding of exactly 32 bytes');

const schema = z.object({
  ENVIRONMENT: z.enum(['production', 'development', 'test']).default('production'),
  STORAGE_PROVIDER: z
    .enum(['r2', 'local', 's3', 'aws', 'azure'], { message: 'must be r2, local, s3, aws or azure' })
    .default('r2')
    .transform((v) => (v === 'local' ? 'r2' : v === 'aws' ? 's3' : v)),
  MAX_FILE_SIZE: positiveInt.default(104857600),
  RETENTION_DAYS_RECORDING: positiveInt.default(30),
  RETENTION_DAYS_TRANSCRIPT: positiveInt.default(365),
  ARCHIVAL_ENABLED: bool.default(true),
  ARCHIVAL_AFTER_DAYS: positiveInt.default(7),
  COLD_AFTER_DAYS: positiveInt.default(30),
  ARCHIVE_AFTER_DAYS: positiveInt.default(90),
  GDPR_ENABLED: bool.default(true),
  PROMETHEUS_ENABLED: bool.default(true),
  HEALTH_CHECK_ENABLED: bool.default(true),
  NOISE_REDUCTION_ENABLED: bool.default(true),
  KEY_ROTATION_DAYS: positiveInt.default(30),
  LIVE_IDLE_TIMEOUT_SECONDS: positiveInt.default(60),
  LIVE_MAX_DURATION_HOURS: positiveInt.max(144, 'must be at most 144 (R2 aborts unfinished uploads after 7 days)').default(12),
  PLAYBACK_URL_TTL_SECONDS: positiveInt.max(7 * 86400, 'must be at most 604800').default(900),
  JWT_CLOCK_TOLERANCE_SECONDS: nonNegativeInt.max(300, 'must be at most 300').default(30),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  MASTER_ENCRYPTION_KEY: base64Key32.optional(),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_JWKS_URL: optionalUrl,
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  API_KEYS: z
    .string()
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .refine((keys) => keys.every((k) => k.length >= 16), 'every key must be at least 16 characters')
    .optional(),
  WEBHOOK_URL: optionalUrl,
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  WEBHOOK_RETRY_HOURS: z.coerce.number({ message: 'must be a number' }).min(0, 'must be 0 or more').max(336, 'must be at most 336 (the queue keeps a message 14 days at most)').default(24),
  WEBHOOK_RETRY_BASE_SECONDS: positiveInt.max(43_200, 'must be at most 43200 (the Queue delays a message 12 hours at most)').default(30),
  WEBHOOK_RETRY_MAX_DELAY_SECONDS: positiveInt.max(43_200, 'must be at most 43200 (the Queue delays a message 12 hours at most)').default(3600),
  FFMPEG_URL: optionalUrl,
  FFMPEG_SHARED_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  PUBLIC_BASE_URL: optionalUrl,
  AWS_REGION: z.string().min(1).optional(),
  AWS_BUCKET_NAME: z.string().min(3).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_ENDPOINT: optionalUrl,
  AWS_CLOUDFRONT_DOMAIN: z.string().min(1).optional(),
  AZURE_STORAGE_CONNECTION_STRING: z.string().min(1).optional(),
  AZURE_CONTAINER_NAME: z.string().min(3, 'must be at least 3 characters').optional(),
  AZURE_CDN_ENDPOINT: z.string().min(1).optional(),
  RATE_LIMIT_DISABLED: bool.default(false),
  /** Base64 of a 32-byte Ed25519 seed; signs audit checkpoints. Its own secret, not derived from the master key. */
  AUDIT_SIGNING_KEY: base64Key32.optional(),
  /** After a rotation: the public keys (base64url of the 32 bytes, a JWK's `x`) of retired signing keys, comma-separated; their checkpoints still verify. */
  AUDIT_SIGNING_KEYS_PREVIOUS: z
    .string()
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .refine((keys) => keys.every((k) => /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(k)), 'must be base64url Ed25519 public keys (43 characters each, as the x of GET /api/v1/audit/public-key)')
    .default([]),
  /** Audit chains, each with its own sequencer; more shards, more appends per second. Lowering it later leaves old shards checked. */
  AUDIT_SHARDS: positiveInt.max(256, 'must be at most 256').default(16),
  /** Benchmarks only: record no audit events (refused in production). */
  AUDIT_DISABLED: bool.default(false),
  TRANSCRIPTION_ENGINE: z.enum(['workers-ai', 'ffmpeg'], { message: 'must be workers-ai or ffmpeg' }).optional(),
});

type Parsed = z.output<typeof schema>;

/** Settings after defaults are applied: secrets are always present. */
export type Config = Omit<Parsed, 'MASTER_ENCRYPTION_KEY' | 'JWT_SECRET' | 'API_KEYS' | 'WEBHOOK_SECRET' | 'FFMPEG_SHARED_SECRET' | 'AUDIT_SIGNING_KEY' | 'TRANSCRIPTION_ENGINE'> & {
  /** Workers AI (Whisper) in production unless set; the FFmpeg server's PocketSphinx elsewhere. */
  TRANSCRIPTION_ENGINE: 'workers-ai' | 'ffmpeg';
  MASTER_ENCRYPTION_KEY: string;
  JWT_SECRET: string;
  API_KEYS: string[];
  WEBHOOK_SECRET: string;
  FFMPEG_SHARED_SECRET: string;
  AUDIT_SIGNING_KEY: string;
  /** Names of the secrets that fell back to development defaults (logged as a warning). */
  usingDevDefaults: string[];
};

/** Thrown for any invalid setting; the message names the variable and never echoes its value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.variable = variable;
  }
}

const REQUIRED_SECRETS = ['MASTER_ENCRYPTION_KEY', 'JWT_SECRET', 'API_KEYS', 'WEBHOOK_SECRET', 'FFMPEG_SHARED_SECRET', 'AUDIT_SIGNING_KEY'] as const;

/** Parse settings from a Worker `env` (or from `process.env`-like records in scripts). */
export function parseConfig(env: Record<string, unknown>): Config {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (typeof value === 'string' && value.trim() !== '') input[key] = value.trim();
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'configuration'), issue.message);
  }
  const parsed = result.data;
  const usingDevDefaults: string[] = [];
  const secrets: Record<string, unknown> = {};
  for (const name of REQUIRED_SECRETS) {
    if (parsed[name] !== undefined) continue;
    if (parsed.ENVIRONMENT === 'production') throw new ConfigError(name, 'is required in production');
    usingDevDefaults.push(name);
    secrets[name] = name === 'API_KEYS' ? [DEV_DEFAULTS.API_KEYS] : DEV_DEFAULTS[name];
  }
  if (parsed.AUDIT_DISABLED && parsed.ENVIRONMENT === 'production') throw new ConfigError('AUDIT_DISABLED', 'is not allowed in production');
  if (parsed.STORAGE_PROVIDER === 's3') {
    for (const name of ['AWS_REGION', 'AWS_BUCKET_NAME', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const) {
      if (!parsed[name]) throw new ConfigError(name, 'is required when STORAGE_PROVIDER is s3');
    }
  }
  if (parsed.STORAGE_PROVIDER === 'azure') {
    for (const name of ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_CONTAINER_NAME'] as const) {
      if (!parsed[name]) throw new ConfigError(name, 'is required when STORAGE_PROVIDER is azure');
    }
    try {
      parseConnectionString(parsed.AZURE_STORAGE_CONNECTION_STRING!);
    } catch (error) {
      if (error instanceof InvalidConnectionString) throw new ConfigError('AZURE_STORAGE_CONNECTION_STRING', error.reason);
      throw error;
    }
    if (!isValidContainerName(parsed.AZURE_CONTAINER_NAME!)) throw new ConfigError('AZURE_CONTAINER_NAME', CONTAINER_NAME_RULE);
  }
  if (parsed.JWT_JWKS_URL !== undefined) {
    // A JWKS issuer signs tokens for many services: without both checks, a token it issued for any
    // of them would be accepted here.
    if (new URL(parsed.JWT_JWKS_URL).protocol !== 'https:') throw new ConfigError('JWT_JWKS_URL', 'must be an https: URL');
    for (const name of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
      if (!parsed[name]) throw new ConfigError(name, 'is required when JWT_JWKS_URL is set');
    }
  }
  if (parsed.ARCHIVAL_AFTER_DAYS > parsed.COLD_AFTER_DAYS || parsed.COLD_AFTER_DAYS > parsed.ARCHIVE_AFTER_DAYS) {
    throw new ConfigError('ARCHIVAL_AFTER_DAYS', 'must not exceed COLD_AFTER_DAYS, which must not exceed ARCHIVE_AFTER_DAYS');
  }
  const TRANSCRIPTION_ENGINE = parsed.TRANSCRIPTION_ENGINE ?? (parsed.ENVIRONMENT === 'production' ? 'workers-ai' : 'ffmpeg');
  return { ...parsed, ...secrets, TRANSCRIPTION_ENGINE, usingDevDefaults } as Config;
}

const cache = new WeakMap<object, Config>();

/** Settings for this isolate's `env`, parsed on first use and cached. */
export function getConfig(env: object): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env as Record<string, unknown>);
    cache.set(env, config);
  }
  return config;
}
