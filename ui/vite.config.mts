import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is static files the conductor serves at /ui (src/http/console.ts): everything is
// bundled (no CDN), with no inline script, so the page runs under `script-src 'self'`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  plugins: [react()],
  // `npx vite -c ui/vite.config.mts`: the console with hot reload, its API calls sent on to a
  // conductor (MAESTRO_URL, default http://127.0.0.1:4000). The Host header is passed as is
  // (localhost:5173), which a development conductor accepts, and matches the page's Origin.
  server: {
    proxy: { '/graphql': { target: process.env['MAESTRO_URL'] ?? 'http://127.0.0.1:4000', ws: true } },
  },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // Vite's preload helper would otherwise be the only thing needing a polyfill; every browser
    // the console targets has modulepreload.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1024,
  },
});
