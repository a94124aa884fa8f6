/** Scenario 1: one-step workflows on the built-in executor, drained and at a fixed arrival rate. */
import type { Scenario } from '../lib/harness';
import { drain, sustainedRate } from '../lib/load';
import { bullmq, graphile, oursBuiltIn, type System } from '../lib/systems';

export const peaks = new Map<string, number>();

export const throughput: Scenario = {
  id: '1',
  title: 'Throughput, 1-step workflow, built-in executor',
  metrics: [
    { key: 'drain', label: 'drain of pre-submitted items', unit: 'items/s', better: 'higher' },
    { key: 'sustained', label: 'highest arrival rate with p99 < 100 ms', unit: 'items/s', better: 'higher' },
  ],
  sides: (ctx) =>
    [oursBuiltIn, graphile(true), graphile(false), bullmq].map((system: System) => ({
      name: system.name,
      role: system.role,
      settings: system.settings,
      async sample() {
        const rate = await drain(ctx, system, ctx.scale(20_000, 1_000));
        peaks.set(system.name, Math.max(peaks.get(system.name) ?? 0, rate));
        const sustained = await sustainedRate(ctx, system, { start: 100, max: ctx.scale(20_000, 300), seconds: ctx.scale(3, 0.5), p99Ms: 100 });
        return { drain: rate, sustained: sustained.rate };
      },
    })),
};
