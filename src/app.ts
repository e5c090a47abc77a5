/**
 * Builds the Hono app: security headers, request id and logging, metrics, configuration, rate
 * limiting by address, authentication, rate limiting by principal, body limits, the resource
 * routers, the OpenAPI document, and the one error renderer.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { requireAuth } from './auth/middleware';
import { ConfigError, getConfig } from './config';
import type { AppEnv } from './context';
import { createDb } from './db/client';
import { AppError } from './errors';
import { createLogger, describeError } from './observability/logger';
import { flushMetrics, metrics, requestDataPoint } from './observability/metrics';
import { rateLimit, rateLimitByAddress } from './auth/rate-limit';
import { auditRoutes } from './routes/audit';
import { docsRoutes } from './routes/docs';
import { limitRequestBodies } from './routes/body-limit';
import { gdprRoutes } from './routes/gdpr';
import { healthRoutes } from './routes/health';
import { lifecycleRoutes } from './routes/lifecycle';
import { liveRoutes, socketIoRoutes } from './routes/live';
import { permissionRoutes } from './routes/permissions';
import { playbackRoutes, recordingRoutes } from './routes/recordings';
import { redactionRoutes } from './routes/redactions';
import { transcriptRoutes } from './routes/transcripts';
import { webhookRoutes } from './routes/webhooks';
import { createRouter } from './routes/router';
import { StorageUnavailable } from './storage/blob-store';

const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;
/** Signed playback URLs carry their own authorization (the signature). */
const SIGNED_PLAYBACK = /^\/api\/v1\/recordings\/[^/]+\/play$/;
/** The live upgrade authenticates itself; the OpenAPI document and the audit public key are public. */
const PUBLIC_API = new Set(['/api/v1/recordings/live', '/api/v1/openapi.json', '/api/v1/audit/public-key']);
const warned = new WeakSet<object>();

/** Request id (accepted from the caller when well-formed, echoed as a header), logger, timing. */
const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const incoming = c.req.header('x-request-id');
  const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
  c.set('requestId', requestId);
  const level = (['debug', 'info', 'warn', 'error'] as const).find((l) => l === c.env.LOG_LEVEL) ?? 'info';
  c.set('log', createLogger({ requestId }, level));
  const started = performance.now();
  try {
    await next();
  } finally {
    c.header('x-request-id', requestId);
    const route = c.req.routePath && c.req.routePath !== '*' && c.req.routePath !== '/*' ? c.req.routePath : 'unmatched';
    const labels = { route, method: c.req.method, status: String(c.res.status) };
    const seconds = (performance.now() - started) / 1000;
    metrics.requests.inc(labels);
    metrics.duration.observe(labels, seconds);
    c.env.METRICS_EVENTS?.writeDataPoint(requestDataPoint(labels, seconds));
    const log = c.get('log');
    c.executionCtx.waitUntil(flushMetrics(c.env.FLEET_METRICS).catch((error: unknown) => log.warn('metrics hand-over failed; kept for the next', describeError(error))));
    c.get('log').info('request', { method: c.req.method, path: new URL(c.req.url).pathname, status: c.res.status, ms: Math.round(performance.now() - started) });
  }
});

/** Settings parsed once per isolate; a bad value is a logged 500 naming the variable. */
const loadSettings = createMiddleware<AppEnv>(async (c, next) => {
  const config = getConfig(c.env);
  if (config.usingDevDefaults.length > 0 && !warned.has(c.env)) {
    warned.add(c.env);
    c.get('log').warn('using development default secrets: not for production', { variables: config.usingDevDefaults });
  }
  c.set('config', config);
  c.set('db', createDb(c.env.DB));
  await next();
});

/**
 * On every Worker response (the static assets get theirs from src/web/public/_headers): no MIME
 * sniffing, and a CSP that lets a response load and run nothing. A route that serves a page sets
 * its own CSP, which is kept. No Cross-Origin-Resource-Policy: signed playback URLs are meant to be
 * played by `<audio>` elements on other origins.
 */
const securityHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"], frameAncestors: ["'none'"] },
  crossOriginResourcePolicy: false,
  xFrameOptions: 'DENY',
  overwrite: false,
});

export function createApp() {
  const app = new OpenAPIHono<AppEnv>();
  app.use('*', securityHeaders);
  app.use('*', requestContext);
  app.use('*', loadSettings);
  app.use('*', rateLimitByAddress);

  app.route('/', healthRoutes);
  // Socket.IO clients connect to /socket.io/ by default; the route authenticates itself.
  app.route('/', socketIoRoutes);

  const api = createRouter();
  api.use('*', async (c, next) => {
    // Browsers put the live upgrade's token in the query string; the route checks it.
    if (PUBLIC_API.has(c.req.path) || SIGNED_PLAYBACK.test(c.req.path)) return next();
    return requireAuth(c, next);
  });
  api.use('*', rateLimit);
  api.use('*', limitRequestBodies);
  api.route('/', liveRoutes);
  api.route('/', playbackRoutes);
  api.route('/', recordingRoutes);
  api.route('/', transcriptRoutes);
  api.route('/', redactionRoutes);
  api.route('/', permissionRoutes);
  api.route('/', lifecycleRoutes);
  api.route('/', gdprRoutes);
  api.route('/', auditRoutes);
  api.route('/', webhookRoutes);
  app.route('/api/v1', api);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'apiKey', in: 'header', name: 'X-API-Key' });
  app.doc31('/api/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Call Recorder',
      version: '1.0.0',
      description: 'Record calls live to the nearest edge, encrypted; play back with instant seeking; govern retention, legal hold, GDPR and audit.',
    },
  });
  app.route('/', docsRoutes);

  app.notFound((c) => new AppError('not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}`).toResponse());

  app.onError((error, c) => {
    const requestId = c.get('requestId') ?? 'unknown';
    const headers = { 'x-request-id': requestId };
    if (error instanceof AppError) {
      if (error.status >= 500) c.get('log')?.error('request failed', { code: error.code, ...describeError(error) });
      return error.toResponse(headers);
    }
    if (error instanceof HTTPException && error.status < 500) {
      // Hono's own validators (malformed JSON, wrong content type) speak HTTPException.
      const code = error.status === 401 ? 'unauthorized' : error.status === 413 ? 'payload_too_large' : error.status === 415 ? 'unsupported_media_type' : 'invalid_request';
      return new AppError(code, error.message || 'Malformed request').toResponse(headers);
    }
    if (error instanceof StorageUnavailable) {
      c.get('log')?.error('storage unavailable', describeError(error));
      return new AppError('service_unavailable', 'Storage is temporarily unavailable; retry later', { headers: { 'retry-after': '5' } }).toResponse(headers);
    }
    const log = c.get('log') ?? createLogger({ requestId });
    if (error instanceof ConfigError) log.error('configuration invalid', { variable: error.variable, errorMessage: error.message });
    else log.error('unhandled error', describeError(error));
    return new AppError('internal', 'Internal error').toResponse(headers);
  });
  return app;
}
