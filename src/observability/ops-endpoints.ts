import { Router } from 'express';
import { coerceError } from '../domain/errors';
import type { Metrics } from './metrics';

/** Each dependency check gets this long before it counts as failing. */
const CHECK_TIMEOUT_MS = 2_000;

export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** Runs one dependency check (a ping) with a 2 s timeout; never throws. */
export async function check(name: string, fn: () => Promise<void>): Promise<CheckResult> {
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref()),
    ]);
    return { name, ok: true };
  } catch (e: unknown) {
    return { name, ok: false, error: coerceError(e).message };
  }
}

export interface OpsEndpointsOptions {
  metrics: Metrics;
  /** What `/readyz` checks, by name, in this order. */
  readiness: Record<string, () => Promise<void>>;
  /** False once the replica drains: `/readyz` then answers 503 so no new work is routed here. */
  accepting: () => boolean;
}

/**
 * The operator's endpoints beside `/graphql`: `/metrics` (Prometheus text), `/healthz` (the
 * process answers) and `/readyz` (its dependencies answer and it is not draining).
 */
export function opsEndpoints(opts: OpsEndpointsOptions): Router {
  const { metrics, readiness, accepting } = opts;
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType);
    res.end(await metrics.registry.metrics());
  });
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks = await Promise.all(Object.entries(readiness).map(([name, fn]) => check(name, fn)));
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
