/**
 * Scenario 3: schedule latency, from the commit that makes a task ready to the moment a worker
 * holds it; idle (one at a time) and under background load at half of the side's own peak.
 */
import type { Scenario } from '../lib/harness';
import { arrivals, serialProbes } from '../lib/load';
import { summary } from '../lib/stats';
import { bullmq, graphile, oursBuiltIn, oursRemote, type System } from '../lib/systems';
import { peaks } from './throughput';

/** Used when scenario 1 did not run first (`--only 3`). */
const FALLBACK_PEAK = 400;

export const latency: Scenario = {
  id: '3',
  title: 'Schedule latency (ready → held by a worker)',
  metrics: [
    { key: 'idleP50', label: 'idle p50', unit: 'ms', better: 'lower' },
    { key: 'idleP99', label: 'idle p99', unit: 'ms', better: 'lower' },
    { key: 'idleMax', label: 'idle max', unit: 'ms', better: 'lower' },
    { key: 'loadP50', label: 'at half peak p50', unit: 'ms', better: 'lower' },
    { key: 'loadP99', label: 'at half peak p99', unit: 'ms', better: 'lower' },
    { key: 'loadMax', label: 'at half peak max', unit: 'ms', better: 'lower' },
  ],
  sides: (ctx) =>
    [oursBuiltIn, oursRemote(1), graphile(false), bullmq].map((system: System) => ({
      name: system.name,
      role: system.role,
      settings: { ...system.settings, backgroundLoad: 'half of the side’s scenario-1 drain rate' },
      async sample() {
        const r = await system.open(ctx, 'single');
        try {
          await r.go();
          await serialProbes(r, 10, 0); // warm-up
          const idle = summary((await serialProbes(r, ctx.scale(300, 40), 5)).pick);
          const rate = Math.round((peaks.get(system.name) ?? FALLBACK_PEAK) / 2);
          const seconds = ctx.scale(6, 1.5);
          const background = arrivals(r, rate, seconds);
          await new Promise((res) => setTimeout(res, 300));
          const loaded = summary((await serialProbes(r, ctx.scale(150, 20), Math.max(0, (seconds * 1000 - 600) / ctx.scale(150, 20) - 2))).pick);
          await background;
          return { idleP50: idle.p50, idleP99: idle.p99, idleMax: idle.max, loadP50: loaded.p50, loadP99: loaded.p99, loadMax: loaded.max };
        } finally {
          await r.close();
        }
      },
    })),
};
