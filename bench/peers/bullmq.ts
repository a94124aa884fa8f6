/**
 * BullMQ, the Redis job queue users would pick instead: same Redis, a key prefix of its own per
 * sample (deleted afterwards).
 */
import { Queue, Worker, type Job, type Processor } from 'bullmq';
import type { BenchContext } from '../lib/harness';
import { benchPrefix, dropRedisPrefix, packageVersion } from '../lib/services';

export function bullmqSettings(concurrency: number): Record<string, unknown> {
  return { version: packageVersion('bullmq'), concurrency, removeOnComplete: true, addBulkChunk: 1000 };
}

export interface Bull {
  queue: Queue;
  start(processor: Processor): Worker;
  close(): Promise<void>;
}

export async function startBullmq(ctx: BenchContext, concurrency: number): Promise<Bull> {
  const prefix = benchPrefix('bullmq').slice(0, -1);
  const url = new URL(ctx.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const queue = new Queue('bench', { connection, prefix, defaultJobOptions: { removeOnComplete: true } });
  await queue.waitUntilReady();
  let worker: Worker | null = null;
  return {
    queue,
    start(processor) {
      worker = new Worker('bench', processor, { connection, prefix, concurrency });
      return worker;
    },
    async close() {
      if (worker) await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      // Whatever obliterate left (meta keys): the prefix is ours alone.
      await dropRedisPrefix(ctx.redisUrl, `${prefix}:`);
    },
  };
}

export type { Job };
