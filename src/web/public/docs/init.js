// Starts Swagger UI on this service's own OpenAPI document. A file, not an inline script, so that
// the /docs page's Content-Security-Policy can allow scripts from this origin only.
window.addEventListener('load', () => {
  const root = document.getElementById('swagger-ui');
  window.ui = window.SwaggerUIBundle({ url: root.dataset.openapiUrl, domNode: root, deepLinking: true, validatorUrl: null });
});
