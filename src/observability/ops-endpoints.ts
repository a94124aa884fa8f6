import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from 'express';
import { coerceError } from '../domain/errors';
import type { Metrics } from './metrics';

export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

/**
 * Runs one dependency check (a ping) with its own timeout (READINESS_TIMEOUT_MS, 500 ms by
 * default); never throws. A Redis that drops mid-flight leaves ioredis retrying the ping: the
 * probe answers at the timeout instead of waiting for it.
 */
export async function check(name: string, fn: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      }),
    ]);
    return { name, ok: true };
  } catch (e: unknown) {
    return { name, ok: false, error: coerceError(e).message };
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthEndpointsOptions {
  /** What `/readyz` checks, by name, in this order. */
  readiness: Record<string, () => Promise<void>>;
  /** False once the replica drains: `/readyz` then answers 503 so no new work is routed here. */
  accepting: () => boolean;
  /** Per check. @default 500 */
  timeoutMs: number;
}

/**
 * The probes beside `/graphql`, on the API port (where the kubelet and load balancers look):
 * `/healthz` (the process answers) and `/readyz` (its dependencies answer and it is not
 * draining). Metrics are not here: they have a port of their own ({@link startMetricsServer}).
 */
export function healthEndpoints(opts: HealthEndpointsOptions): Router {
  const { readiness, accepting, timeoutMs } = opts;
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = await Promise.all(Object.entries(readiness).map(([name, fn]) => check(name, fn, timeoutMs)));
    const failing = checks.filter((c) => !c.ok);
    if (!accepting()) failing.push({ name: 'shutdown', ok: false, error: 'draining' });
    res.status(failing.length ? 503 : 200).json({
      status: failing.length ? 'unavailable' : 'ready',
      checks: Object.fromEntries(checks.map((c) => [c.name, c.ok ? 'ok' : c.error])),
      ...(failing.length ? { failing: failing.map((c) => c.name) } : {}),
    });
  });
  return router;
}

/** What start-up is waiting for, by dependency: `/readyz` shows it until the app is built. */
export type StartingState = Record<string, string>;

/**
 * The API port's handler while start-up waits for its dependencies (STARTUP_WAIT_MS): `/healthz`
 * answers 200 (the process is alive: no restart), `/readyz` 503 naming what it waits for, and
 * everything else 503 `UNAVAILABLE` with a Retry-After, as GraphQL JSON.
 */
export function startingHandler(state: () => StartingState): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return json(200, { status: 'ok' });
    const waiting = state();
    if (path === '/readyz') return json(503, { status: 'starting', checks: waiting, failing: Object.keys(waiting) });
    const what = Object.keys(waiting).join(' and ') || 'start-up';
    json(
      503,
      { errors: [{ message: `The conductor is starting: waiting for ${what}. Retry shortly.`, extensions: { code: 'UNAVAILABLE' } }] },
      { 'retry-after': '2' },
    );
  };
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `GET /metrics` on a listener of its own (METRICS_PORT, bound on HOST): the API port is the one
 * tenants and their `http` steps reach, and metrics name every tenant's workflows and queues.
 * The chart's Service exposes it as port `metrics` for the ServiceMonitor only.
 */
export async function startMetricsServer(opts: { metrics: Metrics; host: string; port: number }): Promise<MetricsServer> {
  const { registry } = opts.metrics;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Not found: metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`collecting metrics failed: ${coerceError(e).message}\n`);
      },
    );
  });
  // A scrape is short; idle keep-alive sockets must not hold close() up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
