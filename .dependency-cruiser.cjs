/**
 * The direction of dependencies, checked by test/node/dependency-rules.test.ts (and by hand with
 * `npx depcruise src durable-objects`). Layers, top to bottom; a module may import its own layer
 * and any layer below it, never one above:
 *
 *   entry     src/index.ts, src/app.ts, durable-objects/       what the runtime calls
 *   http      src/routes/, src/context.ts,                      Hono: parse, principal, one service call, response
 *             src/auth/middleware.ts, src/auth/rate-limit.ts
 *   service   src/{recordings,live,media,compliance,transcripts,auth,observability}/
 *                                                              plain functions: no Hono Context
 *   infra     src/{crypto,storage,db}/                         keys and ciphers, blobs, SQL
 *   base      src/config.ts, src/errors.ts, src/azure-connection.ts
 *
 * Leaves may be imported from any layer and import only leaves and base: src/encoding.ts,
 * src/domain/ (shapes and contracts shared across layers: the media queue's messages are
 * src/domain/media-jobs.ts), and src/observability/logger.ts
 * (the media queue's message contract, which every producer sends).
 *
 * Inside the service layer compliance does not import media (media reports to compliance: audit,
 * webhooks, tiering; compliance reaches media only through the queue contract). Routes do not
 * import src/db/: route → service → db. SQL lives in src/db/ only: nothing else imports drizzle-orm
 * (raw D1 calls are found by a scan in test/node/dependency-rules.test.ts). No import cycle anywhere, type-only imports
 * included (`tsPreCompilationDeps`). src/web/ is the browser app, a separate program: it and the
 * Worker import nothing of each other.
 */
const ENTRY = '^(src/(index|app)\\.ts$|durable-objects/)';
const HTTP = '^src/(routes/|context\\.ts$|auth/(middleware|rate-limit)\\.ts$)';
const SERVICE = '^src/(recordings|live|media|compliance|transcripts|auth|observability)/';
const INFRA = '^src/(crypto|storage|db)/';
const BASE = '^src/(config|errors|azure-connection)\\.ts$';
const LEAF = '^src/(encoding\\.ts$|domain/|observability/logger\\.ts$)';

/**
 * No module that `from` matches imports `layer`. A leaf that sits inside a layer's folder
 * (src/observability/logger.ts) stays importable from anywhere.
 */
function layerRule(name, comment, from, layer) {
  return { name, severity: 'error', comment, from, to: { path: layer, pathNot: LEAF } };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: the modules cannot be understood, tested or loaded one without the other.',
      from: {},
      to: { circular: true },
    },
    layerRule(
      'not-to-entry',
      'Only entry points import entry points (the Worker and the Durable Object classes). A service that calls a Durable Object types its stub with the RPC interface it declares, which the class implements.',
      { pathNot: ENTRY },
      ENTRY,
    ),
    layerRule(
      'http-only-from-entry',
      'The HTTP layer (routes, the request context, Hono middleware) is imported by entry points and itself only: services take plain arguments.',
      { pathNot: [ENTRY, HTTP] },
      HTTP,
    ),
    layerRule('services-only-from-above', 'crypto, storage, db, config, errors and the leaves do not import services.', { path: [INFRA, BASE, LEAF] }, SERVICE),
    layerRule('infra-only-from-above', 'config, errors and the leaves do not import crypto, storage or db.', { path: [BASE, LEAF] }, INFRA),
    {
      name: 'leaves-import-leaves',
      severity: 'error',
      comment: 'A leaf is importable from anywhere because it imports nothing but leaves and base.',
      from: { path: LEAF },
      to: { path: '^(src|durable-objects)/', pathNot: [LEAF, BASE] },
    },
    {
      name: 'compliance-not-to-media',
      severity: 'error',
      comment: 'media depends on compliance (audit, webhooks, tiering); compliance reaches media only through the queue contract src/domain/media-jobs.ts.',
      from: { path: '^src/compliance/' },
      to: { path: '^src/media/' },
    },
    {
      name: 'routes-not-to-db',
      severity: 'error',
      comment: 'route → service → db: a route calls one service function, which reads and writes through src/db/ (type-only imports count: a route names what its service returns).',
      from: { path: '^src/routes/' },
      to: { path: '^src/db/' },
    },
    {
      name: 'sql-only-in-db',
      severity: 'error',
      comment: 'All SQL is in src/db/: no other module imports drizzle-orm or builds a query. Raw D1 calls (prepare, batch, exec with SQL) are calls, not imports: test/node/dependency-rules.test.ts scans for them.',
      from: { pathNot: '^src/db/' },
      to: { path: '(^|/)node_modules/drizzle-orm/' },
    },
    {
      name: 'web-apart',
      severity: 'error',
      comment: 'src/web/ is the browser app, built by Vite and speaking to the Worker over HTTP only: neither imports the other.',
      from: { path: '^src/web/' },
      to: { path: '^(src|durable-objects)/', pathNot: '^src/web/' },
    },
    {
      name: 'worker-not-to-web',
      severity: 'error',
      comment: 'The Worker serves src/web/ as built assets, never as modules.',
      from: { path: '^(src|durable-objects)/', pathNot: '^src/web/' },
      to: { path: '^src/web/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve hides a dependency from every other rule.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    // Workers runtime modules (cloudflare:workers, cloudflare:test) are the platform's, like node: ones.
    builtInModules: { add: ['cloudflare:workers', 'cloudflare:test', 'cloudflare:sockets', 'cloudflare:email'] },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
