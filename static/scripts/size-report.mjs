// Prints raw and gzip sizes of the built assets (the JS budget is 400 KB gzip).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
let jsGzip = 0;
let totalGzip = 0;
const rows = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else {
      const buf = readFileSync(p);
      const gz = gzipSync(buf, { level: 9 }).length;
      // The API reference under docs/ is a separate page, outside the dashboard's budget.
      const rel = p.slice(dist.length);
      if (!rel.startsWith('docs/')) {
        totalGzip += gz;
        if (p.endsWith('.js')) jsGzip += gz;
      }
      rows.push([p.slice(dist.length), buf.length, gz]);
    }
  }
}
walk(dist);
for (const [p, raw, gz] of rows) console.log(`${p.padEnd(40)} ${(raw / 1024).toFixed(1).padStart(8)} KB  gzip ${(gz / 1024).toFixed(1).padStart(7)} KB`);
console.log(`dashboard JS gzip total: ${(jsGzip / 1024).toFixed(1)} KB (budget 400 KB); dashboard assets gzip: ${(totalGzip / 1024).toFixed(1)} KB (docs/ not counted)`);
if (jsGzip > 400 * 1024) {
  console.error('JS over budget');
  process.exit(1);
}
