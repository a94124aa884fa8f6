import type { Express } from 'express';
import helmet from 'helmet';
import type { BrowserAccess } from './browser-access';

/**
 * Headers and checks every HTTP answer gets: helmet's security headers (no CSP while Playground is
 * served: its page runs inline scripts; the console at /ui sets its own strict one), the client address through trusted proxies only, and on
 * the GraphQL path the Host check and CORS allow-list of `browser`.
 */
export function applyHttpHygiene(
  app: Express,
  opts: { browser: BrowserAccess; graphqlPath: string; playground: boolean; trustProxy: number | string | undefined },
): void {
  if (opts.trustProxy !== undefined) app.set('trust proxy', opts.trustProxy);
  app.use(
    helmet({
      contentSecurityPolicy: opts.playground ? false : undefined,
      // Playground loads its own assets and fonts; nothing here is embedded cross-origin.
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use(opts.graphqlPath, opts.browser.hostCheck(), opts.browser.cors());
}
