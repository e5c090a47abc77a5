/**
 * `GET /docs`: Swagger UI for the OpenAPI document, every file from this origin. The build copies
 * swagger-ui-dist (the version pinned in package.json) into the static assets under /docs/, so no
 * CDN can change the script that runs next to the API; the page's CSP allows nothing else.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { createRouter } from './router';

export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Call Recorder API</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui" data-openapi-url="/api/v1/openapi.json"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

export const docsRoutes = createRouter();

docsRoutes.openapi(
  createRoute({
    method: 'get',
    path: '/docs',
    tags: ['operations'],
    summary: 'Swagger UI for this document (scripts from this origin only)',
    responses: { 200: { content: { 'text/html': { schema: z.string() } }, description: 'The page' } },
  }),
  (c) => c.html(PAGE, 200, { 'content-security-policy': DOCS_CSP }),
);
