/**
 * Scenario 8: one forEach fan-out of 10,000 no-op items (1,000 under --quick), from startRun to
 * the run's SUCCEEDED (all item outputs gathered in order), against the same work as 10,000
 * graphile-worker jobs added in one `addJobs` call, until the last handler returned.
 *
 * Ours fans out inside the transition that starts the run (one insert of 10,001 task rows) and
 * gathers the outputs in the transition that ends the last item; graphile-worker does no
 * fan-in, so the comparison leans towards it.
 */
import type { Scenario, Side } from '../lib/harness';
import { maestroSettings, startMaestro } from '../lib/maestro';
import { CONCURRENCY } from '../lib/systems';
import { graphileSettings, startGraphile } from '../peers/graphile';

function items(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

const ours: Side = {
  name: 'maestro (one forEach run)',
  role: 'ours',
  settings: { ...maestroSettings(), step: 'noop, forEach over input.items, no maxConcurrency' },
  async sample(ctx) {
    const n = ctx.scale(10_000, 1_000);
    const m = await startMaestro(ctx);
    try {
      await m.register({ name: 'bench-foreach', steps: [{ key: 'each', type: 'noop', forEach: '{{ input.items }}', input: '{{ item }}' }] });
      const list = items(n);
      const t0 = performance.now();
      const id = await m.start('bench-foreach', { items: list });
      const end = await m.finished(id);
      if (end.status !== 'SUCCEEDED') throw new Error(`the forEach run ended ${end.status}`);
      const ms = end.at - t0;
      ctx.progress(`    maestro: ${n} items in ${ms.toFixed(0)} ms`);
      return { totalMs: ms, itemsPerS: (n * 1000) / ms };
    } finally {
      await m.close();
    }
  },
};

const graphile: Side = {
  name: 'graphile-worker batched (jobs)',
  role: 'peer',
  settings: { ...graphileSettings({ batched: true, concurrency: CONCURRENCY }), jobs: 'one addJobs call of all items' },
  async sample(ctx) {
    const n = ctx.scale(10_000, 1_000);
    const g = await startGraphile(ctx, { batched: true, concurrency: CONCURRENCY });
    try {
      let done = 0;
      let finish: (t: number) => void = () => undefined;
      const finished = new Promise<number>((resolve) => (finish = resolve));
      await g.start({
        item: () => {
          if (++done === n) finish(performance.now());
        },
      });
      const t0 = performance.now();
      await g.utils.addJobs(items(n).map((i) => ({ identifier: 'item', payload: { i } })));
      const ms = (await finished) - t0;
      ctx.progress(`    graphile-worker: ${n} jobs in ${ms.toFixed(0)} ms`);
      return { totalMs: ms, itemsPerS: (n * 1000) / ms };
    } finally {
      await g.close();
    }
  },
};

export const forEachFanOut: Scenario = {
  id: '8',
  title: 'forEach fan-out: one run of 10,000 items vs 10,000 jobs',
  metrics: [
    { key: 'totalMs', label: 'start to last item done (ours: run SUCCEEDED, outputs gathered)', unit: 'ms', better: 'lower' },
    { key: 'itemsPerS', label: 'items per second', unit: 'items/s', better: 'higher' },
  ],
  sides: () => [ours, graphile],
};
