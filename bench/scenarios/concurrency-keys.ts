/**
 * Scenario 9: claims under a concurrency-key limit. 1,000 keys with 5 runs each (100 × 3 under
 * --quick), at most one in flight per key, preloaded then drained: ours as one-step runs of a
 * workflow with `concurrency: { key: "input.k", max: 1 }` (each run's admission waits for the one
 * before it of its key, and happens in the transaction that ends that one), graphile-worker's as jobs in one
 * named queue per key (its named queues run serially).
 *
 * Both sides also report the most items of one key ever seen in flight at once (must be 1): a
 * drain that broke the limit would not count.
 */
import type { Scenario, Side } from '../lib/harness';
import { maestroSettings, startMaestro } from '../lib/maestro';
import { pool } from '../lib/stats';
import { CONCURRENCY } from '../lib/systems';
import { graphileSettings, startGraphile } from '../peers/graphile';

const shape = (ctx: { scale: (full: number, small: number) => number }) => ({ keys: ctx.scale(1_000, 100), perKey: ctx.scale(5, 3) });

/** Counts items in flight per key; `max` is the most of one key at once. */
class PerKey {
  private readonly inFlight = new Map<string, number>();
  max = 0;
  done = 0;
  private waiter: { n: number; resolve: () => void } | null = null;

  start(key: string): void {
    const n = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, n);
    this.max = Math.max(this.max, n);
  }

  end(key: string): void {
    this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1);
    this.done++;
    if (this.waiter && this.done >= this.waiter.n) this.waiter.resolve();
  }

  until(n: number): Promise<void> {
    return this.done >= n ? Promise.resolve() : new Promise((resolve) => (this.waiter = { n, resolve }));
  }
}

const ours: Side = {
  name: 'maestro (concurrency key, max 1)',
  role: 'ours',
  settings: { ...maestroSettings(), workflow: 'one noop step, concurrency { key: "input.k", max: 1, strategy: QUEUE }' },
  async sample(ctx) {
    const { keys, perKey } = shape(ctx);
    const total = keys * perKey;
    const m = await startMaestro(ctx, { paused: true });
    try {
      await m.register({ name: 'bench-keys', concurrency: { key: 'input.k', max: 1 }, steps: [{ key: 'a', type: 'noop' }] });
      const keyOf = new Map<string, string>();
      const seen = new PerKey();
      // In flight from its step's claim to its end. A run that ends admits its key's next run in
      // the same transaction, whose step can be claimed in it too: the hooks of one commit come
      // in one synchronous burst (claims before ends), so a claim counts once that burst is over.
      m.app.hooks.on('task:claimed', (e) => {
        const k = keyOf.get(e.runId);
        if (k !== undefined) queueMicrotask(() => seen.start(k));
      });
      m.app.hooks.on('run:finished', (e) => {
        const k = keyOf.get(e.runId);
        if (k !== undefined) seen.end(k);
      });
      // Round by round (every key's first run, then every key's second …), 32 starts at a time.
      const order = Array.from({ length: total }, (_, i) => `k${i % keys}`);
      await pool(order, 32, async (k) => keyOf.set(await m.start('bench-keys', { k }), k));
      const t0 = performance.now();
      await m.app.scheduler.start();
      await seen.until(total);
      const ms = performance.now() - t0;
      ctx.progress(`    maestro: ${total} runs over ${keys} keys in ${ms.toFixed(0)} ms, at most ${seen.max} of a key in flight`);
      return { perS: (total * 1000) / ms, maxPerKey: seen.max };
    } finally {
      await m.close();
    }
  },
};

const graphile: Side = {
  name: 'graphile-worker batched (a named queue per key)',
  role: 'peer',
  settings: { ...graphileSettings({ batched: true, concurrency: CONCURRENCY }), jobs: 'noop, queueName = the key' },
  async sample(ctx) {
    const { keys, perKey } = shape(ctx);
    const total = keys * perKey;
    const g = await startGraphile(ctx, { batched: true, concurrency: CONCURRENCY });
    try {
      const seen = new PerKey();
      const jobs = Array.from({ length: total }, (_, i) => ({ identifier: 'noop', queueName: `k${i % keys}`, payload: { k: `k${i % keys}` } }));
      for (let i = 0; i < jobs.length; i += 1000) await g.utils.addJobs(jobs.slice(i, i + 1000));
      const t0 = performance.now();
      await g.start({
        noop: async (payload) => {
          const { k } = payload as { k: string };
          seen.start(k);
          // A turn of the event loop in flight, so an overlap of one key's jobs would be seen.
          await new Promise((r) => setImmediate(r));
          seen.end(k);
        },
      });
      await seen.until(total);
      const ms = performance.now() - t0;
      ctx.progress(`    graphile-worker: ${total} jobs over ${keys} queues in ${ms.toFixed(0)} ms, at most ${seen.max} of a queue in flight`);
      return { perS: (total * 1000) / ms, maxPerKey: seen.max };
    } finally {
      await g.close();
    }
  },
};

export const concurrencyKeys: Scenario = {
  id: '9',
  title: 'Claims under a concurrency-key limit (1,000 keys × 5 items, max 1 in flight per key)',
  metrics: [
    { key: 'perS', label: 'drain', unit: 'items/s', better: 'higher' },
    { key: 'maxPerKey', label: 'most of one key in flight', unit: 'items', better: 'lower' },
  ],
  sides: () => [ours, graphile],
};
