import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express, { type RequestHandler, Router } from 'express';
import helmet from 'helmet';

/** Where the web console is served. */
export const CONSOLE_PATH = '/ui';

/**
 * The built console (`npm run build` → dist/ui at the package root), from the server run from
 * source (src/http) or compiled (dist/src/http). Never ui/ itself: that is the source.
 */
export function consoleDir(): string | null {
  for (const dir of [resolve(__dirname, '../../dist/ui'), resolve(__dirname, '../../../dist/ui')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

/**
 * The console's own CSP, whatever the rest of the server sends (Playground needs none): its
 * scripts and styles come from this origin only, with no inline script and no eval; it talks
 * to this origin's /graphql over HTTP and WebSocket ('self' covers ws: and wss: of the same host).
 */
const consoleCsp: RequestHandler = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/**
 * The web console: static files only. It holds no data and no secret: every read and action goes
 * through /graphql with the API key the user typed (kept in the tab's session storage), so serving
 * it to anyone bypasses nothing. Hashed assets are cached for a year; index.html never is, so a
 * new build is picked up at once. Client-side routes (/ui/runs/…) get index.html.
 */
export function consoleRoutes(dir: string | null = consoleDir()): Router {
  const router = Router();
  router.use(consoleCsp);
  if (!dir) {
    router.use((_req, res) => {
      res.status(404).type('text/plain').send('The web console is not built: run `npm run build` (it writes dist/ui), then restart the conductor.\n');
    });
    return router;
  }
  router.use('/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: false }));
  router.use(express.static(dir, { index: false }));
  router.get(/.*/, (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(join(dir, 'index.html'));
  });
  return router;
}
