/** Scenario 4: a 10-step linear DAG of no-op steps; the handler time is nil, so latency/10 is the per-step overhead. */
import type { Scenario } from '../lib/harness';
import { serialProbes } from '../lib/load';
import { summary } from '../lib/stats';
import { graphile, oursBuiltIn, type System } from '../lib/systems';

const CONCURRENT = 100;

export const dag: Scenario = {
  id: '4',
  title: '10-step linear DAG',
  metrics: [
    { key: 'serialP50', label: 'serial run p50', unit: 'ms', better: 'lower' },
    { key: 'serialP99', label: 'serial run p99', unit: 'ms', better: 'lower' },
    { key: 'stepOverhead', label: 'per-step overhead (serial p50 / 10)', unit: 'ms', better: 'lower' },
    { key: 'concP50', label: `${CONCURRENT} concurrent runs p50`, unit: 'ms', better: 'lower' },
    { key: 'concP99', label: `${CONCURRENT} concurrent runs p99`, unit: 'ms', better: 'lower' },
  ],
  sides: (ctx) =>
    [oursBuiltIn, graphile(false)].map((system: System) => ({
      name: system.name === oursBuiltIn.name ? system.name : `${system.name} chain`,
      role: system.role,
      settings: { ...system.settings, steps: 10, handler: 'no-op' },
      async sample() {
        const r = await system.open(ctx, 'chain10');
        try {
          await r.go();
          await serialProbes(r, 5, 0); // warm-up
          const serial = summary((await serialProbes(r, ctx.scale(100, 15), 0)).finish);
          const concurrent: number[] = [];
          for (let wave = 0; wave < ctx.scale(3, 1); wave++) {
            await Promise.all(
              Array.from({ length: CONCURRENT }, async () => {
                const sent = performance.now();
                const s = await r.submit();
                concurrent.push((await s.finished) - sent);
              }),
            );
          }
          const conc = summary(concurrent);
          return { serialP50: serial.p50, serialP99: serial.p99, stepOverhead: serial.p50 / 10, concP50: conc.p50, concP99: conc.p99 };
        } finally {
          await r.close();
        }
      },
    })),
};
