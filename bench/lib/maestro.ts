/** Our side of every scenario: a conductor in this process, on a database of its own. */
import 'reflect-metadata';
import { createApp, type App } from '../../src/app';
import { loadConfig, type Env } from '../../src/config';
import type { Json, WorkflowDraft } from '../../src/domain/glossary';
import { createLogger } from '../../src/observability/logger';
import { benchPrefix, createBenchDatabase, dropRedisPrefix } from './services';
import type { BenchContext } from './harness';

export const TENANT = 'default';
/** Scenario 7's tenants: A floods, B probes. */
export const NOISY_TENANT = 'tenant-noisy';
export const QUIET_TENANT = 'tenant-quiet';

export interface Maestro {
  app: App;
  env: Env;
  register(draft: WorkflowDraft): Promise<void>;
  /** Starts a run the way the API does (its transaction commits before this resolves). */
  start(workflow: string, input?: Json): Promise<string>;
  /** Resolves with the run's end (committed), by id; register before starting to miss nothing. */
  finished(runId: string): Promise<{ status: string; at: number }>;
  close(): Promise<void>;
}

/** Our settings, reported beside the peers'. */
export function maestroSettings(env: Env = {}): Record<string, unknown> {
  const config = loadConfig({ DATABASE_URL: 'postgres://x/y', REDIS_URL: 'redis://x', ...env });
  return {
    dispatchConcurrency: config.dispatchConcurrency,
    databasePoolSize: config.databasePoolSize,
    claimBatch: 100,
    resultGroupCommit: 'up to 100 per transaction, ≤ 4 in flight',
    leaseTtlMs: config.leaseTtlMs,
    logs: 'silent',
    tracing: 'off',
  };
}

export async function startMaestro(ctx: BenchContext, opts: { env?: Env; paused?: boolean } = {}): Promise<Maestro> {
  const db = await createBenchDatabase(ctx.postgresUrl);
  const env: Env = {
    NODE_ENV: 'test',
    PORT: '0',
    METRICS_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: ctx.redisUrl,
    REDIS_KEY_PREFIX: benchPrefix('maestro'),
    MAESTRO_DATA_DIR: 'memory://',
    ...opts.env,
  };
  const app = await createApp(loadConfig(env), { paused: opts.paused, logger: createLogger({ level: 'silent' }) });
  const waiting = new Map<string, (v: { status: string; at: number }) => void>();
  const early = new Map<string, { status: string; at: number }>();
  app.hooks.on('run:finished', (e) => {
    const end = { status: e.status, at: performance.now() };
    const w = waiting.get(e.runId);
    if (w) {
      waiting.delete(e.runId);
      w(end);
    } else early.set(e.runId, end);
  });
  return {
    app,
    env,
    async register(draft) {
      await app.services.workflows.register(TENANT, draft);
    },
    async start(workflow, input) {
      return (await app.services.runs.start(TENANT, { workflow, input })).id;
    },
    finished(runId) {
      const done = early.get(runId);
      if (done) {
        early.delete(runId);
        return Promise.resolve(done);
      }
      return new Promise((resolve) => waiting.set(runId, resolve));
    },
    async close() {
      await app.stop();
      await db.drop();
      if (env.REDIS_URL && env.REDIS_KEY_PREFIX) await dropRedisPrefix(env.REDIS_URL, env.REDIS_KEY_PREFIX);
    },
  };
}
