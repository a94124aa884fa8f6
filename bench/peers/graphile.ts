/**
 * graphile-worker, the Postgres job queue users would pick instead: same Postgres server, a
 * database of its own per sample. "batched" is its documented high-throughput setup (local
 * queue, completions batched with completeJobBatchDelay 0); "unbatched" its defaults.
 */
import { Logger, makeWorkerUtils, run, type Runner, type Task, type WorkerUtils } from 'graphile-worker';
import type { BenchContext } from '../lib/harness';
import { createBenchDatabase, packageVersion, type BenchDatabase } from '../lib/services';

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
    ...(o.batched ? { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : { localQueue: 'off', completeJobBatchDelay: 'off' }),
    pollInterval: 2000,
    preparedStatements: true,
  };
}

export interface Graphile {
  utils: WorkerUtils;
  /** Starts the worker pool with these tasks. */
  start(tasks: Record<string, Task>): Promise<Runner>;
  close(): Promise<void>;
}

export async function startGraphile(ctx: BenchContext, o: GraphileOptions): Promise<Graphile> {
  const db: BenchDatabase = await createBenchDatabase(ctx.postgresUrl);
  const utils = await makeWorkerUtils({ connectionString: db.url });
  await utils.migrate();
  let runner: Runner | null = null;
  return {
    utils,
    async start(tasks) {
      runner = await run({
        connectionString: db.url,
        concurrency: o.concurrency,
        maxPoolSize: POOL_SIZE,
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
    async close() {
      if (runner) await runner.stop();
      await utils.release();
      await db.drop();
    },
  };
}

