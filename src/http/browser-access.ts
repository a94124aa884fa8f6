import type { IncomingMessage } from 'node:http';
import cors from 'cors';
import type { RequestHandler } from 'express';

const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** The host name of a `Host` header, lower case, without port or trailing dot. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const h = header.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '') || null;
}

/**
 * What a browser may do with this server. A web page on another site must not drive a
 * developer's conductor: WebSocket upgrades carry no CORS, so their `Origin` is checked here
 * against the same allow-list as CORS (CORS_ORIGINS); same-origin pages (Playground) and
 * non-browser clients (no `Origin`) pass. `Host` is checked outside production (DNS rebinding: a
 * page on evil.example resolving to 127.0.0.1 is same-origin with itself, but its Host names it).
 */
export class BrowserAccess {
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;
  private readonly hosts: Set<string> | null;

  constructor(opts: { corsOrigins: readonly string[]; allowedHosts: readonly string[]; production: boolean }) {
    this.anyOrigin = opts.corsOrigins.includes('*');
    this.origins = new Set(opts.corsOrigins.map((o) => o.toLowerCase()));
    const listed = opts.allowedHosts.map((h) => hostName(h)!).filter(Boolean);
    if (opts.allowedHosts.includes('*') || (opts.production && listed.length === 0)) this.hosts = null;
    else this.hosts = new Set([...listed, ...(opts.production ? [] : LOCAL_HOSTS)]);
  }

  hostAllowed(header: string | undefined): boolean {
    if (!this.hosts) return true;
    const name = hostName(header);
    return name !== null && this.hosts.has(name);
  }

  originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    const o = origin.trim().toLowerCase();
    if (this.anyOrigin || this.origins.has(o)) return true;
    try {
      const url = new URL(o);
      return url.origin !== 'null' && host !== undefined && url.host === host.trim().toLowerCase();
    } catch {
      return false;
    }
  }

  /** Why an upgrade or request is refused, or null. */
  refusal(req: IncomingMessage): string | null {
    if (!this.hostAllowed(req.headers.host)) return `Host "${String(req.headers.host ?? '')}" is not allowed: add it to ALLOWED_HOSTS`;
    if (!this.originAllowed(req.headers.origin, req.headers.host)) {
      return `Origin "${String(req.headers.origin)}" is not allowed: add it to CORS_ORIGINS`;
    }
    return null;
  }

  /** Refuses requests whose Host is not allowed (403, a GraphQL-shaped JSON error). */
  hostCheck(): RequestHandler {
    return (req, res, next) => {
      if (this.hostAllowed(req.headers.host)) return next();
      res
        .status(403)
        .json({ errors: [{ message: `Host "${String(req.headers.host ?? '')}" is not allowed: add it to ALLOWED_HOSTS`, extensions: { code: 'FORBIDDEN' } }] });
    };
  }

  /**
   * CORS for the allow-list: preflights answered (10 min cache), allowed origins echoed; other
   * origins get no CORS headers, so the browser neither sends the JSON POST nor shows its answer.
   */
  cors(): RequestHandler {
    return cors({
      origin: (origin, callback) => callback(null, origin !== undefined && (this.anyOrigin || this.origins.has(origin.toLowerCase()))),
      methods: ['GET', 'POST', 'OPTIONS'],
      maxAge: 600,
    });
  }
}
