/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The C++ server serves dist/ by exact path: index.html at /dashboard/ and
// /index.html, hashed files under /assets/ (immutable). Hence base '/'.
// Dev server only (npm run dev): proxy the API to a running shoppulse.
const backend = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.SHOPPULSE_DEV_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2020',
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});
