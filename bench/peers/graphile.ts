/**
 * graphile-worker, the Postgres job queue users would pick instead: same Postgres server, a
 * database of its own per sample. "batched" is its documented high-throughput setup (local
 * queue, completions batched with completeJobBatchDelay 0); "unbatched" its defaults.
 */
import { Logger, makeWorkerUtils, run, type Runner, type Task, type WorkerUtils } from 'graphile-worker';
import type { BenchContext } from '../lib/harness';
import type { Pool } from 'pg';
import { benchPool, createBenchDatabase, packageVersion, type BenchDatabase } from '../lib/services';

const silentLogger = new Logger(() => () => undefined);

export interface GraphileOptions {
  batched: boolean;
  concurrency: number;
}

/** Same connection budget as ours (DATABASE_POOL_SIZE 10). */
const POOL_SIZE = 10;
const LOCAL_QUEUE_SIZE = 500;

export function graphileSettings(o: GraphileOptions): Record<string, unknown> {
  return {
    version: packageVersion('graphile-worker'),
    concurrentJobs: o.concurrency,
    maxPoolSize: POOL_SIZE,
    ...(o.batched
      ? { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
      : { localQueue: 'off', completeJobBatchDelay: 'off' }),
    pollInterval: 2000,
    preparedStatements: true,
  };
}

export interface Graphile {
  utils: WorkerUtils;
  /** The pools this side owns (graphile-worker's and its utils'), for checks. */
  pools: { utils: Pool; runner: Pool };
  /** Starts the worker pool with these tasks. */
  start(tasks: Record<string, Task>): Promise<Runner>;
  close(): Promise<void>;
}

/**
 * graphile-worker ends only the pools it made itself, and not before `runner.stop()` resolves:
 * given a `connectionString` its idle clients were still open when the database was dropped, and
 * their termination errors went unhandled. So the side owns both pools, and `close` ends them
 * before the drop (which checks that nothing is left).
 */
export async function startGraphile(ctx: BenchContext, o: GraphileOptions): Promise<Graphile> {
  const db: BenchDatabase = await createBenchDatabase(ctx.postgresUrl);
  const pools = { utils: benchPool(db.url, 'bench-graphile-utils', 2), runner: benchPool(db.url, 'bench-graphile-runner', POOL_SIZE) };
  let runner: Runner | null = null;
  let utils: WorkerUtils | null = null;
  const close = async () => {
    try {
      if (runner) await runner.stop();
      if (utils) await utils.release();
    } finally {
      await Promise.all([pools.utils.end(), pools.runner.end()]);
    }
    await db.drop();
  };
  try {
    utils = await makeWorkerUtils({ pgPool: pools.utils, logger: silentLogger });
    await utils.migrate();
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
  const ready = utils;
  return {
    utils: ready,
    pools,
    async start(tasks) {
      runner = await run({
        pgPool: pools.runner,
        concurrency: o.concurrency,
        noHandleSignals: true,
        pollInterval: 2000,
        taskList: tasks,
        logger: silentLogger,
        preset: {
          worker: o.batched ? { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : {},
        },
      });
      return runner;
    },
    close,
  };
}
