// Builds the interactive API reference into dist/docs/: Swagger UI from npm
// (swagger-ui-dist, pinned in package-lock.json) reading /openapi.json. The
// server embeds it like the dashboard and serves it at /docs.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('..', import.meta.url).pathname;
const from = join(here, 'node_modules', 'swagger-ui-dist');
const to = join(here, 'dist', 'docs');
mkdirSync(to, { recursive: true });
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png']) copyFileSync(join(from, file), join(to, file));
writeFileSync(
  join(to, 'docs.js'),
  `// Points Swagger UI at this server's own OpenAPI document; no online validator.
window.addEventListener('load', () => {
  window.SwaggerUIBundle({ url: '/openapi.json', dom_id: '#api', deepLinking: true, validatorUrl: null, tryItOutEnabled: true });
});
`,
);
writeFileSync(
  join(to, 'index.html'),
  `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>shoppulse API reference</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <style>body { margin: 0 } .back { font: 14px system-ui, sans-serif; padding: 8px 16px; display: block }</style>
</head>
<body>
  <a class="back" href="/dashboard/">← shoppulse dashboard</a>
  <div id="api"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/docs.js"></script>
</body>
</html>
`,
);
console.log('API reference written to dist/docs/');
